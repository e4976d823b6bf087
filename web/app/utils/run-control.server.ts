/**
 * What a person can do to a run from its page: cancel it, run its task again, retry it from the
 * step that failed (a reset that keeps every finished step), or answer the review it waits for.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
  type Client,
} from '@temporalio/client';
import { status as Status } from '@grpc/grpc-js';
// Types only: the package is CommonJS without named ESM exports, so its enums are spelled as numbers below.
import type { temporal as proto } from '@temporalio/proto';
import { reviewUpdate } from '../../../contract/messages';
import type { ReviewOutcome, ReviewRequest } from '../../../contract/data';
import { getConfig } from './env.server';
import { log } from './log.server';
import { findResetPoint, type HistoryEvent, type ResetPoint } from './reset-point';
import { RUN_ID_PATTERN, uuidFrom } from './run-id';
import { pinAfterReset, type DeploymentVersion } from './run-version';
import { describeOwnedRun, type Owner } from './run-owner.server';
import { loadKnownRun, readStartTask } from './run-read.server';
import { startRun } from './run-start.server';
import { canRetry, statusWords, type TemporalStatus } from './run-status';
import { TemporalUnreachableError, asUnreachable, bounded, getClient, grpcCode, isUnreachable, message } from './temporal-client.server';

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

/**
 * The answer was sent but has no outcome yet: Temporal or every worker is away. Sending it again
 * with the same request id is safe (it is applied once); the form keeps its token for that.
 */
export class ReviewPendingError extends Error {
  override name = 'ReviewPendingError';
}

/** The latest run of a workflow id, with its status. Someone else's run is not found. */
async function latestRun(
  workflowId: string,
  owner: Owner,
): Promise<{ client: Client; runId: string; status: TemporalStatus; pinnedVersion: DeploymentVersion | null }> {
  if (!RUN_ID_PATTERN.test(workflowId)) throw new RunNotFoundError(workflowId);
  try {
    const client = await getClient();
    const run = await describeOwnedRun(client, workflowId, owner);
    if (!run) throw new RunNotFoundError(workflowId);
    return { client, ...run };
  } catch (err) {
    throw asUnreachable(err);
  }
}

/**
 * Ask the latest run to stop. It stops once its current step has noticed (within a heartbeat, or
 * when a worker picks it up) and tells the story as cancelled. A run that already ended is left as
 * it is: RunStateConflictError.
 */
export async function cancelRun(workflowId: string, owner: Owner): Promise<{ workflowId: string; runId: string }> {
  const { client, runId, status } = await latestRun(workflowId, owner);
  if (status !== 'RUNNING') {
    throw new RunStateConflictError(`The run ${statusWords(status)}: there is nothing to cancel.`);
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
 * A run pinned to a build (Worker Versioning) is retried on that build, even after another one
 * became current: the reset pins the new run back to it.
 *
 * The reset's request id comes from the failed run id, so a double submit resets once.
 * Throws RunStateConflictError while the run is open, after it completed, or with nothing to retry.
 */
export async function retryFromFailedStep(workflowId: string, owner: Owner): Promise<{ workflowId: string; runId: string }> {
  const { client, runId, status, pinnedVersion } = await latestRun(workflowId, owner);
  if (!canRetry(status)) {
    throw new RunStateConflictError(
      status === 'RUNNING'
        ? 'The run is still running: there is no failed step to retry yet.'
        : `The run ${statusWords(status)}: there is no failed step to retry.`,
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
        // The failed attempt's progress signals belong to the old run: not copied over (the
        // workflow applies every report in its history; see taskWorkflow).
        resetReapplyType: RESET_REAPPLY_TYPE_NONE,
        resetReapplyExcludeTypes: [RESET_REAPPLY_EXCLUDE_TYPE_SIGNAL, RESET_REAPPLY_EXCLUDE_TYPE_UPDATE],
        // A run pinned to a build stays on it: reset to its start, the new run would otherwise go
        // to the current build, which after a rolling deploy runs different workflow code.
        postResetOperations: pinAfterReset(pinnedVersion),
        identity: 'buildstory-web',
      }),
    );
    log.info(
      { workflowId, failedRunId: runId, runId: response.runId, activity: resetPoint.activity, pinnedVersion },
      'run reset to retry its failed step',
    );
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

/** How long one press of Approve or Reject keeps resending before it says "not confirmed yet". */
const REVIEW_SEND_MS = 15_000;

/**
 * Send a person's answer to the review the run waits for, as the `review` update, and return its
 * outcome. The request id is the update's id, and the workflow applies one request id once
 * (Temporal remembers update ids per run only): so the answer is resent with the same id until it
 * has an outcome, and at most REVIEW_SEND_MS, after which ReviewPendingError says to press again.
 * A refusal (stale, already answered, invalid edit) is a RunStateConflictError with the
 * workflow's words.
 */
export async function answerReview(workflowId: string, owner: Owner, request: ReviewRequest): Promise<ReviewOutcome> {
  const { client, runId, status } = await latestRun(workflowId, owner);
  if (status !== 'RUNNING') {
    // Sent again after the run ended: if it was applied, that is its outcome.
    const earlier = await earlierAnswer(workflowId, runId, status, request.requestId);
    if (earlier) return earlier;
    throw new RunStateConflictError(`The run ${statusWords(status)}: there is no review to answer.`);
  }
  const { temporal } = getConfig();
  const handle = client.workflow.getHandle(workflowId, runId);
  const deadline = Date.now() + REVIEW_SEND_MS;
  let lastError: unknown;
  for (let attempt = 0; Date.now() < deadline; attempt++) {
    try {
      const outcome = await bounded(client, Math.min(temporal.rpcTimeoutMs, Math.max(deadline - Date.now(), 500)), () =>
        handle.executeUpdate(reviewUpdate, { args: [request], updateId: request.requestId }),
      );
      log.info({ workflowId, runId, decision: outcome.decision, revision: outcome.revision, by: outcome.by }, 'review answered');
      return outcome;
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError) {
        throw new RunStateConflictError(err.cause instanceof Error ? err.cause.message : err.message);
      }
      if (err instanceof WorkflowNotFoundError || grpcCode(err) === Status.NOT_FOUND) {
        throw new RunStateConflictError('The run has ended or changed since this page was loaded: reload it.');
      }
      if (!(err instanceof WorkflowUpdateRPCTimeoutOrCancelledError) && !isUnreachable(err)) throw err;
      lastError = err;
      await sleep(Math.min(250 * 2 ** attempt, 2_000));
    }
  }
  log.warn({ workflowId, runId, err: lastError }, 'review answer not confirmed yet');
  if (lastError instanceof TemporalUnreachableError || (isUnreachable(lastError) && grpcCode(lastError) === Status.UNAVAILABLE)) {
    throw asUnreachable(lastError);
  }
  throw new ReviewPendingError(
    'Your answer was sent, but no worker has confirmed it yet. Press the button again when a worker is back: it is applied once, however often you press.',
  );
}

/** The outcome of an answer the run's story recorded (by its request id), once the run has ended. */
async function earlierAnswer(workflowId: string, runId: string, status: TemporalStatus, requestId: string): Promise<ReviewOutcome | null> {
  const view = await loadKnownRun(workflowId, runId, status);
  if (view.kind === 'unreachable') throw new TemporalUnreachableError(view.address);
  const events = view.kind === 'ok' ? (view.snapshot?.events ?? []) : [];
  for (const event of events) {
    if ((event.type === 'review.approved' || event.type === 'review.rejected') && event.requestId === requestId) {
      const edit = events.find((e) => e.type === 'plan.edited' && e.seq === event.seq - 1);
      const changes = edit?.type === 'plan.edited' ? edit.changes : [];
      return {
        requestId,
        revision: event.revision,
        by: event.by,
        decision: event.type === 'review.approved' ? 'approve' : 'reject',
        changes,
      };
    }
  }
  return null;
}
