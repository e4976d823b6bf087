/**
 * Activities: planTask and executeStep. They own everything non-deterministic (the LLM, clocks)
 * and report progress to their own workflow while they run.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Logger } from 'pino';
import { activityProgressSignal } from '../contract/messages';
import {
  LIMITS,
  cleanOutput,
  type ActivityProgress,
  type ModelInfo,
  type TokenUsage,
  type PlanResult,
  type StepInput,
  type StepResult,
  type TaskWorkflow,
} from '../contract/data';
import type { LlmProvider } from './llm/provider';
import { DEFAULT_PROGRESS_OPTIONS, ProgressReporter, type ProgressReporterOptions } from './progress';

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
    async planTask({ task }: { task: string }): Promise<PlanResult> {
      return attempt(null, async (_reporter, signal) => {
        const { plan, usage } = await deps.provider.plan(task, signal);
        deps.onUsage?.(deps.provider.model, usage);
        return { plan, model: deps.provider.model, usage };
      });
    },

    async executeStep(input: StepInput): Promise<StepResult> {
      return attempt(input.stepIndex, async (reporter, signal) => {
        const out = await deps.provider.writeStep(input, {
          signal,
          onText: (text) => reporter.output(cleanOutput(text)),
          maxChars: LIMITS.stepOutputMaxChars,
        });
        deps.onUsage?.(deps.provider.model, out.usage);
        return { ...out, output: cleanOutput(out.output), model: deps.provider.model };
      });
    },
  };
}

export type Activities = ReturnType<typeof createActivities>;
