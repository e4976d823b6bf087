/**
 * When the watcher queries, from the history events it reads: when a workflow task waits to
 * start (the query rides on it), after a completion with no task in flight, or after
 * QUERY_HOLD_MS on a run that is never idle; never before the first task completed.
 */
import protoPackage from '@temporalio/proto';
import type { StoryEvent } from '../../../contract/data';
import { QUERY_HOLD_MS, TaskTracker, WORKER_SIGN_MS, lastStepRunning, workerMissing, workerRecentlyActive } from './task-tracker.server';

const { EventType, PendingActivityState, PendingWorkflowTaskState } = protoPackage.temporal.api.enums.v1;
const ev = (eventType: number) => ({ eventType });
const started = ev(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED);
const scheduled = ev(EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED);
const taskStarted = ev(EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED);
const completed = ev(EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED);
const signaled = ev(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED);
const activityScheduled = ev(EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED);
const activityCompleted = ev(EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED);

describe('TaskTracker', () => {
  it('does not query before the first workflow task completes', () => {
    const tracker = new TaskTracker();
    tracker.observe([started, scheduled, taskStarted], 0);
    expect(tracker.started).toBe(false);
    expect(tracker.shouldQuery(10_000)).toBe(false);
    tracker.observe([completed, activityScheduled], 20);
    expect(tracker.started).toBe(true);
    expect(tracker.shouldQuery(20)).toBe(true);
  });

  it('waits for a started task after a completion, then queries once it completes', () => {
    const tracker = new TaskTracker();
    tracker.observe([started, scheduled, taskStarted, completed, activityScheduled], 0);
    tracker.queried();
    expect(tracker.shouldQuery(1)).toBe(false);

    // A signal during the next task: the completion is news, but another task is running.
    tracker.observe([signaled, scheduled, taskStarted, completed, signaled, scheduled, taskStarted], 100);
    expect(tracker.task).toBe('started');
    expect(tracker.shouldQuery(110)).toBe(false);
    tracker.observe([completed], 130);
    expect(tracker.shouldQuery(130)).toBe(true);
  });

  it('queries as soon as a task is scheduled, and takes the completion of that task as answered', () => {
    const tracker = new TaskTracker();
    tracker.observe([started, scheduled, taskStarted, completed, activityScheduled], 0);
    tracker.queried();
    tracker.observe([signaled, scheduled], 300);
    expect(tracker.shouldQuery(300)).toBe(true);
    tracker.queried();
    expect(tracker.shouldQuery(301)).toBe(false);
    // The query rode on that task: its completion is no news.
    tracker.observe([taskStarted, completed], 330);
    expect(tracker.shouldQuery(330)).toBe(false);
    // The next one is.
    tracker.observe([activityCompleted, scheduled, taskStarted, completed], 600);
    expect(tracker.shouldQuery(600)).toBe(true);
  });

  it('takes a completion as news again when the query that rode on its task failed', () => {
    const tracker = new TaskTracker();
    tracker.observe([started, scheduled, taskStarted, completed], 0);
    tracker.queried();
    tracker.observe([signaled, scheduled], 100);
    tracker.queried();
    tracker.queryFailed(3_100);
    tracker.observe([taskStarted, completed], 3_200);
    expect(tracker.shouldQuery(3_200)).toBe(true);
  });

  it('does not send a query along with the first task: there is no handler before it completes', () => {
    const tracker = new TaskTracker();
    tracker.observe([started, scheduled], 0);
    expect(tracker.shouldQuery(0)).toBe(false);
  });

  it('queries a run that is never idle once its news has waited QUERY_HOLD_MS', () => {
    const tracker = new TaskTracker();
    tracker.observe([started, scheduled, taskStarted, completed], 0);
    tracker.queried();
    tracker.observe([scheduled, taskStarted, completed, signaled, scheduled, taskStarted], 1_000);
    expect(tracker.shouldQuery(1_000 + QUERY_HOLD_MS - 1)).toBe(false);
    // A later completion does not restart the clock: the first unseen one is waiting.
    tracker.observe([completed, signaled, scheduled, taskStarted], 1_000 + QUERY_HOLD_MS - 1);
    expect(tracker.shouldQuery(1_000 + QUERY_HOLD_MS)).toBe(true);
  });

  it('has no news after a query until the next completion', () => {
    const tracker = new TaskTracker();
    tracker.observe([started, scheduled, taskStarted, completed], 0);
    tracker.queried();
    tracker.observe([activityCompleted, scheduled, taskStarted], 10);
    tracker.observe([], 10_000);
    expect(tracker.shouldQuery(10_000)).toBe(false);
  });

  it('counts a failed or timed-out task as no longer in flight', () => {
    for (const end of [EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED, EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT]) {
      const tracker = new TaskTracker();
      tracker.observe([started, scheduled, taskStarted, completed, signaled, scheduled, taskStarted, ev(end)], 0);
      expect(tracker.task).toBe('none');
      expect(tracker.shouldQuery(0)).toBe(true);
    }
  });

  it('tells how the run closed, and stops asking for queries', () => {
    const cases: Array<[number, string]> = [
      [EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, 'completed'],
      [EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED, 'failed'],
      [EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED, 'other'],
      [EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED, 'other'],
      [EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT, 'other'],
      [EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW, 'other'],
    ];
    for (const [type, kind] of cases) {
      const tracker = new TaskTracker();
      tracker.observe([started, scheduled, taskStarted, completed, ev(type)], 0);
      expect(tracker.closed).toBe(kind);
      expect(tracker.shouldQuery(0)).toBe(false);
    }
  });

  it('does not ride a task that will end the run: it waits for the close, or queries after a completion', () => {
    const workflowCompleted = ev(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED);
    // The last step's activity completed: the workflow completes in that task.
    const ending = new TaskTracker();
    ending.observe([started, scheduled, taskStarted, completed, activityScheduled], 0);
    ending.queried();
    ending.observe([activityCompleted, scheduled], 100);
    expect(ending.shouldQuery(100, true)).toBe(false);
    ending.observe([taskStarted, completed, workflowCompleted], 120);
    expect(ending.closed).toBe('completed');
    expect(ending.shouldQuery(120, true)).toBe(false);

    // Not the last step: the query rides as usual.
    const middle = new TaskTracker();
    middle.observe([started, scheduled, taskStarted, completed, activityScheduled], 0);
    middle.queried();
    middle.observe([activityCompleted, scheduled], 100);
    expect(middle.shouldQuery(100, false)).toBe(true);

    // An activity failed for good: the run fails in that task, whatever the step.
    const failing = new TaskTracker();
    failing.observe([started, scheduled, taskStarted, completed, activityScheduled], 0);
    failing.queried();
    failing.observe([ev(EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED), scheduled], 100);
    expect(failing.shouldQuery(100, false)).toBe(false);
    // If the run goes on after all, its completion is news: query then.
    failing.observe([taskStarted, completed], 130);
    expect(failing.shouldQuery(130, false)).toBe(true);
  });

  it('a signal task after an ending task is ridden again', () => {
    const tracker = new TaskTracker();
    tracker.observe([started, scheduled, taskStarted, completed, activityScheduled], 0);
    tracker.queried();
    tracker.observe([ev(EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED), scheduled, taskStarted, completed], 100);
    tracker.queried();
    tracker.observe([signaled, scheduled], 200);
    expect(tracker.shouldQuery(200, true)).toBe(true);
  });
});

describe('lastStepRunning', () => {
  const at = '2025-01-01T00:00:00.000Z';
  const plan = {
    summary: 's',
    steps: [
      { title: 'A', instructions: 'a' },
      { title: 'B', instructions: 'b' },
    ],
  };
  const story = (...bodies: Array<Record<string, unknown>>): StoryEvent[] =>
    bodies.map((body, i) => ({ ...body, seq: i + 1, at }) as StoryEvent);
  const runStarted = { type: 'run.started', task: 't' };
  const planReady = { type: 'plan.ready', plan, model: { name: 'm', offline: true } };
  const output = (stepIndex: number) => ({ type: 'step.output', stepIndex, attempt: 1, text: 'x' });
  const finished = (stepIndex: number) => ({ type: 'step.finished', stepIndex, durationMs: 1, attempts: 1, usage: null, truncated: false });

  it("is true only while the plan's last step runs", () => {
    expect(lastStepRunning(story(runStarted))).toBe(false);
    expect(lastStepRunning(story(runStarted, planReady, { type: 'step.started', stepIndex: 0, title: 'A' }, output(0)))).toBe(false);
    const last = story(
      runStarted,
      planReady,
      { type: 'step.started', stepIndex: 0, title: 'A' },
      finished(0),
      { type: 'step.started', stepIndex: 1, title: 'B' },
      output(1),
      output(1),
    );
    expect(lastStepRunning(last)).toBe(true);
    expect(lastStepRunning([...last, ...story(finished(1))])).toBe(false);
  });
});

describe('workerRecentlyActive (after a query timed out)', () => {
  const now = 1_800_000_000_000;
  const ts = (ms: number) => ({ seconds: { toString: () => String(Math.floor(ms / 1000)) }, nanos: (ms % 1000) * 1e6 });
  const beat = (agoMs: number) => ({ lastHeartbeatTime: ts(now - agoMs) });
  const task = (state: number, startedAgoMs?: number) => ({
    state,
    startedTime: startedAgoMs === undefined ? null : ts(now - startedAgoMs),
  });

  it('is true when an activity heartbeated or a workflow task started just now', () => {
    expect(workerRecentlyActive({ pendingActivities: [beat(900)] }, now)).toBe(true);
    expect(workerRecentlyActive({ pendingActivities: [beat(60_000), beat(400)] }, now)).toBe(true);
    expect(
      workerRecentlyActive({ pendingWorkflowTask: task(PendingWorkflowTaskState.PENDING_WORKFLOW_TASK_STATE_STARTED, 300) }, now),
    ).toBe(true);
  });

  it('is false for what a dead worker leaves: old heartbeats, a task that waits or started long ago, nothing at all', () => {
    expect(workerRecentlyActive({}, now)).toBe(false);
    expect(workerRecentlyActive({ pendingActivities: [beat(WORKER_SIGN_MS + 1)], pendingWorkflowTask: null }, now)).toBe(false);
    expect(workerRecentlyActive({ pendingActivities: [{ lastHeartbeatTime: null }] }, now)).toBe(false);
    expect(workerRecentlyActive({ pendingWorkflowTask: task(PendingWorkflowTaskState.PENDING_WORKFLOW_TASK_STATE_SCHEDULED) }, now)).toBe(
      false,
    );
    expect(
      workerRecentlyActive({ pendingWorkflowTask: task(PendingWorkflowTaskState.PENDING_WORKFLOW_TASK_STATE_STARTED, 12_000) }, now),
    ).toBe(false);
  });
});

describe('workerMissing (after a quiet history, for a run that publishes its story)', () => {
  const now = 1_800_000_000_000;
  const ts = (ms: number) => ({ seconds: { toString: () => String(Math.floor(ms / 1000)) }, nanos: (ms % 1000) * 1e6 });
  const { PENDING_ACTIVITY_STATE_SCHEDULED: SCHEDULED, PENDING_ACTIVITY_STATE_STARTED: STARTED } = PendingActivityState;
  const activity = (state: number, scheduledAgoMs: number, nextAttemptInMs?: number) => ({
    state,
    scheduledTime: ts(now - scheduledAgoMs),
    nextAttemptScheduleTime: nextAttemptInMs === undefined ? null : ts(now + nextAttemptInMs),
  });
  const task = (state: number, scheduledAgoMs: number) => ({ state, scheduledTime: ts(now - scheduledAgoMs) });

  it('is true when a workflow task or a due activity attempt has waited WORKER_SIGN_MS for a worker', () => {
    expect(
      workerMissing({ pendingWorkflowTask: task(PendingWorkflowTaskState.PENDING_WORKFLOW_TASK_STATE_SCHEDULED, WORKER_SIGN_MS) }, now),
    ).toBe(true);
    expect(workerMissing({ pendingActivities: [activity(SCHEDULED, 30_000)] }, now)).toBe(true);
    // A retry whose backoff ended a while ago and that nobody took.
    expect(workerMissing({ pendingActivities: [activity(SCHEDULED, 60_000, -WORKER_SIGN_MS - 1)] }, now)).toBe(true);
  });

  it('is false for work in hand or just handed out: a started activity, a fresh task, a retry still backing off, nothing', () => {
    expect(workerMissing({}, now)).toBe(false);
    expect(workerMissing({ pendingActivities: [activity(STARTED, 60_000)] }, now)).toBe(false);
    expect(workerMissing({ pendingActivities: [activity(SCHEDULED, 1_000)] }, now)).toBe(false);
    expect(workerMissing({ pendingActivities: [activity(SCHEDULED, 60_000, 2_000)] }, now)).toBe(false);
    expect(workerMissing({ pendingWorkflowTask: task(PendingWorkflowTaskState.PENDING_WORKFLOW_TASK_STATE_SCHEDULED, 1_000) }, now)).toBe(
      false,
    );
    expect(workerMissing({ pendingWorkflowTask: task(PendingWorkflowTaskState.PENDING_WORKFLOW_TASK_STATE_STARTED, 60_000) }, now)).toBe(
      false,
    );
  });
});
