/** The cost counters, read back from their registry as Prometheus scrapes them. */
import { llmRegistry, recordLlmUsage } from './llm-metrics';

const usage = { promptTokens: 1_000, completionTokens: 500, totalTokens: 1_500 };
const value = async (pattern: RegExp) => Number(pattern.exec(await llmRegistry.metrics())?.[1] ?? NaN);

test('a priced call counts its tokens and its dollars by model', async () => {
  recordLlmUsage({ name: 'priced-model', offline: false, price: { inputPerMillion: 2, outputPerMillion: 8 } }, usage);
  recordLlmUsage({ name: 'priced-model', offline: false, price: { inputPerMillion: 2, outputPerMillion: 8 } }, usage);
  expect(await value(/^buildstory_llm_tokens_total\{model="priced-model",kind="prompt"\} (\S+)$/m)).toBe(2_000);
  expect(await value(/^buildstory_llm_tokens_total\{model="priced-model",kind="completion"\} (\S+)$/m)).toBe(1_000);
  // 1,000 × $2/M + 500 × $8/M = $0.006 a call.
  expect(await value(/^buildstory_llm_cost_usd_total\{model="priced-model"\} (\S+)$/m)).toBeCloseTo(0.012, 9);
});

test('a call without a price counts tokens and an unpriced call, and no dollars', async () => {
  recordLlmUsage({ name: 'mystery-model', offline: false, price: null }, usage);
  expect(await value(/^buildstory_llm_tokens_total\{model="mystery-model",kind="completion"\} (\S+)$/m)).toBe(500);
  expect(await value(/^buildstory_llm_unpriced_calls_total\{model="mystery-model"\} (\S+)$/m)).toBe(1);
  expect(await llmRegistry.metrics()).not.toMatch(/buildstory_llm_cost_usd_total\{model="mystery-model"\}/);
});
