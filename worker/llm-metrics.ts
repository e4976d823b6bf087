/**
 * What the model calls cost, for Prometheus: tokens and US dollars by model, counted by the
 * worker that made each call (the worker's /metrics). A call without a price counts its tokens
 * and one `buildstory_llm_unpriced_calls_total`, never a made-up cost.
 */
import { Counter, Registry } from 'prom-client';
import { costOf, type ModelInfo, type TokenUsage } from '../contract/data';

export const llmRegistry = new Registry();

const tokens = new Counter({
  name: 'buildstory_llm_tokens_total',
  help: 'Tokens of finished model calls, by model and kind (prompt, completion); estimated ones included',
  labelNames: ['model', 'kind'],
  registers: [llmRegistry],
});
const cost = new Counter({
  name: 'buildstory_llm_cost_usd_total',
  help: 'US dollars of finished model calls whose model has a price, by model',
  labelNames: ['model'],
  registers: [llmRegistry],
});
const unpriced = new Counter({
  name: 'buildstory_llm_unpriced_calls_total',
  help: 'Finished model calls whose model has no price in the table, by model',
  labelNames: ['model'],
  registers: [llmRegistry],
});

/** Count one finished call. */
export function recordLlmUsage(model: ModelInfo, usage: TokenUsage | null): void {
  if (!usage) return;
  tokens.inc({ model: model.name, kind: 'prompt' }, usage.promptTokens);
  tokens.inc({ model: model.name, kind: 'completion' }, usage.completionTokens);
  const dollars = costOf(usage, model.price);
  if (dollars === null) unpriced.inc({ model: model.name });
  else cost.inc({ model: model.name }, dollars);
}
