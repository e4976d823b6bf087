/**
 * Figure 3: what watching costs Temporal, counted at the client (the web app's per-method RPC
 * counter in /metrics; the naive baseline's own counting client).
 *
 * - idle: one run waiting on a long step (the offline model at minutes per chunk), one viewer,
 *   RPCs over ~30 s, extrapolated per minute; beside one naive poller on the same run.
 * - load: RPCs per second while 1, 10 and 100 viewers watch one run, and while 100 viewers watch
 *   100 runs (one each), over a fixed window in the middle of runs that stream steadily; then the
 *   same number of naive pollers (each its own 1 s loop) on the same runs, over a window as long.
 */
import { progressQuery } from '../../contract/messages';
import { cpuShare, type CpuReading, type CpuShare } from '../machine-load';
import { NaivePoller } from '../poller';
import { openViewer } from '../sse';
import { sleep, type BenchStack } from '../stack';
import type { ViewerProcess } from '../viewer-process';
import { diffCounts, total } from '../../devstack/stats';

export interface IdleResult {
  windowS: number;
  webRpcs: Record<string, number>;
  naiveRpcs: Record<string, number>;
  rpcsPerMinute: number;
  naiveRpcsPerMinute: number;
  /** Latency of the naive poller's queries on this idle run. */
  idleQueryMs: number[];
}

export async function measureIdle(stack: BenchStack, windowMs: number): Promise<IdleResult> {
  // Minutes per chunk: the first step starts at once and then writes nothing for the whole window.
  const worker = await stack.startStoryWorker('idle', 10 * 60_000);
  const workflowId = await stack.startRun(worker.taskQueue);
  try {
    const handle = stack.client.workflow.getHandle(workflowId);
    for (let i = 0; i < 100; i++) {
      const snapshot = await handle.query(progressQuery, {}).catch(() => null);
      if (snapshot?.events.some((e) => e.type === 'step.started')) break;
      await sleep(100);
    }
    const viewer = await openViewer(stack.base, workflowId);
    await viewer.firstStory;
    await sleep(2_000); // past the connect's describe and the first query
    const before = await stack.web.snapshot();
    const naiveBefore = { ...stack.naive.rpcs };
    const poller = new NaivePoller(stack.naive.client, workflowId).start();
    const started = Date.now();
    await sleep(windowMs);
    const after = await stack.web.snapshot();
    const naiveRpcs = diffCounts(stack.naive.rpcs, naiveBefore);
    const minutes = (Date.now() - started) / 60_000;
    poller.stop();
    viewer.close();
    await viewer.done;
    const webRpcs = diffCounts(after.rpcs, before.rpcs);
    return {
      windowS: windowMs / 1000,
      webRpcs,
      naiveRpcs,
      rpcsPerMinute: total(webRpcs) / minutes,
      naiveRpcsPerMinute: total(naiveRpcs) / minutes,
      idleQueryMs: poller.queryMs,
    };
  } finally {
    await stack.terminate([workflowId]);
    await worker.stop();
  }
}

export interface LoadScenario {
  name: string;
  runs: number;
  viewersPerRun: number;
}

export interface LoadResult {
  scenario: LoadScenario;
  windowS: number;
  webRpcs: Record<string, number>;
  rpcsPerSecond: number;
  webCpuCores: number;
  /** Cores used in the SSE window, by part of the benchmark (and by other processes). */
  cpuCores: CpuShare | null;
  naiveRpcs: Record<string, number>;
  naiveRpcsPerSecond: number;
  /** Story events written to all streams per second in the window: how busy the runs were. */
  eventsSentPerSecond: number;
}

export async function measureLoad(
  stack: BenchStack,
  viewers: ViewerProcess,
  taskQueue: string,
  scenario: LoadScenario,
  windowMs: number,
  cpu: () => CpuReading | null,
): Promise<LoadResult> {
  const runs = await Promise.all(Array.from({ length: scenario.runs }, () => stack.startRun(taskQueue)));
  let sse: { webRpcs: Record<string, number>; seconds: number; cpu: number; events: number; cores: CpuShare | null };
  let naive: { rpcs: Record<string, number>; seconds: number };
  try {
    // Event streams first...
    const ids = runs.flatMap((id) => Array.from({ length: scenario.viewersPerRun }, () => id));
    await viewers.open(stack.base, ids);
    await sleep(1_000); // past the connects
    const before = await stack.web.snapshot();
    const cpuBefore = cpu();
    await sleep(windowMs);
    const cores = cpuShare(cpuBefore, cpu());
    const after = await stack.web.snapshot();
    const seconds = (after.at - before.at) / 1000;
    sse = {
      cores,
      webRpcs: diffCounts(after.rpcs, before.rpcs),
      seconds,
      cpu: (after.cpuSeconds - before.cpuSeconds) / seconds,
      events: (after.eventsSent - before.eventsSent) / seconds,
    };
    await viewers.closeAll();

    // ...then as many naive pollers on the same runs, still streaming.
    const pollers: NaivePoller[] = [];
    try {
      for (const id of runs) {
        for (let v = 0; v < scenario.viewersPerRun; v++) pollers.push(new NaivePoller(stack.naive.client, id).start(Math.random() * 1_000));
      }
      await sleep(1_000);
      const naiveBefore = { ...stack.naive.rpcs };
      const started = Date.now();
      await sleep(windowMs);
      naive = { rpcs: diffCounts(stack.naive.rpcs, naiveBefore), seconds: (Date.now() - started) / 1000 };
    } finally {
      pollers.forEach((p) => p.stop());
      await Promise.all(pollers.map((p) => p.done));
    }
  } finally {
    await viewers.closeAll();
    await stack.terminate(runs);
  }
  await sleep(500);

  return {
    scenario,
    windowS: windowMs / 1000,
    webRpcs: sse.webRpcs,
    rpcsPerSecond: total(sse.webRpcs) / sse.seconds,
    webCpuCores: sse.cpu,
    cpuCores: sse.cores,
    naiveRpcs: naive.rpcs,
    naiveRpcsPerSecond: total(naive.rpcs) / naive.seconds,
    eventsSentPerSecond: sse.events,
  };
}
