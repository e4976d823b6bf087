/**
 * Figure 2: story-event lag, from the event's `at` (the workflow's clock when it recorded it) to
 * its arrival at an SSE client, beside a naive client polling the query once a second on the same
 * runs; only events both saw live are compared. The same phase gives figure 3's queries per story
 * event (web /metrics before and after, against the events of these runs).
 */
import { workflowTaskTimes } from '../history';
import { NaivePoller } from '../poller';
import { openViewer, type Arrival, type Viewer } from '../sse';
import { formToken, submitForm } from '../../devstack/form';
import { sleep, type BenchStack } from '../stack';
import { diffCounts, total } from '../../devstack/stats';

export interface StoryLagResult {
  runs: number;
  events: number;
  sse: { output: number[]; other: number[] };
  naive: { output: number[]; other: number[] };
  webRpcs: Record<string, number>;
  naiveRpcs: Record<string, number>;
  queriesPerEvent: number;
  naiveQueriesPerEvent: number;
  rpcsPerEvent: number;
  incomplete: number;
  /** Lag split at the completion of the workflow task that recorded the event (see history.ts). */
  breakdown: {
    worker: number[];
    sseDelivery: number[];
    naiveDelivery: number[];
    unmatched: number;
    triggerToStart: number[];
    sseFromTrigger: number[];
  };
  /** Latency of the naive pollers' queries on these busy runs. */
  busyQueryMs: number[];
}

export async function measureStoryLag(stack: BenchStack, runs: number, staggerMs: number): Promise<StoryLagResult> {
  const before = await stack.web.snapshot();
  const naiveBefore = { ...stack.naive.rpcs };
  const viewers: Viewer[] = [];
  const pollers: NaivePoller[] = [];
  for (let i = 0; i < runs; i++) {
    const token = await formToken(stack.base);
    const workflowId = await submitForm(stack.base, token);
    // Both start watching as soon as the run exists, as a page that loads after the submit would.
    pollers.push(new NaivePoller(stack.naive.client, workflowId, 1_000).start());
    viewers.push(await openViewer(stack.base, workflowId));
    await sleep(staggerMs);
  }
  const timeout = sleep(90_000);
  await Promise.race([Promise.all([...viewers.map((v) => v.done), ...pollers.map((p) => p.done)]), timeout]);
  const incomplete = viewers.filter((v) => !v.ended).length;
  viewers.forEach((v) => v.close());
  pollers.forEach((p) => p.stop());
  // Let the watchers see the streams go and stop.
  await sleep(500);
  const after = await stack.web.snapshot();
  const webRpcs = diffCounts(after.rpcs, before.rpcs);
  const naiveRpcs = diffCounts(stack.naive.rpcs, naiveBefore);

  const sse = { output: [] as number[], other: [] as number[] };
  const naive = { output: [] as number[], other: [] as number[] };
  const breakdown: StoryLagResult['breakdown'] = {
    worker: [],
    sseDelivery: [],
    naiveDelivery: [],
    unmatched: 0,
    triggerToStart: [],
    sseFromTrigger: [],
  };
  let events = 0;
  for (let i = 0; i < runs; i++) {
    const viewer = viewers[i];
    const poller = pollers[i];
    events += viewer.arrivals.length;
    const tasks = await workflowTaskTimes(stack.client, viewer.workflowId);
    const polled = new Map<number, Arrival>(poller.arrivals.map((a) => [a.seq, a]));
    const liveFrom = Math.max(viewer.openedAt, poller.openedAt);
    for (const a of viewer.arrivals) {
      const p = polled.get(a.seq);
      if (!p || a.atMs < liveFrom) continue;
      const kind = a.type === 'step.output' ? 'output' : 'other';
      sse[kind].push(a.recvMs - a.atMs);
      naive[kind].push(p.recvMs - p.atMs);
      const completed = tasks.completionOf(a.atMs);
      if (completed === null) breakdown.unmatched++;
      else {
        breakdown.worker.push(completed - a.atMs);
        breakdown.sseDelivery.push(a.recvMs - completed);
        breakdown.naiveDelivery.push(p.recvMs - completed);
      }
      const trigger = tasks.triggerOf(a.atMs);
      if (trigger !== null) {
        breakdown.triggerToStart.push(a.atMs - trigger);
        breakdown.sseFromTrigger.push(a.recvMs - trigger);
      }
    }
  }
  return {
    runs,
    events,
    sse,
    naive,
    webRpcs,
    naiveRpcs,
    queriesPerEvent: (webRpcs.QueryWorkflow ?? 0) / events,
    naiveQueriesPerEvent: (naiveRpcs.QueryWorkflow ?? 0) / events,
    rpcsPerEvent: total(webRpcs) / events,
    incomplete,
    breakdown,
    busyQueryMs: pollers.flatMap((p) => p.queryMs),
  };
}
