/** The one vocabulary of run statuses: every Temporal status reads one way everywhere. */
import {
  APP_STATUS,
  RUN_LIST_FILTERS,
  appStatusOf,
  canRetry,
  isClosed,
  isRunListStatus,
  listedStatusOf,
  storyStatusOf,
  temporalStatusName,
  type TemporalStatus,
} from './run-status';

const ALL: TemporalStatus[] = [
  'RUNNING',
  'COMPLETED',
  'FAILED',
  'CANCELLED',
  'TERMINATED',
  'CONTINUED_AS_NEW',
  'TIMED_OUT',
  'PAUSED',
  'UNSPECIFIED',
  'UNKNOWN',
];

test("Temporal's enum numbers map to their names; unknown numbers are UNKNOWN", () => {
  expect([0, 1, 2, 3, 4, 5, 6, 7, 8].map(temporalStatusName)).toEqual([
    'UNSPECIFIED',
    'RUNNING',
    'COMPLETED',
    'FAILED',
    'CANCELLED',
    'TERMINATED',
    'CONTINUED_AS_NEW',
    'TIMED_OUT',
    'PAUSED',
  ]);
  expect(temporalStatusName(99)).toBe('UNKNOWN');
  expect(temporalStatusName(null)).toBe('UNSPECIFIED');
});

test('each status: its story status, badge, whether it is over and whether it can be retried', () => {
  const table = Object.fromEntries(
    ALL.map((status) => [status, [storyStatusOf(status), appStatusOf(status), isClosed(status), canRetry(status)]]),
  );
  expect(table).toEqual({
    RUNNING: ['running', 'running', false, false],
    COMPLETED: ['completed', 'completed', true, false],
    FAILED: ['failed', 'failed', true, true],
    CANCELLED: ['cancelled', 'cancelled', true, true],
    TERMINATED: ['failed', 'terminated', true, true],
    CONTINUED_AS_NEW: ['failed', null, true, false],
    TIMED_OUT: ['failed', 'timed-out', true, true],
    PAUSED: ['running', null, false, false],
    UNSPECIFIED: ['running', null, false, false],
    UNKNOWN: ['failed', null, true, false],
  });
});

test('the list filters are the statuses visibility knows, each shown with its badge label', () => {
  expect(RUN_LIST_FILTERS.map(({ status, shows }) => `${status}=${APP_STATUS[shows].label}`)).toEqual([
    'Running=Running',
    'Queued=Queued',
    'WaitingForReview=Waiting for review',
    'Completed=Completed',
    'Failed=Failed',
    'Canceled=Cancelled',
    'Terminated=Terminated',
    'TimedOut=Timed out',
  ]);
  expect(isRunListStatus('Canceled')).toBe(true);
  expect(isRunListStatus('CANCELLED')).toBe(false);
  expect(isRunListStatus("Running' OR 1=1")).toBe(false);
});

test('a listed run reads its review state from BuildstoryState: waiting, rejected, expired', () => {
  expect(listedStatusOf('RUNNING', 'waiting-for-review')).toBe('waiting-for-review');
  expect(listedStatusOf('RUNNING', 'queued')).toBe('queued');
  expect(listedStatusOf('CANCELLED', 'cancelled')).toBe('cancelled');
  expect(listedStatusOf('RUNNING', 'running')).toBe('running');
  expect(listedStatusOf('RUNNING', null)).toBe('running');
  expect(listedStatusOf('COMPLETED', 'rejected')).toBe('rejected');
  expect(listedStatusOf('COMPLETED', 'expired')).toBe('expired');
  expect(listedStatusOf('COMPLETED', 'running')).toBe('completed');
  expect(listedStatusOf('COMPLETED', 'budget-reached')).toBe('budget-reached');
  // A cancelled review is cancelled; a state left over from a closed run's review does not say otherwise.
  expect(listedStatusOf('CANCELLED', 'cancelled')).toBe('cancelled');
  expect(listedStatusOf('TERMINATED', 'waiting-for-review')).toBe('terminated');
});
