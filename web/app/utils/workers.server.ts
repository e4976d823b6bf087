/**
 * What the web app knows of the workers: whether those polling its task queue run the offline
 * model, from the identities they give Temporal (see OFFLINE_WORKER_MARK). The web app holds no
 * model settings of its own.
 */
// Types only: the package is CommonJS without named ESM exports, so its enum is spelled as a number.
import type { temporal as proto } from '@temporalio/proto';
import { OFFLINE_WORKER_MARK } from '../../../contract/data';
import { getConfig } from './env.server';
import { log } from './log.server';
import { bounded, getClient } from './temporal-client.server';

/** Pollers change seldom; the home page asks on every load. */
const CACHE_MS = 15_000;
const TASK_QUEUE_TYPE_ACTIVITY = 2 as proto.api.enums.v1.TaskQueueType;

let cached: { at: number; answer: Promise<boolean> } | null = null;

/** True when a worker that polled the task queue lately runs the offline model; false when unknown. */
export function workersUseOfflineModel(now = Date.now()): Promise<boolean> {
  if (cached && now - cached.at < CACHE_MS) return cached.answer;
  const answer = ask();
  cached = { at: now, answer };
  return answer;
}

async function ask(): Promise<boolean> {
  const { temporal } = getConfig();
  try {
    const client = await getClient();
    const { pollers } = await bounded(client, temporal.rpcTimeoutMs, () =>
      client.workflowService.describeTaskQueue({
        namespace: temporal.namespace,
        taskQueue: { name: temporal.taskQueue },
        taskQueueType: TASK_QUEUE_TYPE_ACTIVITY,
      }),
    );
    return pollers.some((poller) => poller.identity?.endsWith(OFFLINE_WORKER_MARK));
  } catch (err) {
    log.debug({ err }, 'could not list the workers');
    return false;
  }
}
