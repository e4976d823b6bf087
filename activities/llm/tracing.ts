/**
 * A span per model call, when tracing is on (the worker wraps its provider with `traced`): a
 * client span in the activity's trace with what the GenAI semantic conventions name (the model,
 * the token counts) and ours (the call, offline or not), never the prompt, the task or the text.
 * A failed call records the error's type, not its message.
 */
import { SpanKind, SpanStatusCode, trace, type Span } from '@opentelemetry/api';
import { ApplicationFailure } from '@temporalio/common';
import type { TokenUsage } from '../../contract/data';
import type { LlmProvider } from './provider';

const tracer = trace.getTracer('buildstory-llm');

/** `provider`, each of its calls in a span of its own. */
export function traced(provider: LlmProvider): LlmProvider {
  const { name, offline } = provider.model;
  const call = async <T extends { usage: TokenUsage | null }>(
    kind: 'plan' | 'step',
    extra: Record<string, number>,
    fn: () => Promise<T>,
    more: (out: T) => Record<string, boolean> = () => ({}),
  ): Promise<T> =>
    tracer.startActiveSpan(
      `chat ${name}`,
      {
        kind: SpanKind.CLIENT,
        attributes: {
          'gen_ai.operation.name': 'chat',
          'gen_ai.system': offline ? 'buildstory.offline' : 'openai',
          'gen_ai.request.model': name,
          'buildstory.llm.offline': offline,
          'buildstory.llm.call': kind,
          ...extra,
        },
      },
      async (span: Span) => {
        try {
          const out = await fn();
          if (out.usage) {
            span.setAttributes({
              'gen_ai.usage.input_tokens': out.usage.promptTokens,
              'gen_ai.usage.output_tokens': out.usage.completionTokens,
              'buildstory.llm.usage_estimated': out.usage.estimated ?? false,
            });
          }
          span.setAttributes(more(out));
          return out;
        } catch (err) {
          // The type only: a message may quote the model's output.
          const type = err instanceof ApplicationFailure && err.type ? err.type : err instanceof Error ? err.name : 'unknown';
          span.setAttribute('error.type', type);
          span.setStatus({ code: SpanStatusCode.ERROR });
          throw err;
        } finally {
          span.end();
        }
      },
    );
  return {
    model: provider.model,
    plan: (task, signal, maxTokens) => call('plan', {}, () => provider.plan(task, signal, maxTokens)),
    writeStep: (input, options) =>
      call(
        'step',
        { 'buildstory.step_index': input.stepIndex },
        () => provider.writeStep(input, options),
        (out) => ({ 'buildstory.llm.truncated': out.truncated, 'buildstory.llm.budget_cut': out.budgetCut ?? false }),
      ),
  };
}
