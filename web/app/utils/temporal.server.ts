/**
 * Everything the web app asks Temporal: start, read and list runs; cancel, rerun or retry one.
 *
 * One lazily connected Client for the process. Every call carries a deadline, so a page answers
 * within seconds whether the server or the worker is down; a failed connect is forgotten and the
 * next request tries again. Kept free of Remix so the SSE route can reuse `loadRun`.
 */
import { randomUUID } from 'node:crypto';
import {
  ApplicationFailure,
  Client,
  Connection,
  ServiceError,
  TerminatedFailure,
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  WorkflowNotFoundError,
  defaultGrpcRetryOptions,
  defaultPayloadConverter,
  isGrpcServiceError,
  makeGrpcRetryInterceptor,
  type WorkflowExecutionStatusName,
  type WorkflowHandle,
} from '@temporalio/client';
import { InterceptingCall, status as Status, type Interceptor } from '@grpc/grpc-js';
import { SearchAttributeType, defineSearchAttributeKey, type Payload } from '@temporalio/common';
// Types only: the package is CommonJS without named ESM exports, so its enums are spelled as numbers below.
import type { temporal as proto } from '@temporalio/proto';
// Type only: the web app starts the workflow by name and never loads its code.
import type { taskWorkflow } from '../../../workflows';
import {
  LIMITS,
  RUN_FAILED_ERROR_TYPE,
  TaskTextSchema,
  WORKFLOW_NAME,
  progressQuery,
  type ProgressSnapshot,
} from '../../../workflows/shared';
import { encryptionDataConverter } from '../../../codec';
import { OWNER_SEARCH_ATTRIBUTE } from '../../../config';
import { getConfig } from './env.server';
import { streamStats } from './stream-stats.server';
import { tsToMs } from './timestamp';
import { log } from './log.server';
import { RUN_ID_PATTERN, uuidFrom, workflowIdFor } from './run-id';

/** A query runs on a worker: with none polling it waits, so we give it only a short time. */
const QUERY_TIMEOUT_MS = 2_500;
/** Query pages per read: the story holds at most 5,000 events, 500 to a page. */
const MAX_QUERY_PAGES = 12;
/** The start of the task kept in each run's memo, for lists. */
const MEMO_TASK_MAX_CHARS = 200;
/** Runs per page of the list. */
const LIST_PAGE_SIZE_DEFAULT = 20;
const LIST_PAGE_SIZE_MAX = 100;
/** Slack past the gRPC deadline before our own timer gives up, in case a call ignores it. */
const GUARD_SLACK_MS = 500;

export { RUN_ID_PATTERN } from './run-id';

export type TemporalStatus = WorkflowExecutionStatusName;

export type RunView =
  | { kind: 'not-found' }
  | { kind: 'unreachable'; address: string }
  | {
      kind: 'ok';
      workflowId: string;
      runId: string;
      temporalStatus: TemporalStatus;
      snapshot: ProgressSnapshot | null;
      /** The run is open but no worker answered the progress query in time. */
      waitingForWorker: boolean;
      task: string | null;
      error?: string;
      /** The run's history in the Temporal UI. */
      uiUrl: string;
    };

/** Temporal could not be reached (no server, wrong address, or no answer before the deadline). */
export class TemporalUnreachableError extends Error {
  override name = 'TemporalUnreachableError';
  constructor(
    readonly address: string,
    options?: { cause?: unknown },
  ) {
    super(`Temporal is not reachable at ${address}`, options);
  }
}

/** Our own timer fired: a call outlived its deadline. */
class TimeoutError extends Error {
  override name = 'TimeoutError';
}

let clientPromise: Promise<Client> | null = null;

const countTemporalRpcs: Interceptor = (options, nextCall) => {
  const method = options.method_definition.path.split('/').pop() ?? 'unknown';
  streamStats.temporalRpcs[method] = (streamStats.temporalRpcs[method] ?? 0) + 1;
  return new InterceptingCall(nextCall(options));
};

function connect(): Promise<Client> {
  const { temporal } = getConfig();
  const { address, tls, apiKey, metadata } = temporal.connectionOptions;
  return (async () => {
    const connection = Connection.lazy({
      address,
      tls,
      apiKey,
      metadata,
      connectTimeout: temporal.rpcTimeoutMs,
      // Count every call (what watching costs Temporal, for /metrics and the benchmark), then the SDK's retries.
      interceptors: [countTemporalRpcs, makeGrpcRetryInterceptor(defaultGrpcRetryOptions())],
    });
    try {
      await connection.ensureConnected();
    } catch (err) {
      // Close the channel, or it keeps retrying in the background.
      await connection.close().catch(() => undefined);
      throw new TemporalUnreachableError(temporal.address, { cause: err });
    }
    // With encryption keys set, everything this client writes is encrypted and everything it reads decrypted.
    const dataConverter = encryptionDataConverter(getConfig().encryption);
    return new Client({ connection, namespace: temporal.namespace, ...(dataConverter ? { dataConverter } : {}) });
  })();
}

/** The shared Client; connects on first use and again after a failed connect. */
export function getClient(): Promise<Client> {
  if (!clientPromise) {
    const attempt = connect();
    clientPromise = attempt;
    attempt.catch((err: unknown) => {
      if (clientPromise === attempt) clientPromise = null;
      log.warn({ err: (err as Error).cause ?? err }, (err as Error).message);
    });
  }
  return clientPromise;
}

/** Run `fn` with a gRPC deadline, and stop waiting shortly after it whatever happens. */
export async function bounded<T>(client: Client, ms: number, fn: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(`No answer from Temporal within ${ms} ms`)), ms + GUARD_SLACK_MS);
  });
  try {
    return await Promise.race([client.withDeadline(Date.now() + ms, fn), guard]);
  } finally {
    clearTimeout(timer);
  }
}

function grpcCode(err: unknown): number | undefined {
  if (isGrpcServiceError(err)) return err.code;
  if (err instanceof ServiceError && isGrpcServiceError(err.cause)) return err.cause.code;
  return undefined;
}

function isTimeout(err: unknown): boolean {
  return err instanceof TimeoutError || grpcCode(err) === Status.DEADLINE_EXCEEDED;
}

export function isUnreachable(err: unknown): boolean {
  if (err instanceof TemporalUnreachableError || isTimeout(err)) return true;
  const code = grpcCode(err);
  return code === Status.UNAVAILABLE || code === Status.CANCELLED;
}

function message(err: unknown): string {
  if (err instanceof ServiceError && isGrpcServiceError(err.cause)) return `${err.message}: ${err.cause.details}`;
  return err instanceof Error ? err.message : String(err);
}

/* ----------------------------------------------------------------------------------------- */
/* Owners                                                                                    */
/* ----------------------------------------------------------------------------------------- */

/** Who started a run, recorded when access control is on (see auth.server.ts). */
export const OWNER_KEY = defineSearchAttributeKey(OWNER_SEARCH_ATTRIBUTE, SearchAttributeType.KEYWORD);

/**
 * The `owner` argument below: the signed-in user, who sees and acts on their own runs only (any
 * other run is "not found", so ids do not leak); null when access control is off, meaning no
 * check and no owner recorded.
 */
export type Owner = string | null;

/** User names are checked at start (config/auth.ts); this keeps the visibility query safe regardless. */
const OWNER_PATTERN = /^[A-Za-z0-9._@-]{1,64}$/;

/** Whether `owner` may see a run with these search attributes (from describeWorkflowExecution). */
export function ownedBy(searchAttributes: proto.api.common.v1.ISearchAttributes | null | undefined, owner: Owner): boolean {
  if (owner === null) return true;
  const payload = searchAttributes?.indexedFields?.[OWNER_SEARCH_ATTRIBUTE];
  if (!payload) return false;
  try {
    // Search attributes skip the codecs (the server indexes them): the default converter reads them.
    return defaultPayloadConverter.fromPayload<unknown>(payload) === owner;
  } catch {
    return false;
  }
}

/** The namespace lacks the owner search attribute that access control needs. */
export class MissingOwnerAttributeError extends Error {
  override name = 'MissingOwnerAttributeError';
  constructor(namespace: string) {
    super(
      `Temporal's namespace ${namespace} has no search attribute ${OWNER_SEARCH_ATTRIBUTE}, which access control needs: ` +
        `temporal operator search-attribute create --name ${OWNER_SEARCH_ATTRIBUTE} --type Keyword --namespace ${namespace}`,
    );
  }
}

function isMissingOwnerAttribute(err: unknown): boolean {
  return grpcCode(err) === Status.INVALID_ARGUMENT && message(err).includes(OWNER_SEARCH_ATTRIBUTE);
}

/**
 * Start the run for this form submission, or find the one it already started.
 *
 * The workflow id comes from the form's token (and the owner: see run-id.ts), so a double submit
 * or a resubmit after the run ended never starts a second run. Throws TemporalUnreachableError
 * when Temporal is down.
 */
export async function startRun(token: string, task: string, owner: Owner): Promise<{ workflowId: string }> {
  if (owner !== null && !OWNER_PATTERN.test(owner)) throw new TypeError('Bad owner name.');
  const workflowId = workflowIdFor(token, owner);
  const input = { task: TaskTextSchema.parse(task) };
  const { temporal } = getConfig();
  const client = await getClient();
  try {
    await bounded(client, temporal.rpcTimeoutMs, () =>
      client.workflow.start<typeof taskWorkflow>(WORKFLOW_NAME, {
        taskQueue: temporal.taskQueue,
        workflowId,
        args: [input],
        // Lists show the task from visibility without reading each run's history.
        memo: { task: truncate(input.task, MEMO_TASK_MAX_CHARS) },
        ...(owner !== null ? { typedSearchAttributes: [{ key: OWNER_KEY, value: owner }] } : {}),
        workflowIdConflictPolicy: 'USE_EXISTING',
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
      }),
    );
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return { workflowId };
    if (isUnreachable(err)) throw new TemporalUnreachableError(temporal.address, { cause: err });
    if (owner !== null && isMissingOwnerAttribute(err)) throw new MissingOwnerAttributeError(temporal.namespace);
    throw err;
  }
  // USE_EXISTING answers a repeated submit with the running run: this line may repeat for one run.
  log.info({ workflowId }, 'run started (or already running)');
  return { workflowId };
}

type RunDetails = Pick<Extract<RunView, { kind: 'ok' }>, 'snapshot' | 'waitingForWorker' | 'task' | 'error'>;

/**
 * Everything the run page shows about one run. Unknown or malformed ids are `not-found`; a down
 * server is `unreachable`; a run whose worker is away still shows its task and status. So is a
 * run `owner` did not start.
 */
export async function loadRun(workflowId: string, owner: Owner): Promise<RunView> {
  if (!RUN_ID_PATTERN.test(workflowId)) return { kind: 'not-found' };
  const { temporal } = getConfig();

  let client: Client;
  try {
    client = await getClient();
  } catch {
    return unreachableView();
  }

  let runId: string;
  let status: TemporalStatus;
  try {
    const description = await bounded(client, temporal.rpcTimeoutMs, () => client.workflow.getHandle(workflowId).describe());
    if (owner !== null && description.typedSearchAttributes.get(OWNER_KEY) !== owner) return { kind: 'not-found' };
    runId = description.runId;
    status = description.status.name;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return { kind: 'not-found' };
    if (isUnreachable(err)) return unreachableView();
    throw err;
  }

  return viewRun(client, workflowId, runId, status);
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

async function viewRun(client: Client, workflowId: string, runId: string, status: TemporalStatus): Promise<RunView> {
  const { temporal } = getConfig();
  const run: Run = { client, workflowId, runId, handle: client.workflow.getHandle<typeof taskWorkflow>(workflowId, runId) };
  let details: RunDetails;
  try {
    details = await readRun(run, status);
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
  handle: WorkflowHandle<typeof taskWorkflow>;
}

async function readRun(run: Run, status: TemporalStatus): Promise<RunDetails> {
  switch (status) {
    case 'RUNNING':
      return readByQuery(run, { noWorker: 'wait' });
    case 'COMPLETED':
      return readResult(run);
    case 'FAILED':
      return readResult(run);
    case 'CANCELLED':
      return readByQuery(run, { noWorker: 'fall-back', fallbackError: 'The run was cancelled.' });
    case 'TERMINATED':
      return readByQuery(run, { noWorker: 'fall-back', fallbackError: await terminationReason(run) });
    case 'TIMED_OUT':
      return readByQuery(run, { noWorker: 'fall-back', fallbackError: 'The run timed out.' });
    default:
      return { snapshot: null, waitingForWorker: false, task: await startTask(run), error: `Unexpected run status ${status}.` };
  }
}

/**
 * Read the story from the progress query. Open runs wait for a worker; closed ones fall back to
 * the start input and the status, since a closed run is replayed for every query.
 */
async function readByQuery(
  run: Run,
  options: { noWorker: 'wait' } | { noWorker: 'fall-back'; fallbackError: string },
): Promise<RunDetails> {
  try {
    const snapshot = await querySnapshot(run);
    // A story that never closed (terminated, timed out) needs the reason; a cancelled one tells it.
    const error =
      options.noWorker === 'fall-back'
        ? (snapshot.error ?? (snapshot.status === 'running' ? options.fallbackError : undefined))
        : undefined;
    return { snapshot, waitingForWorker: false, task: snapshot.task, ...(error ? { error } : {}) };
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
async function readStartTask({ client, workflowId, runId }: Pick<Run, 'client' | 'workflowId' | 'runId'>): Promise<string | null> {
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

/** One payload through the client's codecs and converter, as the SDK decodes results. */
async function decodePayload<T>(client: Client, payload: Payload): Promise<T> {
  const { payloadCodecs, payloadConverter } = client.options.loadedDataConverter;
  let decoded = [payload];
  for (const codec of [...payloadCodecs].reverse()) decoded = await codec.decode(decoded);
  return payloadConverter.fromPayload<T>(decoded[0]);
}

/** At most `max` characters, never splitting a surrogate pair. */
function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  const cut = /[\uD800-\uDBFF]/.test(text[max - 1] ?? '') ? max - 1 : max;
  return text.slice(0, cut);
}

/* ----------------------------------------------------------------------------------------- */
/* The list of runs                                                                          */
/* ----------------------------------------------------------------------------------------- */

/** Visibility's ExecutionStatus values, as the list filter takes them. */
export const RUN_LIST_STATUSES = ['Running', 'Completed', 'Failed', 'Canceled', 'Terminated', 'TimedOut'] as const;
export type RunListStatus = (typeof RUN_LIST_STATUSES)[number];

export function isRunListStatus(value: unknown): value is RunListStatus {
  return typeof value === 'string' && (RUN_LIST_STATUSES as readonly string[]).includes(value);
}

export interface RunSummary {
  workflowId: string;
  runId: string;
  status: TemporalStatus;
  /** The start of the task (from the run's memo); null for runs started without one. */
  task: string | null;
  /** ISO times. */
  startTime: string;
  closeTime: string | null;
  /** Null while the run is open. */
  durationMs: number | null;
}

export type RunList = { runs: RunSummary[]; nextCursor: string | null } | { unreachable: true; address: string };

/** The list's cursor is stale or was not made by us. */
export class InvalidCursorError extends Error {
  override name = 'InvalidCursorError';
  constructor() {
    super('This page of the list is no longer available.');
  }
}

const CURSOR = /^[A-Za-z0-9_-]{1,4096}$/;

// proto.api.enums.v1.WorkflowExecutionStatus, by number.
const STATUS_NAMES: Record<number, TemporalStatus> = {
  1: 'RUNNING',
  2: 'COMPLETED',
  3: 'FAILED',
  4: 'CANCELLED',
  5: 'TERMINATED',
  6: 'CONTINUED_AS_NEW',
  7: 'TIMED_OUT',
  8: 'PAUSED',
};

/**
 * Recent runs from Temporal's visibility store, newest first (open runs lead). `cursor` is the
 * previous page's `nextCursor`. A run reset into a new run is listed once, as its latest run.
 * With an `owner`, only the runs they started. Throws InvalidCursorError for a cursor the server
 * does not accept.
 */
export async function listRuns(options: {
  owner: Owner;
  status?: RunListStatus;
  cursor?: string;
  pageSize?: number;
}): Promise<RunList> {
  const { temporal } = getConfig();
  const unreachable = { unreachable: true, address: temporal.address } as const;
  if (options.status !== undefined && !isRunListStatus(options.status)) throw new TypeError(`Unknown run status ${options.status}`);
  if (options.cursor !== undefined && !CURSOR.test(options.cursor)) throw new InvalidCursorError();
  const pageSize = Math.min(Math.max(Math.trunc(options.pageSize ?? LIST_PAGE_SIZE_DEFAULT), 1), LIST_PAGE_SIZE_MAX);
  if (options.owner !== null && !OWNER_PATTERN.test(options.owner)) throw new TypeError('Bad owner name.');
  let query = `WorkflowType = '${WORKFLOW_NAME}'`;
  if (options.status) query += ` AND ExecutionStatus = '${options.status}'`;
  if (options.owner !== null) query += ` AND ${OWNER_SEARCH_ATTRIBUTE} = '${options.owner}'`;

  let client: Client;
  try {
    client = await getClient();
  } catch {
    return unreachable;
  }
  try {
    const response = await bounded(client, temporal.rpcTimeoutMs, () =>
      client.workflowService.listWorkflowExecutions({
        namespace: temporal.namespace,
        pageSize,
        query,
        nextPageToken: options.cursor ? Buffer.from(options.cursor, 'base64url') : undefined,
      }),
    );
    const seen = new Set<string>();
    const runs: RunSummary[] = [];
    for (const info of response.executions) {
      const summary = await toSummary(client, info);
      // Ordered open first, then by close time: the first row of a workflow id is its latest run.
      if (!summary || seen.has(summary.workflowId)) continue;
      seen.add(summary.workflowId);
      runs.push(summary);
    }
    const token = response.nextPageToken;
    return { runs, nextCursor: token && token.length > 0 ? Buffer.from(token).toString('base64url') : null };
  } catch (err) {
    // A token the server cannot parse fails as UNKNOWN, which the client retries until the
    // deadline: with a cursor, any failure blames the cursor (the caller retries without it).
    if (options.owner !== null && isMissingOwnerAttribute(err)) throw new MissingOwnerAttributeError(temporal.namespace);
    if (options.cursor) throw new InvalidCursorError();
    if (isUnreachable(err)) return unreachable;
    throw err;
  }
}

async function toSummary(client: Client, info: proto.api.workflow.v1.IWorkflowExecutionInfo): Promise<RunSummary | null> {
  const workflowId = info.execution?.workflowId;
  const runId = info.execution?.runId;
  const startMs = tsToMs(info.startTime);
  if (!workflowId || !runId || startMs === null) return null;
  const closeMs = tsToMs(info.closeTime);
  let task: string | null = null;
  const memoTask = info.memo?.fields?.task;
  if (memoTask) {
    try {
      const value = await decodePayload<unknown>(client, memoTask);
      if (typeof value === 'string') task = value;
    } catch (err) {
      log.warn({ err, workflowId }, 'could not decode the memo');
    }
  }
  return {
    workflowId,
    runId,
    status: STATUS_NAMES[info.status ?? 0] ?? 'UNKNOWN',
    task,
    startTime: new Date(startMs).toISOString(),
    closeTime: closeMs === null ? null : new Date(closeMs).toISOString(),
    durationMs: closeMs === null ? null : Math.max(closeMs - startMs, 0),
  };
}

/* ----------------------------------------------------------------------------------------- */
/* Actions on a run                                                                          */
/* ----------------------------------------------------------------------------------------- */

/** No run with this workflow id. */
export class RunNotFoundError extends Error {
  override name = 'RunNotFoundError';
  constructor(readonly workflowId: string) {
    super(`There is no run ${workflowId}.`);
  }
}

/** The run is not in a state that allows the action (a 409). The message says why, for people. */
export class RunStateConflictError extends Error {
  override name = 'RunStateConflictError';
}

const STATUS_WORDS: Partial<Record<TemporalStatus, string>> = {
  RUNNING: 'is still running',
  COMPLETED: 'completed',
  FAILED: 'failed',
  CANCELLED: 'was cancelled',
  TERMINATED: 'was terminated',
  TIMED_OUT: 'timed out',
};

const RETRYABLE_STATUSES: readonly TemporalStatus[] = ['FAILED', 'CANCELLED', 'TERMINATED', 'TIMED_OUT'];

/** The latest run of a workflow id, with its status; the client errors mapped to ours. Someone else's run is not found. */
async function latestRun(workflowId: string, owner: Owner): Promise<{ client: Client; runId: string; status: TemporalStatus }> {
  if (!RUN_ID_PATTERN.test(workflowId)) throw new RunNotFoundError(workflowId);
  const { temporal } = getConfig();
  const client = await getClient();
  try {
    const description = await bounded(client, temporal.rpcTimeoutMs, () => client.workflow.getHandle(workflowId).describe());
    if (owner !== null && description.typedSearchAttributes.get(OWNER_KEY) !== owner) throw new RunNotFoundError(workflowId);
    return { client, runId: description.runId, status: description.status.name };
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new RunNotFoundError(workflowId);
    if (err instanceof RunNotFoundError) throw err;
    throw asUnreachable(err);
  }
}

function asUnreachable(err: unknown): unknown {
  return isUnreachable(err) && !(err instanceof TemporalUnreachableError)
    ? new TemporalUnreachableError(getConfig().temporal.address, { cause: err })
    : err;
}

/**
 * Ask the latest run to stop. It stops once its current step has noticed (within a heartbeat, or
 * when a worker picks it up) and tells the story as cancelled. A run that already ended is left as
 * it is: RunStateConflictError.
 */
export async function cancelRun(workflowId: string, owner: Owner): Promise<{ workflowId: string; runId: string }> {
  const { client, runId, status } = await latestRun(workflowId, owner);
  if (status !== 'RUNNING') {
    throw new RunStateConflictError(`The run ${STATUS_WORDS[status] ?? `is ${status}`}: there is nothing to cancel.`);
  }
  const { temporal } = getConfig();
  try {
    // This run only: if it was replaced meanwhile, the newer run is not what the user saw.
    await bounded(client, temporal.rpcTimeoutMs, () => client.workflow.getHandle(workflowId, runId).cancel());
  } catch (err) {
    // It closed between the describe and the cancel.
    if (err instanceof WorkflowNotFoundError) throw new RunStateConflictError('The run ended before it could be cancelled.');
    throw asUnreachable(err);
  }
  log.info({ workflowId, runId }, 'run cancellation requested');
  return { workflowId, runId };
}

/**
 * Start a new run of the same task (the full task, from the latest run's start input). `token`
 * names the new run as the home form's token does; a repeated token gives the same run. The new
 * run belongs to `owner`, who owns the old one.
 */
export async function runAgain(workflowId: string, owner: Owner, token: string = randomUUID()): Promise<{ workflowId: string }> {
  const { client, runId } = await latestRun(workflowId, owner);
  let task: string | null;
  try {
    task = await readStartTask({ client, workflowId, runId });
  } catch (err) {
    throw asUnreachable(err);
  }
  if (task === null) throw new RunStateConflictError('The task of this run could not be read, so it cannot be run again.');
  return startRun(token, task, owner);
}

/**
 * Reset a failed (or cancelled, terminated, timed-out) run to just before its unfinished step was
 * scheduled: the new run keeps the plan and every completed step and redoes only that step and
 * what follows. The workflow id stays; the new run id is returned.
 *
 * The reset's request id comes from the failed run id, so a double submit resets once.
 * Throws RunStateConflictError while the run is open, after it completed, or with nothing to retry.
 */
export async function retryFromFailedStep(workflowId: string, owner: Owner): Promise<{ workflowId: string; runId: string }> {
  const { client, runId, status } = await latestRun(workflowId, owner);
  if (!RETRYABLE_STATUSES.includes(status)) {
    throw new RunStateConflictError(
      status === 'RUNNING'
        ? 'The run is still running: there is no failed step to retry yet.'
        : `The run ${STATUS_WORDS[status] ?? `is ${status}`}: there is no failed step to retry.`,
    );
  }
  const { temporal } = getConfig();
  let resetPoint: ResetPoint | null;
  try {
    resetPoint = findResetPoint(await readHistory(client, workflowId, runId));
  } catch (err) {
    throw asUnreachable(err);
  }
  if (!resetPoint) throw new RunStateConflictError('Every step of this run completed: there is no failed step to retry.');

  try {
    const response = await bounded(client, temporal.rpcTimeoutMs, () =>
      client.workflowService.resetWorkflowExecution({
        namespace: temporal.namespace,
        workflowExecution: { workflowId, runId },
        reason: 'Retry from the failed step (Buildstory)',
        workflowTaskFinishEventId: resetPoint.workflowTaskCompletedEventId,
        requestId: uuidFrom(`retry:${runId}`),
        // The failed attempt's progress signals belong to the old run; the workflow would ignore
        // them anyway (they carry the old run id), so they are not copied over.
        resetReapplyType: RESET_REAPPLY_TYPE_NONE,
        resetReapplyExcludeTypes: [RESET_REAPPLY_EXCLUDE_TYPE_SIGNAL, RESET_REAPPLY_EXCLUDE_TYPE_UPDATE],
        identity: 'buildstory-web',
      }),
    );
    log.info({ workflowId, failedRunId: runId, runId: response.runId, activity: resetPoint.activity }, 'run reset to retry its failed step');
    return { workflowId, runId: response.runId };
  } catch (err) {
    const code = grpcCode(err);
    if (code === Status.NOT_FOUND) throw new RunNotFoundError(workflowId);
    if (code === Status.INVALID_ARGUMENT || code === Status.FAILED_PRECONDITION) {
      throw new RunStateConflictError(`Temporal refused the retry: ${message(err)}`);
    }
    throw asUnreachable(err);
  }
}

// proto.api.enums.v1.ResetReapplyType / ResetReapplyExcludeType, by number.
const RESET_REAPPLY_TYPE_NONE = 2 as proto.api.enums.v1.ResetReapplyType;
const RESET_REAPPLY_EXCLUDE_TYPE_SIGNAL = 1 as proto.api.enums.v1.ResetReapplyExcludeType;
const RESET_REAPPLY_EXCLUDE_TYPE_UPDATE = 2 as proto.api.enums.v1.ResetReapplyExcludeType;

type HistoryEvent = proto.api.history.v1.IHistoryEvent;
type EventId = NonNullable<HistoryEvent['eventId']>;

interface ResetPoint {
  activity: string;
  workflowTaskCompletedEventId: EventId;
}

/** The whole history of one run, page by page, under one deadline. */
async function readHistory(client: Client, workflowId: string, runId: string): Promise<HistoryEvent[]> {
  const { temporal } = getConfig();
  return bounded(client, temporal.rpcTimeoutMs, async () => {
    const events: HistoryEvent[] = [];
    let nextPageToken: Uint8Array | undefined;
    do {
      const response = await client.workflowService.getWorkflowExecutionHistory({
        namespace: temporal.namespace,
        execution: { workflowId, runId },
        nextPageToken,
      });
      events.push(...(response.history?.events ?? []));
      nextPageToken = response.nextPageToken?.length ? response.nextPageToken : undefined;
    } while (nextPageToken);
    return events;
  });
}

/**
 * Where to reset: the workflow task that scheduled the last activity that never completed (the
 * failed or cancelled step, or the planning). A plan that completed but was refused has no such
 * activity; then planning is redone. Null when every activity completed and a step ran.
 */
export function findResetPoint(events: HistoryEvent[]): ResetPoint | null {
  const scheduled = new Map<string, ResetPoint>();
  const completed = new Set<string>();
  let planning: ResetPoint | null = null;
  let stepScheduled = false;
  for (const event of events) {
    const attributes = event.activityTaskScheduledEventAttributes;
    if (attributes && event.eventId != null && attributes.workflowTaskCompletedEventId != null) {
      const activity = attributes.activityType?.name ?? '';
      const point = { activity, workflowTaskCompletedEventId: attributes.workflowTaskCompletedEventId };
      scheduled.set(String(event.eventId), point);
      if (activity === 'planTask' && !planning) planning = point;
      if (activity === 'executeStep') stepScheduled = true;
    }
    const done = event.activityTaskCompletedEventAttributes?.scheduledEventId;
    if (done != null) completed.add(String(done));
  }
  let unfinished: ResetPoint | null = null;
  for (const [eventId, point] of scheduled) if (!completed.has(eventId)) unfinished = point;
  return unfinished ?? (stepScheduled ? null : planning);
}
