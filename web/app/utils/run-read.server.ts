/**
 * Reading one run for its page: the story its workflow published into its history (no worker
 * needed, no query a busy run could hold), or from the workflow's query for a run started on a
 * build that does not publish; from its result once it completed or failed; and what can still be
 * said when no worker answers.
 */
import { ApplicationFailure, TerminatedFailure, WorkflowFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import { status as Status } from '@grpc/grpc-js';
import { progressQuery } from '../../../contract/messages';
import {
  LIMITS,
  RUN_FAILED_ERROR_TYPE,
  STORY_MEMO_FIELD,
  type ProgressSnapshot,
  type StoryEvent,
  type TaskWorkflow,
} from '../../../contract/data';
import { emptyStory, foldStoryEvent } from '../../../contract/story-reducer';
import { getConfig } from './env.server';
import { log } from './log.server';
import { describeOwnedRun, type Owner } from './run-owner.server';
import type { Payload } from '@temporalio/common';
import type { HistoryEvent } from './reset-point';
import { RUN_ID_PATTERN } from './run-id';
import type { TemporalStatus } from './run-status';
import { bounded, decodePayload, getClient, grpcCode, isTimeout, isUnreachable, message } from './temporal-client.server';

/** A query runs on a worker: with none polling it waits, so we give it only a short time. */
const QUERY_TIMEOUT_MS = 2_500;
/** Query pages per read: the story holds at most 5,000 events, 500 to a page. */
const MAX_QUERY_PAGES = 12;

export type RunView =
  | { kind: 'not-found' }
  | { kind: 'unreachable'; address: string }
  | {
      kind: 'ok';
      workflowId: string;
      runId: string;
      temporalStatus: TemporalStatus;
      snapshot: ProgressSnapshot | null;
      /** The run is open but no worker has taken its work (or answered the progress query) in time. */
      waitingForWorker: boolean;
      task: string | null;
      error?: string;
      /** The run's history in the Temporal UI. */
      uiUrl: string;
    };

type RunDetails = Pick<Extract<RunView, { kind: 'ok' }>, 'snapshot' | 'waitingForWorker' | 'task' | 'error'>;

/**
 * A run's snapshot as its page renders it (and the API answers it): output chunks live on in each
 * step's output, so their events are not sent twice.
 */
export function withoutOutputChunks(snapshot: ProgressSnapshot): ProgressSnapshot {
  return { ...snapshot, events: snapshot.events.filter((event) => event.type !== 'step.output') };
}

/**
 * Everything the run page shows about one run. Unknown or malformed ids are `not-found`; a down
 * server is `unreachable`; a run whose worker is away still shows its task and status. So is a
 * run `owner` did not start.
 */
export async function loadRun(workflowId: string, owner: Owner): Promise<RunView> {
  if (!RUN_ID_PATTERN.test(workflowId)) return { kind: 'not-found' };
  let client: Client;
  let run: Awaited<ReturnType<typeof describeOwnedRun>>;
  try {
    client = await getClient();
    run = await describeOwnedRun(client, workflowId, owner);
  } catch (err) {
    if (isUnreachable(err)) return unreachableView();
    throw err;
  }
  return run ? viewRun(client, workflowId, run.runId, run.status, run.waitsForWorker) : { kind: 'not-found' };
}

/**
 * A run whose id and status the caller knows already (the watcher read its close event): the
 * view without a describe. No owner check: callers checked it before.
 */
export async function loadKnownRun(workflowId: string, runId: string, status: TemporalStatus): Promise<RunView> {
  let client: Client;
  try {
    client = await getClient();
  } catch {
    return unreachableView();
  }
  return viewRun(client, workflowId, runId, status);
}

/** The view of any run while the Temporal server does not answer. */
function unreachableView(): RunView {
  return { kind: 'unreachable', address: getConfig().temporal.address };
}

async function viewRun(
  client: Client,
  workflowId: string,
  runId: string,
  status: TemporalStatus,
  waitsForWorker = false,
): Promise<RunView> {
  const { temporal } = getConfig();
  const run: Run = { client, workflowId, runId, handle: client.workflow.getHandle<TaskWorkflow>(workflowId, runId) };
  let details: RunDetails;
  try {
    details = await readRun(run, status, waitsForWorker);
  } catch (err) {
    if (isUnreachable(err)) return unreachableView();
    throw err;
  }
  const uiUrl = `${temporal.uiUrl}/namespaces/${encodeURIComponent(temporal.namespace)}/workflows/${encodeURIComponent(workflowId)}/${encodeURIComponent(runId)}/history`;
  return { kind: 'ok', workflowId, runId, temporalStatus: status, uiUrl, ...details };
}

/** One run execution, as read by the helpers below. */
interface Run {
  client: Client;
  workflowId: string;
  runId: string;
  handle: WorkflowHandle<TaskWorkflow>;
}

async function readRun(run: Run, status: TemporalStatus, waitsForWorker: boolean): Promise<RunDetails> {
  switch (status) {
    case 'RUNNING':
      return readStory(run, { noWorker: 'wait' }, waitsForWorker);
    case 'COMPLETED':
      return readResult(run);
    case 'FAILED':
      return readResult(run);
    case 'CANCELLED':
      return readStory(run, { noWorker: 'fall-back', fallbackError: 'The run was cancelled.' });
    case 'TERMINATED':
      return readStory(run, { noWorker: 'fall-back', fallbackError: await terminationReason(run) });
    case 'TIMED_OUT':
      return readStory(run, { noWorker: 'fall-back', fallbackError: 'The run timed out.' });
    default:
      return { snapshot: null, waitingForWorker: false, task: await startTask(run), error: `Unexpected run status ${status}.` };
  }
}

type NoWorker = { noWorker: 'wait' } | { noWorker: 'fall-back'; fallbackError: string };

/** The published story when the run has one (see readPublishedSnapshot), else the query's. */
async function readStory(run: Run, options: NoWorker, waitsForWorker = false): Promise<RunDetails> {
  const snapshot = await readPublishedSnapshot(run);
  if (!snapshot) return readByQuery(run, options);
  return {
    snapshot,
    waitingForWorker: options.noWorker === 'wait' && waitsForWorker,
    task: snapshot.task,
    ...storyError(snapshot, options),
  };
}

/** A story that never closed (terminated, timed out) needs the reason; a cancelled one tells it. */
function storyError(snapshot: ProgressSnapshot, options: NoWorker): { error?: string } {
  const error =
    options.noWorker === 'fall-back' ? (snapshot.error ?? (snapshot.status === 'running' ? options.fallbackError : undefined)) : undefined;
  return error ? { error } : {};
}

/** The batch of story events a history event carries: its memo upsert's STORY_MEMO_FIELD, still encoded. */
export function publishedStoryPayload(event: HistoryEvent): Payload | null {
  return event.workflowPropertiesModifiedEventAttributes?.upsertedMemo?.fields?.[STORY_MEMO_FIELD] ?? null;
}

/**
 * The story the run published into its history (STORY_MEMO_FIELD of its memo upserts), folded
 * with the one story reducer as the workflow folds it: the same snapshot its `progress` query
 * would answer. Null for a run that published nothing (started on a build before story-memo-v1),
 * which is read by query.
 */
export async function readPublishedSnapshot({
  client,
  workflowId,
  runId,
}: Pick<Run, 'client' | 'workflowId' | 'runId'>): Promise<ProgressSnapshot | null> {
  const { temporal } = getConfig();
  const events: StoryEvent[] = [];
  await bounded(client, temporal.rpcTimeoutMs, async () => {
    let nextPageToken: Uint8Array | undefined;
    do {
      const page = await client.workflowService.getWorkflowExecutionHistory({
        namespace: temporal.namespace,
        execution: { workflowId, runId },
        nextPageToken,
        maximumPageSize: 1_000,
        skipArchival: true,
      });
      for (const event of page.history?.events ?? []) {
        const payload = publishedStoryPayload(event);
        if (!payload) continue;
        const batch = await decodePayload<StoryEvent[]>(client, payload);
        for (const e of Array.isArray(batch) ? batch : []) if (e?.seq === events.length + 1) events.push(e);
      }
      nextPageToken = page.nextPageToken?.length ? page.nextPageToken : undefined;
    } while (nextPageToken);
  });
  if (events.length === 0) return null;
  return { ...events.reduce(foldStoryEvent, emptyStory()), events, hasMore: false };
}

/**
 * Read the story from the progress query. Open runs wait for a worker; closed ones fall back to
 * the start input and the status, since a closed run is replayed for every query.
 */
async function readByQuery(run: Run, options: NoWorker): Promise<RunDetails> {
  try {
    const snapshot = await querySnapshot(run);
    return { snapshot, waitingForWorker: false, task: snapshot.task, ...storyError(snapshot, options) };
  } catch (err) {
    // At the deadline the server sometimes answers CANCELLED rather than DEADLINE_EXCEEDED;
    // FAILED_PRECONDITION means the run's first workflow task has not completed yet.
    const code = grpcCode(err);
    const noWorker = isTimeout(err) || code === Status.CANCELLED || code === Status.FAILED_PRECONDITION;
    if (!noWorker && code === Status.UNAVAILABLE) throw err;
    if (!noWorker) log.warn({ err, workflowId: run.workflowId }, 'progress query failed');
    const task = await startTask(run);
    if (options.noWorker === 'fall-back') return { snapshot: null, waitingForWorker: false, task, error: options.fallbackError };
    if (noWorker) return { snapshot: null, waitingForWorker: true, task };
    return { snapshot: null, waitingForWorker: false, task, error: `The progress query failed: ${message(err)}` };
  }
}

/** All pages of the progress query; the first page decides quickly whether a worker answers. */
async function querySnapshot({ client, handle }: Run): Promise<ProgressSnapshot> {
  const { temporal } = getConfig();
  const first = await bounded(client, Math.min(QUERY_TIMEOUT_MS, temporal.rpcTimeoutMs), () =>
    handle.query(progressQuery, { after: 0, limit: LIMITS.eventsPageMax }),
  );
  if (!first.hasMore) return first;
  return bounded(client, temporal.rpcTimeoutMs, async () => {
    let snapshot = first;
    const events = [...first.events];
    for (let page = 1; snapshot.hasMore && page < MAX_QUERY_PAGES; page++) {
      const after = events.length > 0 ? events[events.length - 1].seq : 0;
      snapshot = await handle.query(progressQuery, { after, limit: LIMITS.eventsPageMax });
      events.push(...snapshot.events);
    }
    return { ...snapshot, events };
  });
}

/** A closed run's final snapshot, from its result or its failure; no worker needed. */
async function readResult(run: Run): Promise<RunDetails> {
  const { client, handle } = run;
  const { temporal } = getConfig();
  try {
    const snapshot = await bounded(client, temporal.rpcTimeoutMs, () => handle.result());
    return { snapshot, waitingForWorker: false, task: snapshot.task };
  } catch (err) {
    if (!(err instanceof WorkflowFailedError)) throw err;
    const failure = err.cause;
    if (failure instanceof ApplicationFailure && failure.type === RUN_FAILED_ERROR_TYPE && isSnapshot(failure.details?.[0])) {
      const snapshot = failure.details[0];
      return { snapshot, waitingForWorker: false, task: snapshot.task, error: snapshot.error ?? failure.message };
    }
    return { snapshot: null, waitingForWorker: false, task: await startTask(run), error: failure?.message ?? err.message };
  }
}

function isSnapshot(value: unknown): value is ProgressSnapshot {
  return typeof value === 'object' && value !== null && 'status' in value && 'events' in value && 'steps' in value;
}

async function terminationReason({ client, handle }: Run): Promise<string> {
  const { temporal } = getConfig();
  try {
    await bounded(client, temporal.rpcTimeoutMs, () => handle.result());
  } catch (err) {
    if (err instanceof WorkflowFailedError && err.cause instanceof TerminatedFailure && err.cause.message) {
      return `The run was terminated: ${err.cause.message}`;
    }
  }
  return 'The run was terminated.';
}

/** The task from the run's start input, or null when it cannot be read. */
async function startTask(run: Run): Promise<string | null> {
  try {
    return await readStartTask(run);
  } catch (err) {
    log.warn({ err, workflowId: run.workflowId }, 'could not read the start input');
    return null;
  }
}

/** The task from the run's start input: one history event, decoded with the client's converter. */
export async function readStartTask({ client, workflowId, runId }: Pick<Run, 'client' | 'workflowId' | 'runId'>): Promise<string | null> {
  const { temporal } = getConfig();
  const response = await bounded(client, temporal.rpcTimeoutMs, () =>
    client.workflowService.getWorkflowExecutionHistory({
      namespace: temporal.namespace,
      execution: { workflowId, runId },
      maximumPageSize: 1,
    }),
  );
  const payload = response.history?.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
  if (!payload) return null;
  const input = await decodePayload<{ task?: unknown }>(client, payload);
  return typeof input?.task === 'string' ? input.task : null;
}
