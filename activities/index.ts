/**
 * Activities: planTask and executeStep. They own everything non-deterministic (the LLM, clocks)
 * and report progress to their own workflow while they run. Beside them: requestSlot and
 * closedRuns (fair share) and deliverWebhook (webhook.ts).
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Logger } from 'pino';
import { WorkflowNotFoundError } from '@temporalio/client';
import { acquireSignal, activityProgressSignal } from '../contract/messages';
import {
  LIMITS,
  cleanOutput,
  BUDGET_REACHED_ERROR_TYPE,
  completionAllowance,
  estimatePromptTokens,
  type ActivityProgress,
  type CallBudget,
  type PlanInput,
  type ModelInfo,
  type TokenUsage,
  type PlanResult,
  type StepInput,
  type StepResult,
  type TaskWorkflow,
  type QueueInput,
  SCHEDULER_WORKFLOW_NAME,
  schedulerWorkflowId,
} from '../contract/data';
import { planMessages, stepMessages } from './llm/prompts';
import { BudgetExhaustedError, type LlmProvider } from './llm/provider';
import { DEFAULT_PROGRESS_OPTIONS, ProgressReporter, type ProgressReporterOptions } from './progress';
import { createWebhookActivities } from './webhook';
import type { WebhookConfig } from '../config/webhooks';

export interface ActivityDeps {
  provider: LlmProvider;
  logger: Logger;
  progress?: Partial<ProgressReporterOptions>;
  /**
   * How often a running activity heartbeats. Well under the workflow's heartbeat timeout, so a
   * dead worker is noticed within seconds and cancellation arrives promptly.
   */
  heartbeatIntervalMs?: number;
  /** Told of each finished model call's usage (the worker counts tokens and cost for /metrics). */
  onUsage?: (model: ModelInfo, usage: TokenUsage | null) => void;
  /** The deployment's webhook (the worker's BUILDSTORY_WEBHOOK_URL and secret); null or absent: none. */
  webhook?: WebhookConfig | null;
}

export function createActivities(deps: ActivityDeps) {
  const heartbeatIntervalMs = deps.heartbeatIntervalMs ?? 1_000;

  /** Runs one attempt: heartbeats, reports retries and failures into the story, sends or settles progress. */
  async function attempt<T>(stepIndex: number | null, work: (reporter: ProgressReporter, signal: AbortSignal) => Promise<T>): Promise<T> {
    const ctx = Context.current();
    const { workflowExecution, attempt: number, activityType } = ctx.info;
    if (!workflowExecution) throw ApplicationFailure.nonRetryable('Buildstory activities run inside taskWorkflow only.');
    const log = deps.logger.child({
      workflowId: workflowExecution.workflowId,
      runId: workflowExecution.runId,
      activity: activityType,
      stepIndex,
      attempt: number,
    });
    // Signal the exact run that scheduled us: after a reset, a late signal must not reach the new run.
    const handle = ctx.client.workflow.getHandle<TaskWorkflow>(workflowExecution.workflowId, workflowExecution.runId);
    const send = (items: ActivityProgress[]) => handle.signal(activityProgressSignal, { runId: workflowExecution.runId, items });
    const reporter = new ProgressReporter(send, stepIndex, number, {
      ...DEFAULT_PROGRESS_OPTIONS,
      ...deps.progress,
      onError: (err) => log.warn({ err: String(err) }, 'progress signal failed; will resend'),
    });

    ctx.heartbeat();
    const beat = setInterval(() => ctx.heartbeat(), heartbeatIntervalMs);
    log.info({ model: deps.provider.model.name, offline: deps.provider.model.offline }, 'attempt started');
    try {
      if (number > 1) await reporter.attemptStarted();
      const result = await work(reporter, ctx.cancellationSignal);
      // The last output goes in the result, not in a signal of its own.
      await reporter.finish();
      log.info('attempt finished');
      return result;
    } catch (err) {
      if (ctx.cancellationSignal.aborted) {
        await reporter.close();
        log.info('attempt cancelled');
        // The SDK reports the CancelledFailure it aborted with as a cancellation, not a failure.
        throw ctx.cancellationSignal.reason ?? err;
      }
      const message = err instanceof Error ? err.message : String(err);
      reporter.attemptFailed(message);
      await reporter.close();
      log.warn({ err: message, type: (err as { type?: string }).type }, 'attempt failed');
      throw err;
    } finally {
      clearInterval(beat);
    }
  }

  return {
    ...createWebhookActivities({ webhook: deps.webhook ?? null, logger: deps.logger, heartbeatIntervalMs }),

    async planTask({ task, budget }: PlanInput): Promise<PlanResult> {
      return attempt(null, async (_reporter, signal) => {
        const allowance = callAllowance(budget, planMessages(task), deps.provider.model);
        try {
          const { plan, usage } = await deps.provider.plan(task, signal, allowance?.tokens);
          deps.onUsage?.(deps.provider.model, usage);
          return { plan, model: deps.provider.model, usage };
        } catch (err) {
          if (err instanceof BudgetExhaustedError && allowance) throw budgetReached(allowance.kind, err.message);
          throw err;
        }
      });
    },

    async executeStep(input: StepInput): Promise<StepResult> {
      return attempt(input.stepIndex, async (reporter, signal) => {
        const allowance = callAllowance(input.budget, stepMessages(input), deps.provider.model);
        const { budgetCut, ...out } = await deps.provider.writeStep(input, {
          signal,
          onText: (text) => reporter.output(cleanOutput(text)),
          maxChars: LIMITS.stepOutputMaxChars,
          ...(allowance ? { maxTokens: allowance.tokens } : {}),
        });
        deps.onUsage?.(deps.provider.model, out.usage);
        return {
          ...out,
          output: cleanOutput(out.output),
          model: deps.provider.model,
          ...(budgetCut && allowance ? { budgetReached: allowance.kind } : {}),
        };
      });
    },

    /**
     * Fair share: ask this task queue's scheduler for a slot for the calling run, starting the
     * scheduler if it is not running. The scheduler answers later with the `grant` signal.
     */
    async requestSlot(queue: QueueInput & { submittedAt: number }): Promise<void> {
      const { workflowExecution, taskQueue } = Context.current().info;
      if (!workflowExecution) throw ApplicationFailure.nonRetryable('requestSlot runs inside taskWorkflow only.');
      await Context.current().client.workflow.signalWithStart(SCHEDULER_WORKFLOW_NAME, {
        workflowId: schedulerWorkflowId(taskQueue),
        taskQueue,
        args: [],
        signal: acquireSignal,
        signalArgs: [{ ...queue, workflowId: workflowExecution.workflowId, runId: workflowExecution.runId }],
      });
    },

    /** The scheduler's check: which of these runs (their latest run, by workflow id) are no longer running. */
    async closedRuns(workflowIds: string[]): Promise<string[]> {
      const client = Context.current().client;
      const closed: string[] = [];
      for (const workflowId of workflowIds) {
        try {
          const { status } = await client.workflow.getHandle(workflowId).describe();
          if (status.name !== 'RUNNING') closed.push(workflowId);
        } catch (err) {
          if (err instanceof WorkflowNotFoundError) closed.push(workflowId);
          else throw err;
        }
      }
      return closed;
    },
  };
}

export type Activities = ReturnType<typeof createActivities>;

/**
 * The completion tokens a call may use under what is left of the run's budget, and which limit
 * sets it; null without limits. Throws, so that no call is made, when nothing is left or when a
 * cost limit cannot be held (the model has no price).
 */
function callAllowance(
  budget: CallBudget | undefined,
  messages: ReadonlyArray<{ content?: unknown }>,
  model: ModelInfo,
): { tokens: number; kind: 'tokens' | 'cost' } | null {
  if (budget?.tokens === undefined && budget?.cost === undefined) return null;
  const prompt = estimatePromptTokens(messages);
  if (budget.cost !== undefined && !model.price) {
    throw ApplicationFailure.nonRetryable(
      `The run has a cost limit, but the model ${model.name} has no price (BUILDSTORY_PRICES), so the limit cannot be held: no call was made.`,
      'BudgetUnenforceable',
    );
  }
  const byTokens = completionAllowance({ tokens: budget.tokens }, prompt, model.price);
  const byCost = completionAllowance({ cost: budget.cost }, prompt, model.price);
  const kind = byCost < byTokens ? 'cost' : 'tokens';
  const tokens = Math.min(byTokens, byCost);
  if (tokens <= 0) throw budgetReached(kind, 'What is left of the budget does not cover this call: it was not made.');
  return { tokens, kind };
}

function budgetReached(kind: 'tokens' | 'cost', message: string): ApplicationFailure {
  return ApplicationFailure.create({ message, type: BUDGET_REACHED_ERROR_TYPE, nonRetryable: true, details: [kind] });
}
