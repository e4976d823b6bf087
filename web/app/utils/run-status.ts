/**
 * One vocabulary for a run's status: Temporal's execution status (by name, or by its number in the
 * API's enum), the story's own status, and what the app shows (label and style of the badge, the
 * run list and its filters). Pure and free of Temporal's packages, so browser code can use it.
 */
import { REVIEW_STATES, type RunStatus } from '../../../contract/data';

/** Temporal's WorkflowExecutionStatusName, spelled out so that this module imports nothing from Temporal. */
export type TemporalStatus =
  'RUNNING' | 'COMPLETED' | 'FAILED' | 'CANCELLED' | 'TERMINATED' | 'CONTINUED_AS_NEW' | 'TIMED_OUT' | 'PAUSED' | 'UNSPECIFIED' | 'UNKNOWN';

/** temporal.api.enums.v1.WorkflowExecutionStatus, by number (the raw API and visibility answer with these). */
const BY_NUMBER: Record<number, TemporalStatus> = {
  0: 'UNSPECIFIED',
  1: 'RUNNING',
  2: 'COMPLETED',
  3: 'FAILED',
  4: 'CANCELLED',
  5: 'TERMINATED',
  6: 'CONTINUED_AS_NEW',
  7: 'TIMED_OUT',
  8: 'PAUSED',
};

export function temporalStatusName(status: number | null | undefined): TemporalStatus {
  return BY_NUMBER[status ?? 0] ?? 'UNKNOWN';
}

/** What a badge can say: a run's state as a person reads it. */
export type AppStatus =
  | 'running'
  | 'queued'
  | 'waiting'
  | 'waiting-for-review'
  | 'completed'
  | 'failed'
  | 'cancelled'
  | 'rejected'
  | 'expired'
  | 'budget-reached'
  | 'terminated'
  | 'timed-out'
  | 'unreachable';

export const APP_STATUS: Record<AppStatus, { label: string; className: string }> = {
  running: { label: 'Running', className: 'border-sky-700 bg-sky-950 text-sky-200' },
  queued: { label: 'Queued', className: 'border-amber-700 bg-amber-950 text-amber-200' },
  waiting: { label: 'Waiting for a worker', className: 'border-amber-700 bg-amber-950 text-amber-200' },
  'waiting-for-review': { label: 'Waiting for review', className: 'border-violet-600 bg-violet-950 text-violet-200' },
  completed: { label: 'Completed', className: 'border-emerald-700 bg-emerald-950 text-emerald-200' },
  failed: { label: 'Failed', className: 'border-red-700 bg-red-950 text-red-200' },
  cancelled: { label: 'Cancelled', className: 'border-slate-600 bg-slate-900 text-slate-200' },
  rejected: { label: 'Rejected', className: 'border-orange-700 bg-orange-950 text-orange-200' },
  expired: { label: 'Expired', className: 'border-slate-600 bg-slate-900 text-slate-300' },
  'budget-reached': { label: 'Budget reached', className: 'border-amber-700 bg-amber-950 text-amber-200' },
  terminated: { label: 'Terminated', className: 'border-red-700 bg-red-950 text-red-200' },
  'timed-out': { label: 'Timed out', className: 'border-red-700 bg-red-950 text-red-200' },
  unreachable: { label: 'Temporal unreachable', className: 'border-amber-700 bg-amber-950 text-amber-200' },
};

/** How a run in this Temporal status reads in the app; null for statuses the app never shows as such. */
export function appStatusOf(status: TemporalStatus): AppStatus | null {
  switch (status) {
    case 'RUNNING':
      return 'running';
    case 'COMPLETED':
      return 'completed';
    case 'FAILED':
      return 'failed';
    case 'CANCELLED':
      return 'cancelled';
    case 'TERMINATED':
      return 'terminated';
    case 'TIMED_OUT':
      return 'timed-out';
    default:
      return null;
  }
}

/**
 * How a listed run reads, from visibility alone: its Temporal status and its `BuildstoryState`
 * search attribute (REVIEW_STATES). Temporal calls a rejected or expired run completed.
 */
export function listedStatusOf(status: TemporalStatus, reviewState: string | null): AppStatus | null {
  if (status === 'RUNNING' && reviewState === REVIEW_STATES.waiting) return 'waiting-for-review';
  if (status === 'RUNNING' && reviewState === REVIEW_STATES.queued) return 'queued';
  if (status === 'COMPLETED' && (reviewState === REVIEW_STATES.rejected || reviewState === REVIEW_STATES.expired)) return reviewState;
  if (status === 'COMPLETED' && reviewState === REVIEW_STATES.budgetReached) return 'budget-reached';
  return appStatusOf(status);
}

/**
 * The story's status for a run in this Temporal status: what its story says once it is over.
 * Terminated and timed-out runs never told their story's end; they read as failed.
 */
export function storyStatusOf(status: TemporalStatus): RunStatus {
  switch (status) {
    case 'RUNNING':
    case 'UNSPECIFIED':
    case 'PAUSED':
      return 'running';
    case 'COMPLETED':
      return 'completed';
    case 'CANCELLED':
      return 'cancelled';
    default:
      return 'failed';
  }
}

/** The run will not go on by itself (a reset can still start a new run under its id). */
export function isClosed(status: TemporalStatus): boolean {
  return storyStatusOf(status) !== 'running';
}

/** What a run in this status did, for sentences such as "The run was cancelled: ...". */
export function statusWords(status: TemporalStatus): string {
  const words: Partial<Record<TemporalStatus, string>> = {
    RUNNING: 'is still running',
    COMPLETED: 'completed',
    FAILED: 'failed',
    CANCELLED: 'was cancelled',
    TERMINATED: 'was terminated',
    TIMED_OUT: 'timed out',
  };
  return words[status] ?? `is ${status}`;
}

/** Runs that ended without completing: their unfinished step can be retried. */
export function canRetry(status: TemporalStatus): boolean {
  return status === 'FAILED' || status === 'CANCELLED' || status === 'TERMINATED' || status === 'TIMED_OUT';
}

/**
 * The list's filters, with the app status each shows as: visibility's ExecutionStatus values, and
 * `WaitingForReview` and `Queued` (running, and BuildstoryState says it waits for a review, or
 * for a slot).
 */
export const RUN_LIST_FILTERS = [
  { status: 'Running', shows: 'running' },
  { status: 'Queued', shows: 'queued' },
  { status: 'WaitingForReview', shows: 'waiting-for-review' },
  { status: 'Completed', shows: 'completed' },
  { status: 'Failed', shows: 'failed' },
  { status: 'Canceled', shows: 'cancelled' },
  { status: 'Terminated', shows: 'terminated' },
  { status: 'TimedOut', shows: 'timed-out' },
] as const satisfies ReadonlyArray<{ status: string; shows: AppStatus }>;

export type RunListStatus = (typeof RUN_LIST_FILTERS)[number]['status'];

export function isRunListStatus(value: unknown): value is RunListStatus {
  return RUN_LIST_FILTERS.some((filter) => filter.status === value);
}
