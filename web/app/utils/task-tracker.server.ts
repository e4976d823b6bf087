/**
 * What a run's history says about its workflow tasks, read by the watcher as its long poll
 * returns: whether the story may have changed since the last query, and whether a query now
 * would be answered at once.
 *
 * Why it matters: the Temporal server dispatches a query straight to the worker only when no
 * workflow task is scheduled or started. Otherwise it holds the query: a task that has not
 * started yet takes the query along and answers it when it completes (the cheapest way to learn
 * what that task changed: no further poll before the query); a task already started leaves it
 * waiting for the next one, and on a busy run (a progress signal every 250 ms) that chained: the
 * benchmark saw queries held for over two seconds. Before the run's first workflow task completes
 * there is no query handler, and the server holds the query too. So the watcher queries when a
 * task is scheduled and not started, or after a completion with no task in flight.
 *
 * One exception: a task that will end the run (the last step's activity completed, or an
 * activity failed for good) is not ridden. The worker drops a run from its cache as it ends, so a
 * query left on that task is answered by replaying the whole history (about 100 ms here); the
 * watcher waits for the close instead and reads the story from the result.
 *
 * Pure: no I/O, no clock of its own (callers pass `now`), so the tests drive it with events.
 */
import protoPackage from '@temporalio/proto';
import type { StoryEvent } from '../../../contract/data';
import { tsToMs, type TimestampLike } from './timestamp';

const { EventType, PendingActivityState, PendingWorkflowTaskState } = protoPackage.temporal.api.enums.v1;

/** How long news may wait for a workflow task in flight before the watcher queries anyway. */
export const QUERY_HOLD_MS = 500;

/** How the run ended, from its close event. */
export type CloseKind = 'completed' | 'failed' | 'other';

export interface HistoryEventLike {
  eventType?: number | null;
}

export class TaskTracker {
  /** A workflow task has completed: the workflow has set its query handler. */
  started = false;
  /** The run's workflow task, as far as the history tells. */
  task: 'none' | 'scheduled' | 'started' = 'none';
  /** A query went out while a task waited to start: it answers for that task's completion. */
  private covered = false;
  /** Since when a completion has been seen that no query has covered yet. */
  unseenSince: number | null = null;
  /** The close event, once read. */
  closed: CloseKind | null = null;
  /** How the last activity to end ended ('failed': failed, timed out or cancelled), until a task is scheduled for it. */
  private activityEnd: 'completed' | 'failed' | null = null;
  /** What the task in flight was scheduled for, as far as it matters here. */
  private scheduledFor: 'activity completed' | 'activity failed' | 'other' = 'other';

  /** Take in a page of history events, oldest first. */
  observe(events: readonly HistoryEventLike[], now: number): void {
    for (const { eventType } of events) {
      switch (eventType) {
        case EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
          this.task = 'scheduled';
          this.scheduledFor = this.activityEnd === null ? 'other' : `activity ${this.activityEnd}`;
          this.activityEnd = null;
          break;
        case EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
          this.activityEnd ??= 'completed';
          break;
        case EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED:
        case EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
        case EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED:
          this.activityEnd = 'failed';
          break;
        case EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
          this.task = 'started';
          break;
        case EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
          this.started = true;
          this.task = 'none';
          if (this.covered) this.covered = false;
          else this.unseenSince ??= now;
          break;
        // A failed or timed-out task is retried; a retry shows in the history only once it completes.
        case EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
        case EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
          this.task = 'none';
          this.covered = false;
          break;
        case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
          this.closed = 'completed';
          break;
        case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
          this.closed = 'failed';
          break;
        case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT:
        case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED:
        case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED:
        case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
          this.closed = 'other';
          break;
        default:
          break;
      }
    }
  }

  /**
   * A task waits to start (the query goes along with it) and will not end the run; or the story
   * may have changed and a query would not wait behind a task; or a busy run has kept its news
   * waiting QUERY_HOLD_MS. `lastStepRunning`: the story has the plan's last step running (see
   * lastStepRunning), so an activity that completes now ends the run.
   */
  shouldQuery(now: number, lastStepRunning = false): boolean {
    if (this.closed !== null) return false;
    if (this.task === 'scheduled' && this.started && !this.covered) return !this.endsRun(lastStepRunning);
    if (this.unseenSince === null) return false;
    return this.task === 'none' || now - this.unseenSince >= QUERY_HOLD_MS;
  }

  /** The task that waits to start will most likely end the run. */
  private endsRun(lastStepRunning: boolean): boolean {
    return this.scheduledFor === 'activity failed' || (this.scheduledFor === 'activity completed' && lastStepRunning);
  }

  /** A query is about to be sent: what happened until now is in its answer. */
  queried(): void {
    this.unseenSince = null;
    if (this.task === 'scheduled') this.covered = true;
  }

  /** The query got no answer: the next completion is news again, and what it covered is unseen. */
  queryFailed(now: number): void {
    this.covered = false;
    this.unseenSince ??= now;
  }
}

/**
 * The story shows the plan's last step running: when its activity completes, the workflow
 * completes in the same task. Reads from the end, where step events are (output chunks aside).
 */
export function lastStepRunning(events: readonly StoryEvent[]): boolean {
  const plan = events.find((e) => e.type === 'plan.ready');
  if (!plan || plan.type !== 'plan.ready') return false;
  for (let i = events.length - 1; i >= 0; i--) {
    const e = events[i];
    if (e.type === 'step.started') return e.stepIndex === plan.plan.steps.length - 1;
    if (e.type === 'step.finished' || e.type === 'run.completed' || e.type === 'run.failed' || e.type === 'run.cancelled') return false;
  }
  return false;
}

/** How recent a heartbeat or a workflow task start must be to count as a worker at work. */
export const WORKER_SIGN_MS = 5_000;

/** What a describe says of a run's work in flight (the fields read here). */
export interface DescriptionLike {
  pendingActivities?: ReadonlyArray<{
    state?: number | null;
    lastHeartbeatTime?: TimestampLike | null;
    scheduledTime?: TimestampLike | null;
    nextAttemptScheduleTime?: TimestampLike | null;
  }> | null;
  pendingWorkflowTask?: { state?: number | null; startedTime?: TimestampLike | null; scheduledTime?: TimestampLike | null } | null;
}

/**
 * Is the run waiting for a worker that does not come? A workflow task, or an activity attempt due
 * to run, has waited WORKER_SIGN_MS or more without a worker taking it. Read from one describe
 * after the history has been quiet a while (a watcher that gets its events from the history has
 * no query to time out). A started activity counts as at work: if its worker died, the server
 * times it out (the heartbeat timeout) and schedules the retry, which this then sees waiting.
 */
export function workerMissing(description: DescriptionLike, now: number): boolean {
  const waitedLong = (since: TimestampLike | null | undefined) => {
    const at = tsToMs(since);
    return at !== null && now - at >= WORKER_SIGN_MS;
  };
  const task = description.pendingWorkflowTask;
  if (task?.state === PendingWorkflowTaskState.PENDING_WORKFLOW_TASK_STATE_SCHEDULED && waitedLong(task.scheduledTime)) return true;
  return (description.pendingActivities ?? []).some(
    (activity) =>
      activity.state === PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED &&
      // A retry waits out its backoff first: it is due from its next attempt's time.
      waitedLong(activity.nextAttemptScheduleTime ?? activity.scheduledTime),
  );
}

/**
 * After a query timed out: is a worker plainly at work on the run? An activity heartbeated, or a
 * workflow task started, within WORKER_SIGN_MS (activities beat every second). Then the query
 * was held behind a busy run, not lost for want of a worker. With no such sign, say no: a dead
 * worker leaves none (its heartbeats stop; a task it had started ages).
 */
export function workerRecentlyActive(description: DescriptionLike, now: number): boolean {
  const recent = (ts: TimestampLike | null | undefined) => {
    const at = tsToMs(ts);
    return at !== null && now - at < WORKER_SIGN_MS;
  };
  if ((description.pendingActivities ?? []).some((a) => recent(a.lastHeartbeatTime))) return true;
  const task = description.pendingWorkflowTask;
  return task?.state === PendingWorkflowTaskState.PENDING_WORKFLOW_TASK_STATE_STARTED && recent(task.startedTime);
}
