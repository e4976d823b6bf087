/**
 * Everything the web app asks Temporal: start a run, read a run.
 *
 * One lazily connected Client for the process. Every call carries a deadline, so a page answers
 * within seconds whether the server or the worker is down; a failed connect is forgotten and the
 * next request tries again. Kept free of Remix so the SSE route can reuse `loadRun`.
 */
import {
  ApplicationFailure,
  Client,
  Connection,
  ServiceError,
  TerminatedFailure,
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  WorkflowNotFoundError,
  isGrpcServiceError,
  type WorkflowExecutionStatusName,
  type WorkflowHandle,
} from '@temporalio/client';
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
import { getConfig } from './env.server';
import { log } from './log.server';

/** A query runs on a worker: with none polling it waits, so we give it only a short time. */
const QUERY_TIMEOUT_MS = 2_500;
/** Query pages per read: the story holds at most 5,000 events, 500 to a page. */
const MAX_QUERY_PAGES = 12;
/** Slack past the gRPC deadline before our own timer gives up, in case a call ignores it. */
const GUARD_SLACK_MS = 500;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
export const RUN_ID_PATTERN = /^task-[0-9a-f-]{36}$/;

// gRPC status codes (from @grpc/grpc-js, which is not our direct dependency).
const GRPC_CANCELLED = 1;
const GRPC_DEADLINE_EXCEEDED = 4;
const GRPC_FAILED_PRECONDITION = 9;
const GRPC_UNAVAILABLE = 14;

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

function connect(): Promise<Client> {
  const { temporal } = getConfig();
  const { address, tls, apiKey, metadata } = temporal.connectionOptions;
  return (async () => {
    const connection = Connection.lazy({ address, tls, apiKey, metadata, connectTimeout: temporal.rpcTimeoutMs });
    try {
      await connection.ensureConnected();
    } catch (err) {
      // Close the channel, or it keeps retrying in the background.
      await connection.close().catch(() => undefined);
      throw new TemporalUnreachableError(temporal.address, { cause: err });
    }
    return new Client({ connection, namespace: temporal.namespace });
  })();
}

/** The shared Client; connects on first use and again after a failed connect. */
function getClient(): Promise<Client> {
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
async function bounded<T>(client: Client, ms: number, fn: () => Promise<T>): Promise<T> {
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
  return err instanceof TimeoutError || grpcCode(err) === GRPC_DEADLINE_EXCEEDED;
}

function isUnreachable(err: unknown): boolean {
  if (err instanceof TemporalUnreachableError || isTimeout(err)) return true;
  const code = grpcCode(err);
  return code === GRPC_UNAVAILABLE || code === GRPC_CANCELLED;
}

function message(err: unknown): string {
  if (err instanceof ServiceError && isGrpcServiceError(err.cause)) return `${err.message}: ${err.cause.details}`;
  return err instanceof Error ? err.message : String(err);
}

/**
 * Start the run for this form submission, or find the one it already started.
 *
 * The workflow id comes from the form's token, so a double submit or a resubmit after the run
 * ended never starts a second run. Throws TemporalUnreachableError when Temporal is down.
 */
export async function startRun(token: string, task: string): Promise<{ workflowId: string }> {
  if (!UUID.test(token)) throw new TypeError('The run token must be a lowercase UUID.');
  const workflowId = `task-${token}`;
  const input = { task: TaskTextSchema.parse(task) };
  const { temporal } = getConfig();
  const client = await getClient();
  try {
    await bounded(client, temporal.rpcTimeoutMs, () =>
      client.workflow.start<typeof taskWorkflow>(WORKFLOW_NAME, {
        taskQueue: temporal.taskQueue,
        workflowId,
        args: [input],
        workflowIdConflictPolicy: 'USE_EXISTING',
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
      }),
    );
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return { workflowId };
    if (isUnreachable(err)) throw new TemporalUnreachableError(temporal.address, { cause: err });
    throw err;
  }
  // USE_EXISTING answers a repeated submit with the running run: this line may repeat for one run.
  log.info({ workflowId }, 'run started (or already running)');
  return { workflowId };
}

type RunDetails = Pick<Extract<RunView, { kind: 'ok' }>, 'snapshot' | 'waitingForWorker' | 'task' | 'error'>;

/**
 * Everything the run page shows about one run. Unknown or malformed ids are `not-found`; a down
 * server is `unreachable`; a run whose worker is away still shows its task and status.
 */
export async function loadRun(workflowId: string): Promise<RunView> {
  if (!RUN_ID_PATTERN.test(workflowId)) return { kind: 'not-found' };
  const { temporal } = getConfig();
  const unreachable = { kind: 'unreachable', address: temporal.address } as const;

  let client: Client;
  try {
    client = await getClient();
  } catch {
    return unreachable;
  }

  let runId: string;
  let status: TemporalStatus;
  try {
    const description = await bounded(client, temporal.rpcTimeoutMs, () => client.workflow.getHandle(workflowId).describe());
    runId = description.runId;
    status = description.status.name;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return { kind: 'not-found' };
    if (isUnreachable(err)) return unreachable;
    throw err;
  }

  const run: Run = { client, workflowId, runId, handle: client.workflow.getHandle<typeof taskWorkflow>(workflowId, runId) };
  let details: RunDetails;
  try {
    details = await readRun(run, status);
  } catch (err) {
    if (isUnreachable(err)) return unreachable;
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
    const noWorker = isTimeout(err) || code === GRPC_CANCELLED || code === GRPC_FAILED_PRECONDITION;
    if (!noWorker && code === GRPC_UNAVAILABLE) throw err;
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

/** The task from the run's start input: one history event, decoded with the client's converter. */
async function startTask({ client, workflowId, runId }: Run): Promise<string | null> {
  const { temporal } = getConfig();
  try {
    const response = await bounded(client, temporal.rpcTimeoutMs, () =>
      client.workflowService.getWorkflowExecutionHistory({
        namespace: temporal.namespace,
        execution: { workflowId, runId },
        maximumPageSize: 1,
      }),
    );
    const payloads = response.history?.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads;
    if (!payloads?.length) return null;
    const { payloadCodecs, payloadConverter } = client.options.loadedDataConverter;
    let decoded = payloads;
    for (const codec of [...payloadCodecs].reverse()) decoded = await codec.decode(decoded);
    const input = payloadConverter.fromPayload<{ task?: unknown }>(decoded[0]);
    return typeof input?.task === 'string' ? input.task : null;
  } catch (err) {
    log.warn({ err, workflowId }, 'could not read the start input');
    return null;
  }
}
