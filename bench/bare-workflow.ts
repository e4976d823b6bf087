/**
 * The bare baseline workflow: plans and runs each step as taskWorkflow does (same activities, same
 * options), but keeps no story, registers no query or signal handler, and returns the joined
 * outputs. Bundled on its own and run on its own task queue by the benchmark.
 */
import { ActivityCancellationType, proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import { HEARTBEAT_TIMEOUT, MAX_ATTEMPTS, PLAN_TIMEOUT, STEP_TIMEOUT } from '../workflows';
import { LIMITS, NON_RETRYABLE_LLM_ERRORS, type TaskInput } from '../contract/data';
import type { BareActivities } from './bare-activities';

const common: ActivityOptions = {
  heartbeatTimeout: HEARTBEAT_TIMEOUT,
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '30 seconds',
    maximumAttempts: MAX_ATTEMPTS,
    nonRetryableErrorTypes: Object.values(NON_RETRYABLE_LLM_ERRORS),
  },
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
};
const { planTask } = proxyActivities<BareActivities>({ ...common, startToCloseTimeout: PLAN_TIMEOUT });
const { executeStep } = proxyActivities<BareActivities>({ ...common, startToCloseTimeout: STEP_TIMEOUT });

export async function bareTaskWorkflow({ task }: TaskInput): Promise<string> {
  const { plan } = await planTask({ task });
  const outputs: string[] = [];
  for (let stepIndex = 0; stepIndex < plan.steps.length; stepIndex++) {
    // The same bound as the story's digest of earlier outputs.
    const digest = outputs.join('\n\n').slice(-LIMITS.digestMaxChars);
    const { output } = await executeStep({ task, plan, stepIndex, digest });
    outputs.push(output);
  }
  return outputs.join('\n\n');
}
