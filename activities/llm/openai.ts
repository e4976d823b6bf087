/**
 * The LlmProvider for any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, LM Studio...).
 *
 * Plans use structured output (json_schema) and fall back to json_object mode for servers that
 * lack it; steps are streamed so the story shows text as it is written. Every error leaves
 * through toLlmFailure, so the activity sees either a decided ApplicationFailure or cancellation.
 */
import OpenAI from 'openai';
import {
  APIConnectionTimeoutError,
  APIError,
  APIUserAbortError,
  ContentFilterFinishReasonError,
  LengthFinishReasonError,
  OpenAIError,
} from 'openai/error';
import { zodResponseFormat } from 'openai/helpers/zod';
import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import type { CompletionUsage } from 'openai/resources/completions';
import { z } from 'zod';
import type { LlmConfig } from '../../config';
import { PlanSchema } from '../../contract/schemas';
import {
  CODE_LANGUAGES,
  LIMITS,
  estimatePromptTokens,
  estimateTokens,
  type ModelInfo,
  type Plan,
  type StepInput,
  type TokenUsage,
} from '../../contract/data';
import { LlmOutputError, LlmStreamError, asError, describeZodIssues, toLlmFailure, type LlmErrorContext } from './errors';
import { planMessages, stepMessages } from './prompts';
import { BudgetExhaustedError, type LlmProvider, type PlanOutput, type StepOutput, type WriteStepOptions } from './provider';

export type OpenAiConfig = Extract<LlmConfig, { kind: 'openai' }>;

const DEFAULT_BASE_URL = 'https://api.openai.com/v1';

/**
 * What we ask the model for. Deliberately loose (no min/max): strict json_schema accepts only a
 * subset of JSON Schema, and the bounds are checked afterwards with PlanSchema anyway.
 */
const PlanWireSchema = z.object({
  summary: z.string().describe('One sentence: how the task will be done'),
  steps: z
    .array(
      z.object({
        title: z.string().describe('A short imperative title for the step'),
        instructions: z.string().describe('What to produce in this step, in one or two sentences'),
        // Nullable for strict structured output, optional for servers (and fixtures) that leave it out.
        code: z
          .object({ language: z.enum(CODE_LANGUAGES) })
          .nullish()
          .describe('Set on the one step that writes code and its tests; null on every other step'),
      }),
    )
    .describe(`Between ${LIMITS.planMinSteps} and ${LIMITS.planMaxSteps} steps, in order`),
});

export class OpenAiProvider implements LlmProvider {
  readonly model: ModelInfo;
  private readonly client: OpenAI;
  private readonly context: LlmErrorContext;
  /** Set in 'auto' mode once the server turned json_schema down; later plans go to json_object. */
  private jsonSchemaUnsupported = false;

  constructor(private readonly config: OpenAiConfig) {
    this.model = { name: config.model, offline: false, price: config.price ?? null };
    this.context = { baseURL: config.baseURL ?? DEFAULT_BASE_URL, timeoutMs: config.timeoutMs, model: config.model };
    this.client = new OpenAI({
      apiKey: config.apiKey,
      baseURL: config.baseURL,
      maxRetries: 0, // let Temporal own retries
      timeout: config.timeoutMs,
      fetch: realmSafeFetch,
    });
  }

  async plan(task: string, signal: AbortSignal, maxTokens?: number): Promise<PlanOutput> {
    const mode = this.config.structuredOutput;
    const limit = maxTokens !== undefined && Number.isFinite(maxTokens) ? { max_tokens: maxTokens } : {};
    try {
      if (mode === 'json_object' || (mode === 'auto' && this.jsonSchemaUnsupported)) {
        return await this.planWithJsonObject(task, signal, limit);
      }
      try {
        return await this.planWithJsonSchema(task, signal, limit);
      } catch (err) {
        if (mode !== 'auto' || !lacksJsonSchema(err)) throw err;
        this.jsonSchemaUnsupported = true;
        return await this.planWithJsonObject(task, signal, limit);
      }
    } catch (err) {
      // Cut at the budget's max_tokens: the budget ran out, the model did nothing wrong.
      if (err instanceof LengthFinishReasonError && 'max_tokens' in limit && !signal.aborted) throw new BudgetExhaustedError();
      throw this.failure(err, signal);
    }
  }

  async writeStep(input: StepInput, { signal, onText, maxChars: outputCap, maxTokens }: WriteStepOptions): Promise<StepOutput> {
    const budgeted = maxTokens !== undefined && Number.isFinite(maxTokens);
    // Where our count of the completion reaches the budget (four characters to a token).
    const budgetChars = budgeted ? Math.max(0, maxTokens * 4) : Infinity;
    const maxChars = Math.min(outputCap, budgetChars);
    let output = '';
    let truncated = false;
    let usage: TokenUsage | null = null;
    let stalled = false;
    let sawLength = false;
    let finished = false;
    let idle: NodeJS.Timeout | undefined;
    try {
      // The client's timeout covers the wait for the response headers...
      const messages = stepMessages(input);
      const stream = await this.client.chat.completions.create(
        {
          model: this.config.model,
          messages,
          stream: true,
          stream_options: { include_usage: true },
          ...(budgeted ? { max_tokens: maxTokens } : {}),
        },
        { signal },
      );
      // ...and this one a stream that goes quiet afterwards.
      const touch = () => {
        clearTimeout(idle);
        idle = setTimeout(() => {
          stalled = true;
          stream.controller.abort();
        }, this.config.timeoutMs);
      };
      touch();
      const chunks = stream[Symbol.asyncIterator]();
      try {
        for (;;) {
          const next: IteratorResult<ChatCompletionChunk> = await chunks.next().catch((err: unknown) => {
            throw err instanceof OpenAIError ? err : new LlmStreamError(err);
          });
          if (next.done) break;
          touch();
          const chunk = next.value;
          if (chunk.usage) usage = toUsage(chunk.usage);
          const choice = chunk.choices[0];
          const text = choice?.delta?.content;
          if (text) {
            const room = maxChars - output.length;
            if (text.length > room) {
              const part = cutAt(text, room);
              output += part;
              if (part) onText(part);
              truncated = true;
              break; // return() below aborts the request: we read no further
            }
            output += text;
            onText(text);
          }
          if (choice?.finish_reason) finished = true;
          if (choice?.finish_reason === 'length') {
            truncated = true;
            sawLength = true;
          }
          if (choice?.finish_reason === 'content_filter') throw new ContentFilterFinishReasonError();
        }
      } finally {
        clearTimeout(idle);
        await chunks.return?.();
      }
      // An aborted stream ends quietly in openai-node: find out why it ended.
      if (signal.aborted) throw abortReason(signal);
      if (stalled) throw new APIConnectionTimeoutError();
      // Every answer ends with a finish reason; a body that ends without one was cut off on the
      // way (a proxy that closed the connection cleanly): the text so far is not the answer.
      if (!finished && !truncated)
        throw new LlmStreamError(new Error('the answer ended without a finish reason: the connection was closed early'));
      // A stream we cut short (or an endpoint that does not report usage) leaves us to count.
      const budgetCut = budgeted && truncated && (output.length >= budgetChars || sawLength);
      return { output, truncated, usage: usage ?? estimatedUsage(messages, output), ...(budgetCut ? { budgetCut: true } : {}) };
    } catch (err) {
      throw this.failure(err, signal);
    }
  }

  private async planWithJsonSchema(task: string, signal: AbortSignal, limit: { max_tokens?: number }): Promise<PlanOutput> {
    const completion = await this.client.chat.completions.parse(
      {
        model: this.config.model,
        messages: planMessages(task),
        ...limit,
        response_format: zodResponseFormat(PlanWireSchema, 'plan'),
      },
      { signal },
    );
    const message = completion.choices[0]?.message;
    if (message?.refusal) throw refusal(message.refusal);
    if (!message?.parsed) throw new LlmOutputError("The model's plan is not valid: the answer was empty.");
    return { plan: validatePlan(message.parsed), usage: toUsage(completion.usage) };
  }

  private async planWithJsonObject(task: string, signal: AbortSignal, limit: { max_tokens?: number }): Promise<PlanOutput> {
    const completion = await this.client.chat.completions.create(
      { model: this.config.model, messages: planMessages(task), response_format: { type: 'json_object' }, ...limit },
      { signal },
    );
    const choice = completion.choices[0];
    if (choice?.finish_reason === 'length') throw new LengthFinishReasonError();
    if (choice?.finish_reason === 'content_filter') throw new ContentFilterFinishReasonError();
    if (choice?.message.refusal) throw refusal(choice.message.refusal);
    const content = choice?.message.content?.trim();
    if (!content) throw new LlmOutputError("The model's plan is not valid: the answer was empty.");
    return { plan: validatePlan(JSON.parse(stripFences(content))), usage: toUsage(completion.usage) };
  }

  /** Cancellation wins over whatever error the abort caused on its way out. */
  private failure(err: unknown, signal: AbortSignal): Error {
    if (signal.aborted) return abortReason(signal);
    return toLlmFailure(err, this.context);
  }
}

/** Checks the plan against the contract, with a plain message for the likely problems. */
export function validatePlan(value: unknown): Plan {
  const steps = (value as { steps?: unknown } | null)?.steps;
  if (Array.isArray(steps) && steps.length < LIMITS.planMinSteps) {
    throw new LlmOutputError(
      `The model's plan is not valid: it has no steps (a plan needs ${LIMITS.planMinSteps} to ${LIMITS.planMaxSteps}).`,
    );
  }
  if (Array.isArray(steps) && steps.length > LIMITS.planMaxSteps) {
    throw new LlmOutputError(`The model's plan is not valid: it has ${steps.length} steps, more than the limit of ${LIMITS.planMaxSteps}.`);
  }
  const result = PlanSchema.safeParse(value);
  if (!result.success) throw new LlmOutputError(`The model's plan is not valid: ${describeZodIssues(result.error)}.`);
  return result.data;
}

/** A 400/422 that names response_format or json_schema: the server cannot do structured output. */
function lacksJsonSchema(err: unknown): boolean {
  return (
    err instanceof APIError &&
    (err.status === 400 || err.status === 422) &&
    /response.?format|json.?schema|structured.?output/i.test(err.message)
  );
}

function refusal(text: string): LlmOutputError {
  return new LlmOutputError(`The model refused to plan this task: ${text.replace(/\s+/g, ' ').slice(0, 300)}`);
}

/** Models in json_object mode still wrap JSON in ``` fences now and then. */
function stripFences(text: string): string {
  const fenced = /^```[a-zA-Z]*\s*\n?([\s\S]*?)\n?```$/.exec(text);
  return fenced ? fenced[1].trim() : text;
}

/** The first `length` characters, without splitting a surrogate pair. */
function cutAt(text: string, length: number): string {
  if (length <= 0) return '';
  const code = text.charCodeAt(length - 1);
  return code >= 0xd800 && code <= 0xdbff ? text.slice(0, length - 1) : text.slice(0, length);
}

function abortReason(signal: AbortSignal): Error {
  // Under Temporal this is the CancelledFailure the worker expects; elsewhere an AbortError.
  const reason: unknown = signal.reason;
  return reason instanceof Error || asError(reason) instanceof Error ? (reason as Error) : new APIUserAbortError();
}

/**
 * openai-node flattens a fetch rejection that is not `instanceof Error` to "{}" and then misses
 * timeouts; under jest, Node's fetch errors come from another realm. Hand it errors of ours.
 */
const realmSafeFetch = (input: string | URL | Request, init?: RequestInit): Promise<Response> =>
  fetch(input, init).catch((err: unknown) => {
    throw asError(err);
  });

/** Usage counted here, about four characters to a token, and marked as an estimate. */
function estimatedUsage(messages: Array<{ content?: unknown }>, output: string): TokenUsage {
  const prompt = estimatePromptTokens(messages);
  const completion = estimateTokens(output);
  return { promptTokens: prompt, completionTokens: completion, totalTokens: prompt + completion, estimated: true };
}

function toUsage(usage: CompletionUsage | null | undefined): TokenUsage | null {
  if (!usage) return null;
  return {
    promptTokens: usage.prompt_tokens,
    completionTokens: usage.completion_tokens,
    totalTokens: usage.total_tokens,
  };
}
