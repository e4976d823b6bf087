/** applyPlanEdit: what a person may change in a plan, and the changes the story records. */
import { LIMITS, type Plan } from './data';
import { applyPlanEdit, unchangedEdit } from './plan-edit';

const PLAN: Plan = {
  summary: 'S',
  steps: [
    { title: 'A', instructions: 'a' },
    { title: 'B', instructions: 'b' },
    { title: 'C', instructions: 'c' },
  ],
};

test('an unchanged edit changes nothing', () => {
  expect(applyPlanEdit(PLAN, unchangedEdit(PLAN, 0), 0)).toEqual({ ok: true, plan: PLAN, changes: [], ask: [] });
  expect(applyPlanEdit(PLAN, unchangedEdit(PLAN, 2, [2]), 2)).toEqual({ ok: true, plan: PLAN, changes: [], ask: [2] });
});

test('removed, moved, edited and added steps are each told, with their places', () => {
  const result = applyPlanEdit(
    PLAN,
    {
      steps: [
        { from: 2, title: 'C', instructions: 'c, better' },
        { from: 0, title: 'A2', instructions: 'a' },
        { from: null, title: 'New', instructions: '', ask: true },
      ],
    },
    0,
  );
  expect(result.ok && result.plan.steps.map((s) => s.title)).toEqual(['C', 'A2', 'New']);
  expect(result.ok && result.ask).toEqual([2]);
  expect(result.ok && result.changes).toEqual([
    { kind: 'removed', from: 1, title: 'B' },
    { kind: 'moved', from: 2, index: 0, title: 'C' },
    { kind: 'edited', index: 0, field: 'instructions', before: 'c', after: 'c, better' },
    { kind: 'moved', from: 0, index: 1, title: 'A2' },
    { kind: 'edited', index: 1, field: 'title', before: 'A', after: 'A2' },
    { kind: 'added', index: 2, title: 'New' },
  ]);
});

test('text is cleaned and trimmed as a task is', () => {
  const result = applyPlanEdit(PLAN, { steps: [{ from: 0, title: '  A\u0007 ', instructions: ' a\r\n' }] }, 0);
  expect(result.ok && result.plan.steps).toEqual([{ title: 'A', instructions: 'a' }]);
});

test.each([
  ['an empty title', { steps: [{ from: 0, title: ' ', instructions: '' }] }, 0, /^Step 1: A step title cannot be empty/],
  [
    'a too long instruction',
    { steps: [{ from: 1, title: 'B', instructions: 'x'.repeat(LIMITS.stepInstructionsMaxChars + 1) }] },
    1,
    /^Step 2: .*longer than/,
  ],
  ['no steps at all', { steps: [] }, 0, /at least one step/],
  [
    'too many steps',
    { steps: Array.from({ length: 8 }, () => ({ from: null, title: 't', instructions: '' })) },
    1,
    /at most 8 steps; this one would have 9/,
  ],
  ['a locked step', { steps: [{ from: 0, title: 'A', instructions: 'a' }] }, 1, /step 1, which cannot be edited/],
  ['a step that does not exist', { steps: [{ from: 7, title: 'A', instructions: 'a' }] }, 0, /step 8, which cannot be edited/],
  [
    'a step listed twice',
    {
      steps: [
        { from: 0, title: 'A', instructions: '' },
        { from: 0, title: 'A', instructions: '' },
      ],
    },
    0,
    /twice/,
  ],
  ['not an edit', 'approve', 0, /./],
])('%s is refused with a clear message', (_name, edit, lockedBefore, message) => {
  const result = applyPlanEdit(PLAN, edit, lockedBefore);
  expect(result.ok).toBe(false);
  expect(!result.ok && result.error).toMatch(message);
});

test('the locked steps stay whatever the edit says of the rest', () => {
  const result = applyPlanEdit(PLAN, { steps: [] }, 2);
  expect(result.ok && result.plan.steps).toEqual(PLAN.steps.slice(0, 2));
  expect(result.ok && result.changes).toEqual([{ kind: 'removed', from: 2, title: 'C' }]);
});

test('a step keeps its code mark (what verification runs) through an edit; an added step has none', () => {
  const plan: Plan = {
    summary: 'Code',
    steps: [
      { title: 'Ask', instructions: '' },
      { title: 'Write it', instructions: 'In Python.', code: { language: 'python' } },
    ],
  };
  const result = applyPlanEdit(
    plan,
    {
      steps: [
        { from: 1, title: 'Write it', instructions: 'In Python, with a test.' },
        { from: 0, title: 'Ask', instructions: '' },
        { from: null, title: 'Explain', instructions: '' },
      ],
    },
    0,
  );
  expect(result).toMatchObject({
    ok: true,
    plan: {
      steps: [
        { title: 'Write it', instructions: 'In Python, with a test.', code: { language: 'python' } },
        { title: 'Ask', instructions: '' },
        { title: 'Explain', instructions: '' },
      ],
    },
  });
  if (result.ok) expect(result.plan.steps.map((step) => 'code' in step)).toEqual([true, false, false]);
});
