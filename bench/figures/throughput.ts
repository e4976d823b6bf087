/**
 * Figure 4: throughput. A batch of tasks started at once, timed from the first start to the last
 * result: tasks per minute. The same batch with one SSE viewer per run (viewers in their own
 * process), and the cost of recording the story: taskWorkflow with zero model delay against the
 * bare workflow (same activities and model calls, no story, no signals) on its own worker.
 */
import { setMaxListeners } from 'node:events';
import { cpuShare, type CpuReading, type CpuShare } from '../machine-load';
import { sleep, type BenchStack } from '../stack';
import type { ViewerProcess } from '../viewer-process';
import { diffCounts } from '../../devstack/stats';

export interface BatchResult {
  tasks: number;
  seconds: number;
  tasksPerMinute: number;
  failed: number;
  /** Not all tasks finished before the deadline: tasks/min counts those that did. */
  truncated: boolean;
  viewersOpened?: number;
  viewersEnded?: number;
  /** Cores used during the batch, by part of the benchmark (and by other processes). */
  cpuCores: CpuShare | null;
  webRpcs: Record<string, number>;
}

/** What a batch needs of a stack: the dev-server one (stack.ts) or the cluster's (cluster-stack.ts). */
export type BatchStack = Pick<BenchStack, 'web' | 'base' | 'client' | 'startRun' | 'terminate'>;

export async function runBatch(
  stack: BatchStack,
  options: {
    taskQueue: string;
    workflow?: string;
    tasks: number;
    viewers?: ViewerProcess;
    cpu: () => CpuReading | null;
    /** Give up at this time (ms since the epoch): the runs left are terminated and the batch is marked truncated. */
    deadline: number;
  },
): Promise<BatchResult> {
  const cpuBefore = options.cpu();
  const webBefore = await stack.web.snapshot();
  const started = Date.now();
  const ids = await Promise.all(Array.from({ length: options.tasks }, () => stack.startRun(options.taskQueue, options.workflow)));
  // The viewers connect while the runs go, as pages opened right after a submit do.
  const opening = options.viewers?.open(stack.base, ids);
  let failed = 0;
  let completed = 0;
  let timer: NodeJS.Timeout | undefined;
  // Aborted at the deadline: a wait left pending would retry on a connection closed later, and throw.
  const giveUp = new AbortController();
  // A listener per run's wait (and the client's own): not a leak.
  setMaxListeners(0, giveUp.signal);
  const all = Promise.all(
    ids.map((id) =>
      stack.client
        .withAbortSignal(giveUp.signal, () => stack.client.workflow.getHandle(id).result())
        .then(
          () => void completed++,
          () => void failed++,
        ),
    ),
  ).then(() => false);
  const truncated = await Promise.race([
    all,
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), options.deadline - Date.now()))),
  ]);
  clearTimeout(timer);
  const seconds = (Date.now() - started) / 1000;
  if (truncated) {
    await stack.terminate(ids);
    giveUp.abort();
  }
  const cpuCores = cpuShare(cpuBefore, options.cpu());
  const webRpcs = diffCounts((await stack.web.snapshot()).rpcs, webBefore.rpcs);
  const result: BatchResult = {
    tasks: options.tasks,
    seconds,
    tasksPerMinute: (completed / seconds) * 60,
    failed,
    truncated,
    cpuCores,
    webRpcs,
  };
  if (options.viewers && opening) {
    result.viewersOpened = (await opening).opened;
    result.viewersEnded = await options.viewers.waitEnded(truncated ? 0 : 10_000);
    await options.viewers.closeAll();
  }
  await sleep(1_000);
  return result;
}

/**
 * How many concurrent tasks the four batches can use and still end by `budgetEnd`: the target is
 * 100, but a busy 2-core machine may run far fewer per minute. A 20-task batch measures the rate;
 * the seven batches (see index.ts) cost about eight times a plain batch (the one with viewers is
 * slower), nine with a margin. Never
 * below 20; the output says when it is below the target.
 */
export async function throughputSize(
  stack: BenchStack,
  options: { target: number; budgetEnd: number; cpu: () => CpuReading | null; log: (line: string) => void },
): Promise<{ tasks: number; calibration: BatchResult | null }> {
  const smallest = 20;
  if (options.target <= smallest) return { tasks: options.target, calibration: null };
  options.log(`  calibrating: ${smallest} tasks, no viewers`);
  const calibration = await runBatch(stack, {
    taskQueue: stack.webQueue,
    tasks: smallest,
    cpu: options.cpu,
    deadline: Date.now() + 60_000,
  });
  const perSecond = calibration.tasksPerMinute / 60;
  const fit = Math.floor((((options.budgetEnd - Date.now()) / 1000) * perSecond) / 9);
  const tasks = Math.max(smallest, Math.min(options.target, fit));
  if (tasks < options.target) {
    options.log(
      `  the machine ran ${calibration.tasksPerMinute.toFixed(0)} tasks/min: ${tasks} tasks per batch fit the time left (target ${options.target})`,
    );
  }
  return { tasks, calibration };
}

/** Several batches of one kind as one: tasks per minute over all their time. */
export function combineBatches(batches: readonly BatchResult[]): BatchResult & { runs: number } {
  const seconds = batches.reduce((sum, b) => sum + b.seconds, 0);
  const completed = batches.reduce((sum, b) => sum + (b.tasksPerMinute * b.seconds) / 60, 0);
  // CPU shares weighted by each batch's time; RPC counts summed.
  const cpuCores: CpuShare = {};
  for (const b of batches)
    for (const [part, cores] of Object.entries(b.cpuCores ?? {})) cpuCores[part] = (cpuCores[part] ?? 0) + (cores * b.seconds) / seconds;
  const webRpcs: Record<string, number> = {};
  for (const b of batches) for (const [method, count] of Object.entries(b.webRpcs)) webRpcs[method] = (webRpcs[method] ?? 0) + count;
  return {
    ...batches[0],
    cpuCores,
    webRpcs,
    runs: batches.length,
    tasks: batches.reduce((sum, b) => sum + b.tasks, 0),
    seconds,
    tasksPerMinute: (completed / seconds) * 60,
    failed: batches.reduce((sum, b) => sum + b.failed, 0),
    truncated: batches.some((b) => b.truncated),
  };
}
