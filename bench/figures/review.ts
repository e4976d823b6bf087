/**
 * Figure 6: people in the loop.
 *
 * - Approval → first step: runs started through the home form with review on (`review=on`), each
 *   followed by an SSE client from the redirect; once `review.waiting` reached the client, the
 *   approval goes through the run page's review action (POST /runs/<id>, intent review-approve,
 *   a fresh token) and the clock runs from that POST to the arrival of `step.started` for step 1
 *   at the client. Baseline: the same run and the same approval sent as the `review` update by a
 *   Temporal client, then the `story` query polled every 20 ms until `step.started` is in it.
 *   Samples alternate; each run is terminated once measured.
 * - What a waiting run costs: `runs` runs waiting for review at once (started through the form),
 *   against no run waiting, back to back in one bench run: history events written per run over a
 *   window (extrapolated to an hour), and the CPU and memory of the worker (the bench process,
 *   which runs the web app's worker and nothing else in this phase) and the Temporal server.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { randomUUID } from 'node:crypto';
import { REVIEW_STATES, STATE_SEARCH_ATTRIBUTE } from '../../contract/data';
import { reviewUpdate, storyQuery } from '../../contract/messages';
import { formToken, postReview, runIdFromRedirect, submitTask } from '../../devstack/form';
import { cpuShare, type CpuReading } from '../machine-load';
import { openViewer, type Viewer } from '../sse';
import { sleep, type BenchStack } from '../stack';

const POLL_GAP_MS = 20;
const GIVE_UP_MS = 15_000;

/** Start a run through the home form with review on; its workflow id. */
async function submitForReview(stack: BenchStack): Promise<string> {
  const res = await submitTask(stack.base, 'Create a hello world python function', await formToken(stack.base), { review: true });
  const workflowId = runIdFromRedirect(res);
  if (workflowId === null) throw new Error(`the form answered ${res.status}`);
  return workflowId;
}

/** Resolves with the arrival of the first frame that matches, or null at the deadline. */
async function arrival(
  viewer: Viewer,
  match: (type: string) => boolean,
  timeoutMs = GIVE_UP_MS,
): Promise<{ recvMs: number; seq: number } | null> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = viewer.arrivals.find((a) => match(a.type));
    if (found) return found;
    if (Date.now() > deadline || viewer.ended) return null;
    await sleep(5);
  }
}

export interface ApprovalResult {
  /** POST of the approval → step.started at the SSE client. */
  sseMs: number[];
  /** The update sent directly → step.started in a polled `story` query. */
  directMs: number[];
  /** Of the SSE samples: POST → the action's redirect (the update's round trip through the app). */
  postMs: number[];
  /** Of the SSE samples: step.started's `at` (the workflow task that applied the approval) → arrival. */
  deliveryMs: number[];
  failures: string[];
}

export async function measureApproval(stack: BenchStack, samples: number, progress: (line: string) => void): Promise<ApprovalResult> {
  const result: ApprovalResult = { sseMs: [], directMs: [], postMs: [], deliveryMs: [], failures: [] };
  const waiting = (type: string) => type === 'review.waiting';
  for (let i = 0; i < samples; i++) {
    // Through the web app, seen by an SSE client.
    {
      const workflowId = await submitForReview(stack);
      const viewer = await openViewer(stack.base, workflowId);
      try {
        const review = await arrival(viewer, waiting);
        if (!review) throw new Error('no review.waiting');
        // The plan's review is revision 1.
        const sent = Date.now();
        const posted = await postReview(stack.base, workflowId, { decision: 'approve', revision: 1, token: randomUUID() });
        if (posted.kind !== 'outcome') throw new Error(`the review action answered ${JSON.stringify(posted)}`);
        result.postMs.push(Date.now() - sent);
        const started = await arrival(viewer, (type) => type === 'step.started');
        if (!started) throw new Error('no step.started');
        result.sseMs.push(started.recvMs - sent);
        const event = viewer.arrivals.find((a) => a.type === 'step.started')!;
        result.deliveryMs.push(event.recvMs - event.atMs);
      } catch (err) {
        result.failures.push(`sse ${workflowId}: ${(err as Error).message}`);
      } finally {
        viewer.close();
        await viewer.done;
        await stack.terminate([workflowId]);
      }
    }
    await sleep(150);
    // Directly: the update from a Temporal client, the story query polled.
    {
      const workflowId = await submitForReview(stack);
      const handle = stack.client.workflow.getHandle(workflowId);
      try {
        const deadline = Date.now() + GIVE_UP_MS;
        while ((await handle.query(storyQuery, { after: 0 })).events.every((e) => e.type !== 'review.waiting')) {
          if (Date.now() > deadline) throw new Error('no review.waiting');
          await sleep(POLL_GAP_MS);
        }
        const requestId = randomUUID();
        const sent = Date.now();
        await handle.executeUpdate(reviewUpdate, {
          args: [{ requestId, revision: 1, by: null, decision: 'approve' }],
          updateId: requestId,
        });
        let got: number | null = null;
        while (got === null && Date.now() < deadline) {
          const page = await handle.query(storyQuery, { after: 0 });
          if (page.events.some((e) => e.type === 'step.started')) got = Date.now();
          else await sleep(POLL_GAP_MS);
        }
        if (got === null) throw new Error('no step.started');
        result.directMs.push(got - sent);
      } catch (err) {
        result.failures.push(`direct ${workflowId}: ${(err as Error).message}`);
      } finally {
        await stack.terminate([workflowId]);
      }
    }
    await sleep(150);
    if ((i + 1) % 5 === 0) progress(`  ${i + 1}/${samples} approvals`);
  }
  return result;
}

/** A full GC in this process (the bench's, which runs the worker), for a heap reading that means something. */
function collectGarbage(): void {
  setFlagsFromString('--expose_gc');
  (runInNewContext('gc') as () => void)();
}

interface WindowReading {
  /** The bench process (the worker): CPU cores used over the window, and memory after it (after a full GC). */
  workerCores: number;
  workerRssMB: number;
  workerHeapMB: number;
  /** Cores of the bench's processes over the window (temporal, web, ...), from /proc. */
  cores: Record<string, number> | null;
}

async function window(windowMs: number, cpu: () => CpuReading | null): Promise<WindowReading> {
  collectGarbage();
  const before = process.cpuUsage();
  const parts = cpu();
  const began = performance.now();
  await sleep(windowMs);
  const used = process.cpuUsage(before);
  const ms = performance.now() - began;
  const cores = cpuShare(parts, cpu());
  collectGarbage();
  const memory = process.memoryUsage();
  return {
    workerCores: (used.user + used.system) / 1000 / ms,
    workerRssMB: memory.rss / 2 ** 20,
    workerHeapMB: memory.heapUsed / 2 ** 20,
    cores,
  };
}

export interface WaitingResult {
  runs: number;
  /** Runs that were waiting for review when the window began (BuildstoryState, counted by Temporal's visibility). */
  waitingAtStart: number;
  windowMs: number;
  none: WindowReading;
  waiting: WindowReading;
  /** History events (and bytes) per run: written to reach the wait, and over the window. */
  eventsToWait: number;
  bytesToWait: number;
  eventsInWindow: number;
  eventsPerRunPerHour: number;
}

export async function measureWaiting(
  stack: BenchStack,
  options: { runs: number; windowMs: number; cpu: () => CpuReading | null; progress: (line: string) => void },
): Promise<WaitingResult> {
  const { runs, windowMs } = options;
  // No run waiting: the worker polls an empty queue.
  const none = await window(windowMs, options.cpu);
  const ids: string[] = [];
  try {
    for (let i = 0; i < runs; i += 10) {
      ids.push(...(await Promise.all(Array.from({ length: Math.min(10, runs - i) }, () => submitForReview(stack)))));
    }
    const query = `${STATE_SEARCH_ATTRIBUTE} = '${REVIEW_STATES.waiting}' AND ExecutionStatus = 'Running'`;
    const deadline = Date.now() + 60_000;
    let waitingAtStart = 0;
    while (Date.now() < deadline) {
      waitingAtStart = (await stack.client.workflow.count(query)).count;
      if (waitingAtStart >= runs) break;
      await sleep(500);
    }
    options.progress(`  ${waitingAtStart}/${runs} runs waiting for review; measuring ${windowMs / 1000} s`);
    const history = async () => {
      const described = await Promise.all(ids.map((id) => stack.client.workflow.getHandle(id).describe()));
      return {
        events: described.reduce((n, d) => n + d.historyLength, 0),
        bytes: described.reduce((n, d) => n + (d.historySize ?? 0), 0),
      };
    };
    const before = await history();
    const waiting = await window(windowMs, options.cpu);
    const after = await history();
    const eventsInWindow = after.events - before.events;
    return {
      runs,
      waitingAtStart,
      windowMs,
      none,
      waiting,
      eventsToWait: before.events / runs,
      bytesToWait: before.bytes / runs,
      eventsInWindow,
      eventsPerRunPerHour: (eventsInWindow / runs) * (3_600_000 / windowMs),
    };
  } finally {
    await stack.terminate(ids);
  }
}
