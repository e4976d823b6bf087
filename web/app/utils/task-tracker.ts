/**
 * What a run's history says about its workflow tasks, read by the watcher as its long poll
 * returns: whether the story may have changed since the last query, and whether a query now
 * would be answered at once.
 *
 * Why it matters: the Temporal server dispatches a query straight to the worker only when no
 * workflow task is scheduled or started. Otherwise it holds the query until a task is done, and
 * on a busy run (a progress signal every 250 ms) that can chain through several tasks: the
 * benchmark saw queries held for over two seconds. Before the run's first workflow task completes
 * the query handler does not exist yet, and the server holds the query too. So the watcher
 * queries only after a completion with no task in flight, and waits for that in the history,
 * which it reads anyway.
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
  /** A workflow task is scheduled or started and not finished. */
  inFlight = false;
  /** Since when a completion has been seen that no query has covered yet. */
  unseenSince: number | null = null;
  /** The close event, once read. */
  closed: CloseKind | null = null;

  /** Take in a page of history events, oldest first. */
  observe(events: readonly HistoryEventLike[], now: number): void {
    for (const { eventType } of events) {
      switch (eventType) {
        case EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
        case EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
          this.inFlight = true;
          break;
        case EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
          this.started = true;
          this.inFlight = false;
          this.unseenSince ??= now;
          break;
        // A failed or timed-out task is retried; a retry shows in the history only once it completes.
        case EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
        case EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
          this.inFlight = false;
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
   * The story may have changed and a query would not wait behind a task; or a busy run has kept
   * its news waiting for QUERY_HOLD_MS (the query then rides on the next task).
   */
  shouldQuery(now: number): boolean {
    if (this.closed !== null || this.unseenSince === null) return false;
    return !this.inFlight || now - this.unseenSince >= QUERY_HOLD_MS;
  }

  /** A query is about to be sent: completions from here on are news for the next one. */
  queried(): void {
    this.unseenSince = null;
  }
}
