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
 * Pure: no I/O, no clock of its own (callers pass `now`), so the tests drive it with events.
 */
import protoPackage from '@temporalio/proto';

const { EventType } = protoPackage.temporal.api.enums.v1;

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

  /** Take in a page of history events, oldest first. */
  observe(events: readonly HistoryEventLike[], now: number): void {
    for (const { eventType } of events) {
      switch (eventType) {
        case EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
          this.task = 'scheduled';
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
   * A task waits to start (the query goes along with it); or the story may have changed and a
   * query would not wait behind a task; or a busy run has kept its news waiting QUERY_HOLD_MS.
   */
  shouldQuery(now: number): boolean {
    if (this.closed !== null) return false;
    if (this.task === 'scheduled' && this.started && !this.covered) return true;
    if (this.unseenSince === null) return false;
    return this.task === 'none' || now - this.unseenSince >= QUERY_HOLD_MS;
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
