/**
 * Figure 8: the same measurement on the dev server and on the production topology (two web
 * replicas behind nginx, Temporal as five processes on PostgreSQL), in the same bench run:
 *
 * - story-event lag: runs started on the web app's queue, a few seconds apart, each watched by
 *   several SSE viewers that open through the front door at once. nginx sends a run's streams to
 *   the replica its id hashes to (devstack/cluster/proxy.ts), so the runs spread over both
 *   replicas with one watcher each; the streams and watchers per replica are in the result. Lag as
 *   in figure 2: an event's `at` to its arrival, live events only.
 * - the watchers' calls to Temporal per workflow task: every replica's
 *   `buildstory_temporal_rpcs_total` and `buildstory_watcher_*_total` over that phase, summed,
 *   divided by the workflow tasks those runs completed (from their histories).
 * - tasks/min: a batch started at once, without viewers and with one viewer per run.
 */
import { temporal } from '@temporalio/proto';
import { diffCounts, round, summarize, total } from '../../devstack/stats';
import { cpuShare, type CpuReading, type CpuShare } from '../machine-load';
import { sleep } from '../stack';
import type { ViewerProcess } from '../viewer-process';
import type { WebProcess, WebSnapshot } from '../web-process';
import { runBatch, type BatchResult, type BatchStack } from './throughput';

const { EventType } = temporal.api.enums.v1;

export interface TopologyTarget extends BatchStack {
  webs: WebProcess[];
  webQueue: string;
}

export interface TopologySizes {
  runs: number;
  viewersPerRun: number;
  staggerMs: number;
  tasks: number;
  /** Each throughput batch gives up after this long. */
  batchDeadlineMs: number;
}

export interface TopologyResult {
  runs: number;
  viewersPerRun: number;
  /** Streams open on each replica once every viewer had connected (by its own /metrics). */
  streamsPerReplica: number[];
  /** Watchers on each replica at that moment. */
  watchersPerReplica: number[];
  events: number;
  lag: { all: ReturnType<typeof summarize>; other: ReturnType<typeof summarize>; output: ReturnType<typeof summarize> };
  incompleteStreams: number;
  workflowTasks: number;
  /** Workflow tasks of those runs that failed or timed out (a starved worker shows here). */
  workflowTaskFailures: number;
  /** Every replica's calls to Temporal over the lag phase, by method, summed. */
  rpcs: Record<string, number>;
  /** The same per replica (total). */
  rpcsPerReplica: number[];
  /** Every replica's watcher counters over the lag phase, summed. */
  watcher: Record<string, number>;
  rpcsPerWorkflowTask: number;
  /** Each watcher counter per workflow task. */
  watcherPerWorkflowTask: Record<string, number>;
  lagCpu: CpuShare | null;
  plain: BatchResult;
  watched: BatchResult;
}

export async function measureTopology(
  target: TopologyTarget,
  viewers: ViewerProcess,
  sizes: TopologySizes,
  cpu: () => CpuReading | null,
  log: (line: string) => void,
): Promise<TopologyResult> {
  const snapshots = () => Promise.all(target.webs.map((w) => w.snapshot()));
  const sum = (list: WebSnapshot[], pick: (s: WebSnapshot) => Record<string, number>) => {
    const out: Record<string, number> = {};
    for (const s of list) for (const [k, v] of Object.entries(pick(s))) out[k] = (out[k] ?? 0) + v;
    return out;
  };

  // Lag and calls per workflow task.
  const cpuBefore = cpu();
  const before = await snapshots();
  const ids: string[] = [];
  for (let i = 0; i < sizes.runs; i++) {
    const id = await target.startRun(target.webQueue);
    ids.push(id);
    await viewers.open(
      target.base,
      Array.from({ length: sizes.viewersPerRun }, () => id),
    );
    await sleep(sizes.staggerMs);
  }
  const open = await snapshots();
  const ended = await viewers.waitEnded(120_000);
  const lags = await viewers.lags();
  await viewers.closeAll();
  // Let the watchers see the streams go and stop.
  await sleep(500);
  const after = await snapshots();
  const lagCpu = cpuShare(cpuBefore, cpu());
  let workflowTasks = 0;
  let workflowTaskFailures = 0;
  const failures = new Set([EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED, EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT]);
  for (const id of ids) {
    const { events } = await target.client.workflow.getHandle(id).fetchHistory();
    workflowTasks += (events ?? []).filter((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED).length;
    workflowTaskFailures += (events ?? []).filter((e) => failures.has(e.eventType!)).length;
  }
  const rpcs = diffCounts(
    sum(after, (s) => s.rpcs),
    sum(before, (s) => s.rpcs),
  );
  const watcher = diffCounts(
    sum(after, (s) => s.watcher),
    sum(before, (s) => s.watcher),
  );
  const all = [...lags.other, ...lags.output];
  log(`  lag: ${all.length} live events over ${ids.length} runs × ${sizes.viewersPerRun} viewers; ${workflowTasks} workflow tasks`);

  // Throughput: without viewers, then one viewer per run.
  log(`  ${sizes.tasks} tasks, no viewers`);
  const plain = await runBatch(target, {
    taskQueue: target.webQueue,
    tasks: sizes.tasks,
    cpu,
    deadline: Date.now() + sizes.batchDeadlineMs,
  });
  log(`  ${sizes.tasks} tasks, 1 viewer each`);
  const watched = await runBatch(target, {
    taskQueue: target.webQueue,
    tasks: sizes.tasks,
    viewers,
    cpu,
    deadline: Date.now() + sizes.batchDeadlineMs,
  });

  const perTask = (n: number) => round(n / Math.max(1, workflowTasks), 2);
  return {
    runs: ids.length,
    viewersPerRun: sizes.viewersPerRun,
    streamsPerReplica: open.map((s) => s.connections),
    watchersPerReplica: open.map((s) => s.watchers),
    events: all.length,
    lag: { all: summarize(all), other: summarize(lags.other), output: summarize(lags.output) },
    incompleteStreams: ids.length * sizes.viewersPerRun - ended,
    workflowTasks,
    workflowTaskFailures,
    rpcs,
    rpcsPerReplica: after.map((s, i) => total(diffCounts(s.rpcs, before[i]!.rpcs))),
    watcher,
    rpcsPerWorkflowTask: perTask(total(rpcs)),
    watcherPerWorkflowTask: Object.fromEntries(Object.entries(watcher).map(([k, v]) => [k, perTask(v)])),
    lagCpu,
    plain,
    watched,
  };
}
