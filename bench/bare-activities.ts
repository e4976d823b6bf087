/**
 * The activities of the bare baseline: planTask and executeStep with the same model calls and the
 * same heartbeats as activities/index.ts, but no progress reporter, so they never signal their
 * workflow. Together with bare-workflow.ts they measure what recording the story costs.
 */
import { Context } from '@temporalio/activity';
import type { LlmProvider } from '../activities/llm/provider';
import { LIMITS, type PlanResult, type StepInput, type StepResult } from '../contract/data';

export function createBareActivities(provider: LlmProvider, heartbeatIntervalMs = 1_000) {
  async function withHeartbeat<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const ctx = Context.current();
    ctx.heartbeat();
    const beat = setInterval(() => ctx.heartbeat(), heartbeatIntervalMs);
    try {
      return await work(ctx.cancellationSignal);
    } finally {
      clearInterval(beat);
    }
  }

  return {
    planTask({ task }: { task: string }): Promise<PlanResult> {
      return withHeartbeat(async (signal) => {
        const { plan, usage } = await provider.plan(task, signal);
        return { plan, model: provider.model, usage };
      });
    },

    executeStep(input: StepInput): Promise<StepResult> {
      return withHeartbeat(async (signal) => {
        const out = await provider.writeStep(input, { signal, onText: () => {}, maxChars: LIMITS.stepOutputMaxChars });
        return { ...out, model: provider.model };
      });
    },
  };
}

export type BareActivities = ReturnType<typeof createBareActivities>;
