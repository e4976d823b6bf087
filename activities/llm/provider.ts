/**
 * The one small interface that planning and step execution go through.
 * Two implementations: OpenAI-compatible (./openai) and the embedded offline model (./offline).
 */
import type { ModelInfo, Plan, StepInput, TokenUsage } from '../../contract/data';

export interface PlanOutput {
  plan: Plan;
  usage: TokenUsage | null;
}

export interface WriteStepOptions {
  /** Aborted when the activity is cancelled; pass it to every request. */
  signal: AbortSignal;
  /** Called with each piece of text as the model writes it. */
  onText: (text: string) => void;
  /** Stop reading once this much text arrived; the result is then marked truncated. */
  maxChars: number;
}

export interface StepOutput {
  output: string;
  truncated: boolean;
  usage: TokenUsage | null;
}

export interface LlmProvider {
  readonly model: ModelInfo;
  /**
   * Returns a plan that passed PlanSchema. Throws an ApplicationFailure (non-retryable for bad
   * requests and bad output) or a plain error that Temporal retries.
   */
  plan(task: string, signal: AbortSignal): Promise<PlanOutput>;
  writeStep(input: StepInput, options: WriteStepOptions): Promise<StepOutput>;
}
