/**
 * Where a story event's lag goes, read from the run's history afterwards: an event's `at` is the
 * start of the workflow task that recorded it (the workflow's clock); the task's completion is
 * when the story could first be seen. So lag = worker (started → completed) + delivery
 * (completed → arrival). Before `at`: what made the task (a progress signal, an activity's
 * completion, the start) reached the server at its trigger time; trigger → started is the wait
 * for the task, not counted in the lag figures and given beside them.
 */
import type { Client } from '@temporalio/client';

const WORKFLOW_TASK_STARTED = 6;
const WORKFLOW_TASK_COMPLETED = 7;
/**
 * Events that make a workflow task: the start, an activity's end, a timer, a signal, a cancel
 * request. (Not the events a completion writes for its commands, such as ActivityTaskScheduled,
 * nor ActivityTaskStarted, written at the activity's end with the time it started.)
 */
const TRIGGERS = new Set([1, 12, 13, 14, 16, 18, 20, 26]);

interface Timestamp {
  seconds?: { toString(): string } | number | null;
  nanos?: number | null;
}

function ms(ts: Timestamp | null | undefined): number {
  if (!ts) return Number.NaN;
  return Number(String(ts.seconds ?? 0)) * 1000 + Math.floor((ts.nanos ?? 0) / 1e6);
}

/**
 * Time of the first workflow task completion, and lookups from an event's `at` to the completion
 * of its task and to what triggered that task.
 */
export async function workflowTaskTimes(
  client: Client,
  workflowId: string,
): Promise<{
  firstCompletedMs: number;
  startedMs: number;
  completionOf(atMs: number): number | null;
  triggerOf(atMs: number): number | null;
}> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const events = history.events ?? [];
  const tasks: Array<{ started: number; completed: number; trigger: number }> = [];
  let pending: { started: number; trigger: number } | null = null;
  // The first event since the last completion other than the task's own: what the task is for.
  let trigger: number | null = null;
  for (const event of events) {
    const time = ms(event.eventTime);
    if (event.eventType === WORKFLOW_TASK_STARTED) pending = { started: time, trigger: trigger ?? time };
    else if (event.eventType === WORKFLOW_TASK_COMPLETED && pending !== null) {
      tasks.push({ ...pending, completed: time });
      pending = null;
      trigger = null;
    } else if (TRIGGERS.has(event.eventType ?? 0)) trigger ??= time;
  }
  return {
    startedMs: ms(events[0]?.eventTime),
    firstCompletedMs: tasks[0]?.completed ?? Number.NaN,
    completionOf(atMs) {
      const task = tasks.find((t) => Math.abs(t.started - atMs) <= 1);
      return task ? task.completed : null;
    },
    triggerOf(atMs) {
      const task = tasks.find((t) => Math.abs(t.started - atMs) <= 1);
      return task ? task.trigger : null;
    },
  };
}
