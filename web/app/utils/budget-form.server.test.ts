import { readBudgetForm } from './budget-form.server';

const limits = { default: { tokens: 10_000, timeMs: 600_000 }, cap: { tokens: 50_000, cost: 2, steps: 8 } };
const form = (fields: Record<string, string>) => {
  const data = new FormData();
  for (const [k, v] of Object.entries(fields)) data.set(k, v);
  return data;
};

test('empty fields take the default; set ones replace it, lower or higher up to the cap', () => {
  expect(readBudgetForm(form({}), limits)).toEqual({ ok: true, budget: { tokens: 10_000, timeMs: 600_000 } });
  expect(readBudgetForm(form({ budgetTokens: '40000', budgetCost: '0.5', budgetTime: '5m', budgetSteps: ' ' }), limits)).toEqual({
    ok: true,
    budget: { tokens: 40_000, cost: 0.5, timeMs: 300_000 },
  });
});

test.each([
  [{ budgetTokens: '60000' }, 'The tokens limit can be at most 50000 here.'],
  [{ budgetCost: '3' }, 'The cost limit can be at most 2 here.'],
  [{ budgetTokens: 'lots' }, /^A limit is not valid: tokens must be a whole number/],
  [{ budgetTime: '10 minutes' }, /^A limit is not valid: time must be/],
])('%j is refused: %s', (fields, message) => {
  const result = readBudgetForm(form(fields), limits);
  expect(result.ok).toBe(false);
  expect(!result.ok && result.error).toMatch(message);
});
