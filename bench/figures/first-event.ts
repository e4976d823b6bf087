/**
 * Figure 1: submit → first story event. The form is submitted as a browser does (POST, 302), then
 * the event stream is opened at once; the clock stops at the first `story` frame. Baseline: the
 * same submit, then a client polling the `progress` query directly (every 20 ms, as fast as is
 * sensible) until a result with an event comes back. Each run is terminated once measured, so
 * samples do not load each other.
 */
import { progressQuery } from '../../contract/messages';
import { workflowTaskTimes } from '../history';
import { openViewer } from '../sse';
import { formToken, submitForm } from '../../devstack/form';
import { sleep, type BenchStack } from '../stack';

const POLL_GAP_MS = 20;
const GIVE_UP_MS = 15_000;

export interface FirstEventResult {
  sseMs: number[];
  pollMs: number[];
  /** Baseline queries that failed or returned no event before the first that did. */
  pollAttempts: number[];
  /** Of the baseline samples: how long the query that returned the first event took. */
  pollQueryMs: number[];
  /** Of the SSE samples: submit → the form's redirect, and submit → the stream's headers. */
  postMs: number[];
  headersMs: number[];
  /** Of the SSE samples: submit → the run's first workflow task completed (its story is readable from then). */
  firstTaskMs: number[];
  failures: string[];
}

export async function measureFirstEvent(stack: BenchStack, samples: number, progress: (line: string) => void): Promise<FirstEventResult> {
  const result: FirstEventResult = {
    sseMs: [],
    pollMs: [],
    pollAttempts: [],
    pollQueryMs: [],
    postMs: [],
    headersMs: [],
    firstTaskMs: [],
    failures: [],
  };
  for (let i = 0; i < samples; i++) {
    // Event stream.
    {
      const token = await formToken(stack.base);
      const submitted = Date.now();
      const workflowId = await submitForm(stack.base, token);
      result.postMs.push(Date.now() - submitted);
      const viewer = await openViewer(stack.base, workflowId);
      result.headersMs.push(viewer.openedAt - submitted);
      try {
        const first = await Promise.race([viewer.firstStory, sleep(GIVE_UP_MS).then(() => null)]);
        if (first === null) result.failures.push(`sse ${workflowId}: no story event within ${GIVE_UP_MS} ms`);
        else {
          const { firstCompletedMs } = await workflowTaskTimes(stack.client, workflowId);
          result.sseMs.push(first - submitted);
          result.firstTaskMs.push(firstCompletedMs - submitted);
        }
      } catch (err) {
        result.failures.push(`sse ${workflowId}: ${(err as Error).message}`);
      } finally {
        viewer.close();
        await viewer.done;
        await stack.terminate([workflowId]);
      }
    }
    await sleep(150);
    // Direct polling.
    {
      const token = await formToken(stack.base);
      const submitted = Date.now();
      const workflowId = await submitForm(stack.base, token);
      const handle = stack.client.workflow.getHandle(workflowId);
      let attempts = 0;
      let got: number | null = null;
      let asked = 0;
      while (got === null && Date.now() - submitted < GIVE_UP_MS) {
        attempts++;
        asked = Date.now();
        try {
          const snapshot = await stack.client.withDeadline(Date.now() + 3_000, () => handle.query(progressQuery, { after: 0, limit: 1 }));
          if (snapshot.events.length > 0) got = Date.now();
        } catch {
          // not ready yet
        }
        if (got === null) await sleep(POLL_GAP_MS);
      }
      if (got === null) result.failures.push(`poll ${workflowId}: no event within ${GIVE_UP_MS} ms`);
      else {
        result.pollMs.push(got - submitted);
        result.pollAttempts.push(attempts);
        result.pollQueryMs.push(got - asked);
      }
      await stack.terminate([workflowId]);
    }
    await sleep(150);
    if ((i + 1) % 5 === 0) progress(`  ${i + 1}/${samples} samples`);
  }
  return result;
}
