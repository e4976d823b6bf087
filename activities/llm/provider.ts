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
  /**
   * The run's budget allows this many completion tokens (absent: no limit). Sent as max_tokens,
   * and the stream is cut where our count reaches it, for endpoints that ignore max_tokens.
   */
  maxTokens?: number;
}

export interface StepOutput {
  output: string;
  truncated: boolean;
  usage: TokenUsage | null;
  /** The output stopped where maxTokens ran out. */
  budgetCut?: boolean;
}

/** A plan cut short by maxTokens: the budget ran out before the plan was whole. */
export class BudgetExhaustedError extends Error {
  override name = 'BudgetExhaustedError';
  constructor() {
    super('The budget ran out while the model was writing the plan.');
  }
}

export interface LlmProvider {
  readonly model: ModelInfo;
  /**
   * Returns a plan that passed PlanSchema. Throws an ApplicationFailure (non-retryable for bad
   * requests and bad output) or a plain error that Temporal retries.
   */
  plan(task: string, signal: AbortSignal, maxTokens?: number): Promise<PlanOutput>;
  writeStep(input: StepInput, options: WriteStepOptions): Promise<StepOutput>;
}
