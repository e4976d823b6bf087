/**
 * taskWorkflow: plan a task with an LLM, run each step as its own activity, assemble the result.
 *
 * The workflow owns the story (ordering, progress, final state); activities own everything
 * non-deterministic and report progress back through the `activityProgress` signal.
 */
import {
  ActivityCancellationType,
  ApplicationFailure,
  TemporalFailure,
  TimeoutFailure,
  isCancellation,
  proxyActivities,
  setHandler,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { NON_RETRYABLE_LLM_ERRORS, RUN_FAILED_ERROR_TYPE, type TaskInput, type TaskWorkflow } from '../contract/data';
import { activityProgressSignal, progressQuery, storyQuery } from '../contract/messages';
import { PlanSchema } from '../contract/schemas';
import { Story } from './story';

/** Activities heartbeat every second; three missed beats mean the worker is gone. */
export const HEARTBEAT_TIMEOUT = '10 seconds';
export const PLAN_TIMEOUT = '2 minutes';
export const STEP_TIMEOUT = '10 minutes';
export const MAX_ATTEMPTS = 5;

const retry: ActivityOptions['retry'] = {
  initialInterval: '1 second',
  backoffCoefficient: 2,
  maximumInterval: '30 seconds',
  maximumAttempts: MAX_ATTEMPTS,
  nonRetryableErrorTypes: Object.values(NON_RETRYABLE_LLM_ERRORS),
};

// A cancelled run waits for its activity to stop, so "cancelled" in the story means nothing still runs.
const common: ActivityOptions = {
  heartbeatTimeout: HEARTBEAT_TIMEOUT,
  retry,
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
};
const { planTask } = proxyActivities<Activities>({ ...common, startToCloseTimeout: PLAN_TIMEOUT });
const { executeStep } = proxyActivities<Activities>({ ...common, startToCloseTimeout: STEP_TIMEOUT });

export async function taskWorkflow(input: TaskInput): ReturnType<TaskWorkflow> {
  // The web app validated the input already; a bad input started some other way fails the run clearly.
  const task = input?.task;
  if (typeof task !== 'string' || task.trim().length === 0) {
    throw ApplicationFailure.nonRetryable('The task is empty.', 'InvalidTask');
  }
  // Date in workflow code is the SDK's deterministic workflow clock.
  const story = new Story(task, () => new Date());
  setHandler(progressQuery, (args) => story.snapshot(args));
  setHandler(storyQuery, (args) => story.eventsPage(args));
  const { runId } = workflowInfo();
  setHandler(activityProgressSignal, (report) => {
    if (story.isOpen && report.runId === runId) story.applyProgress(report.items);
  });

  let phase = 'Planning';
  try {
    const planned = await planTask({ task });
    // Validated in the activity too; checking here keeps a bad plan out of the story whatever produced it.
    const parsed = PlanSchema.safeParse(planned.plan);
    if (!parsed.success) {
      throw ApplicationFailure.nonRetryable(`The model's plan is not usable: ${parsed.error.issues[0]?.message}`, 'InvalidPlan');
    }
    const plan = parsed.data;
    story.planReady(plan, planned.model);

    for (let stepIndex = 0; stepIndex < plan.steps.length; stepIndex++) {
      phase = `Step ${stepIndex + 1} (${plan.steps[stepIndex].title})`;
      story.stepStarted(stepIndex);
      const result = await executeStep({ task, plan, stepIndex, digest: story.digest() });
      story.stepFinished(stepIndex, result);
    }

    story.completed(story.assemble());
    return story.fullSnapshot();
  } catch (err) {
    if (isCancellation(err)) {
      story.cancelled();
      throw err;
    }
    // Anything but a Temporal failure is a bug in this code: fail the workflow task so a fix can resume it.
    if (!(err instanceof TemporalFailure)) throw err;
    story.failed(`${phase} failed: ${describeFailure(err)}`);
    // The snapshot rides in the failure's details so a closed run renders without a worker.
    throw ApplicationFailure.create({
      message: story.fullSnapshot().error ?? 'The run failed.',
      type: RUN_FAILED_ERROR_TYPE,
      nonRetryable: true,
      details: [story.fullSnapshot()],
      cause: err instanceof Error ? err : undefined,
    });
  }
}

/**
 * The message a user should read: the first ApplicationFailure or timeout in the chain (what the
 * activity decided), not the ActivityFailure wrapper nor the raw error it carries as its cause.
 */
function describeFailure(err: unknown): string {
  let current: unknown = err;
  let innermost = 'The run failed.';
  while (current instanceof Error) {
    if (current instanceof ApplicationFailure || current instanceof TimeoutFailure) return current.message;
    if (current.message) innermost = current.message;
    current = current.cause;
  }
  return innermost;
}
