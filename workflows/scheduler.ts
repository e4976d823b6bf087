/**
 * schedulerWorkflow: fair share's one queue per task queue (id: schedulerWorkflowId). Runs ask for
 * a slot with the `acquire` signal (their requestSlot activity sends it with signalWithStart, so
 * the first one starts the scheduler), give it back with `release`, and get it with `grant`.
 *
 * The queue lives in Temporal: every web replica and worker shares it and it survives any of them
 * dying. Signals, not updates: a run's request is idempotent by workflow id in the state (update
 * ids are forgotten at continue-as-new), and a signal has no limit on how many are in flight.
 */
import {
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  allHandlersFinished,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { acquireSignal, grantSignal, positionQuery, releaseSignal, schedulerStatusQuery } from '../contract/messages';
import { FairQueue, type FairQueueState, type Granted } from './fair-queue';

const { closedRuns } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
});

export async function schedulerWorkflow(state?: FairQueueState): Promise<void> {
  const queue = new FairQueue(state);
  let changed = true;
  const regrants: Granted[] = [];

  setHandler(acquireSignal, (request) => {
    const again = queue.acquire(request);
    if (again) regrants.push(again);
    changed = true;
  });
  setHandler(releaseSignal, ({ workflowId }) => {
    queue.release(workflowId);
    changed = true;
  });
  setHandler(positionQuery, (workflowId) => queue.position(workflowId));
  setHandler(schedulerStatusQuery, () => queue.status());

  /** Give the slot; a run that has closed meanwhile cannot take it, so it goes back. */
  async function send({ workflowId, grant }: Granted): Promise<void> {
    try {
      await getExternalWorkflowHandle(workflowId).signal(grantSignal, grant);
    } catch {
      queue.release(workflowId);
      changed = true;
    }
  }

  for (;;) {
    if (queue.queuedCount === 0) {
      await condition(() => changed);
    } else if (!(await condition(() => changed, queue.checkIntervalMs))) {
      // Runs wait and nothing moved for a while: is a slot held by a run that ended without giving
      // it back (terminated, timed out)? Only while runs wait does such a slot cost anything.
      for (const workflowId of await closedRuns(queue.runningIds())) queue.release(workflowId);
    }
    changed = false;
    await Promise.all([...regrants.splice(0), ...queue.dispatch()].map(send));
    const info = workflowInfo();
    if (regrants.length === 0 && (info.continueAsNewSuggested || info.historyLength > queue.historyLimit)) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof schedulerWorkflow>(queue.state);
    }
  }
}
