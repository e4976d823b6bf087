/**
 * Figure 5: many event streams on one web process (viewers in their own process). Heap: V8's used
 * heap after a forced full GC (through the web process's inspector), before any stream, with one
 * viewer per run, and with all of them; per connection = growth / connections (the runs' watchers
 * and their stories included). Then the live story-event lag over a window at that load, beside
 * the lag over a window with one viewer per run (the same runs, a tenth of the streams). With
 * BENCH_PROFILE=1 a CPU profile of the web app covers the window (bench/results/*-web.cpuprofile).
 */
import { cpuShare, type CpuReading, type CpuShare } from '../machine-load';
import { workflowTaskTimes } from '../history';
import { sleep, type BenchStack } from '../stack';
import type { ViewerProcess, ViewerUsage } from '../viewer-process';
import { summarize, type Summary } from '../../devstack/stats';

export interface ConnectionsResult {
  runs: number;
  viewersPerRun: number;
  connections: number;
  /** Streams asked for; fewer opened if the machine could not open them within the time allowed. */
  requested: number;
  openSeconds: number;
  failures: number;
  gcMethod: string;
  heapBytes: { idle: number | null; oneViewerPerRun: number | null; all: number | null; allNoForcedGc: number };
  heapPerConnectionBytes: number;
  marginalHeapPerConnectionBytes: number;
  windowS: number;
  lag: { all: Summary; output: Summary; other: Summary };
  /** The same lag with one viewer per run (before the other streams opened), over `windowS` / 2. */
  lagOnePerRun: { all: Summary; cpuCores: CpuShare | null };
  /** With BENCH_PROFILE=1: where the web app's CPU went in the window. */
  webProfile: { file: string; top: Array<{ where: string; share: number }> } | null;
  /** For a sample of runs: lag split at the completion of the workflow task (see history.ts). */
  breakdown: { runs: number; worker: Summary; delivery: Summary };
  webCpuCores: number;
  /** Cores used in the lag window, by part of the benchmark (and by other processes). */
  cpuCores: CpuShare | null;
  eventsSentPerSecond: number;
  viewerProcess: ViewerUsage;
  webConnectionsSeen: number;
}

export async function measureConnections(
  stack: BenchStack,
  viewers: ViewerProcess,
  options: {
    taskQueue: string;
    runs: number;
    viewersPerRun: number;
    windowMs: number;
    openWithinMs: number;
    progress: (line: string) => void;
    cpu: () => CpuReading | null;
    /** Where to write a CPU profile of the web app over the window; none when absent. */
    profileFile?: string;
  },
): Promise<ConnectionsResult> {
  const { runs: runCount, viewersPerRun, progress } = options;
  await sleep(2_000); // let the previous phase's streams and watchers go
  const heapIdle = await stack.web.heapAfterGc();
  const runs = await Promise.all(Array.from({ length: runCount }, () => stack.startRun(options.taskQueue)));
  try {
    const first = await viewers.open(stack.base, runs);
    await sleep(3_000);
    const heapOne = await stack.web.heapAfterGc();
    await sleep(1_000); // past the pause of the forced GC
    const oneFrom = Date.now();
    const oneCpu = options.cpu();
    await sleep(options.windowMs / 2);
    const lagOnePerRun = { cpuCores: cpuShare(oneCpu, options.cpu()), all: await viewers.lags({ from: oneFrom, to: Date.now() }) };
    progress(`  ${first.opened} streams open (one per run); opening ${runCount * (viewersPerRun - 1)} more...`);
    const rest = runs.flatMap((id) => Array.from({ length: viewersPerRun - 1 }, () => id));
    const opened = Date.now();
    // Bounded: if the machine cannot open them all in time, the figure is for those that opened.
    const more = await viewers.open(stack.base, rest, 100, opened + options.openWithinMs);
    const openSeconds = (Date.now() - opened) / 1000;
    progress(`  ${first.opened + more.opened} streams open (${first.failures + more.failures} failed) in ${openSeconds.toFixed(1)} s`);
    await sleep(3_000);
    const settled = await stack.web.snapshot(); // V8's own collections only
    const heapAll = await stack.web.heapAfterGc();
    await sleep(1_000); // past the pause of the forced GC
    await viewers.usage(); // reset the viewer process's CPU and loop-delay readings
    const before = await stack.web.snapshot();
    const cpuBefore = options.cpu();
    const from = Date.now();
    const profiling = options.profileFile ? stack.web.cpuProfile(options.windowMs, options.profileFile) : Promise.resolve(null);
    await sleep(options.windowMs);
    const to = Date.now();
    const profile = await profiling;
    const cpuCores = cpuShare(cpuBefore, options.cpu());
    const after = await stack.web.snapshot();
    const usage = await viewers.usage();
    const lags = await viewers.lags({ from, to });
    const sample = runs.slice(0, 10);
    const worker: number[] = [];
    const delivery: number[] = [];
    for (const { workflowId, arrivals } of await viewers.arrivals(sample)) {
      const tasks = await workflowTaskTimes(stack.client, workflowId);
      for (const a of arrivals) {
        const completed = tasks.completionOf(a.atMs);
        if (completed === null || a.atMs < from || a.atMs > to) continue;
        worker.push(completed - a.atMs);
        delivery.push(a.recvMs - completed);
      }
    }
    const seconds = (after.at - before.at) / 1000;
    const connections = first.opened + more.opened;
    const gcForced = heapIdle !== null && heapAll !== null;
    const base = heapIdle ?? before.heapUsedBytes;
    const top = heapAll ?? settled.heapUsedBytes;
    return {
      runs: runCount,
      viewersPerRun,
      connections,
      requested: runCount * viewersPerRun,
      openSeconds: openSeconds,
      failures: first.failures + more.failures,
      gcMethod: gcForced
        ? 'full GC forced in the web process through its inspector (HeapProfiler.collectGarbage, twice), then Runtime.getHeapUsage'
        : 'inspector not reachable: nodejs_heap_size_used_bytes from /metrics after 3 s of settling (V8 collects on its own)',
      heapBytes: { idle: heapIdle, oneViewerPerRun: heapOne, all: heapAll, allNoForcedGc: settled.heapUsedBytes },
      heapPerConnectionBytes: (top - base) / connections,
      marginalHeapPerConnectionBytes:
        heapOne !== null && heapAll !== null ? (heapAll - heapOne) / (connections - first.opened) : Number.NaN,
      windowS: seconds,
      lag: { all: summarize([...lags.output, ...lags.other]), output: summarize(lags.output), other: summarize(lags.other) },
      lagOnePerRun: { all: summarize([...lagOnePerRun.all.output, ...lagOnePerRun.all.other]), cpuCores: lagOnePerRun.cpuCores },
      webProfile: options.profileFile && profile ? { file: options.profileFile, top: profile } : null,
      breakdown: { runs: sample.length, worker: summarize(worker), delivery: summarize(delivery) },
      webCpuCores: (after.cpuSeconds - before.cpuSeconds) / seconds,
      cpuCores,
      eventsSentPerSecond: (after.eventsSent - before.eventsSent) / seconds,
      viewerProcess: usage,
      webConnectionsSeen: after.connections,
    };
  } finally {
    await viewers.closeAll();
    await stack.terminate(runs);
  }
}
