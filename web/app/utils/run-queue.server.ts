/** Fair share, as the run page sees it: a queued run's place in line, from the scheduler's query. */
import { WorkflowNotFoundError } from '@temporalio/client';
import { positionQuery, schedulerStatusQuery } from '../../../contract/messages';
import { schedulerWorkflowId, type QueuePosition } from '../../../contract/data';
import { getConfig } from './env.server';
import { log } from './log.server';
import { bounded, getClient } from './temporal-client.server';

/** A query runs on a worker: with none polling it waits, so it gets only a short time. */
const QUERY_TIMEOUT_MS = 2_500;

/**
 * How many runs are ahead of this one in the deployment's queue (its scheduler's `position`
 * query); null when that cannot be said now (no worker answered in time, Temporal is away, the
 * scheduler does not know the run yet). The page shows "Queued" without a number then.
 */
export async function queuePosition(workflowId: string): Promise<QueuePosition | null> {
  const { temporal } = getConfig();
  try {
    const client = await getClient();
    const scheduler = client.workflow.getHandle(schedulerWorkflowId(temporal.taskQueue));
    return await bounded(client, Math.min(QUERY_TIMEOUT_MS, temporal.rpcTimeoutMs), () => scheduler.query(positionQuery, workflowId));
  } catch (err) {
    log.debug({ workflowId, err: String(err) }, 'queue position not known now');
    return null;
  }
}

/**
 * How many of `owner`'s runs hold a slot and how many wait (the scheduler's `status` query), for
 * the home page; null when that cannot be said now. Zero and zero before the scheduler has started.
 */
export async function ownerLoad(owner: string): Promise<{ running: number; queued: number } | null> {
  const { temporal } = getConfig();
  try {
    const client = await getClient();
    const scheduler = client.workflow.getHandle(schedulerWorkflowId(temporal.taskQueue));
    const status = await bounded(client, Math.min(QUERY_TIMEOUT_MS, temporal.rpcTimeoutMs), () => scheduler.query(schedulerStatusQuery));
    return status.owners[owner] ?? { running: 0, queued: 0 };
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return { running: 0, queued: 0 };
    log.debug({ owner, err: String(err) }, 'fair share load not known now');
    return null;
  }
}
