import { applyPlanEdit } from '../../../contract/plan-edit';
import { LIMITS, type Plan } from '../../../contract/data';
import { addStep, canAddStep, draftOf, moveStep, planEditOf, removeStep, reviewEditOf, updateStep } from './plan-draft';

const plan: Plan = {
  summary: 'Three steps',
  steps: [
    { title: 'Design', instructions: 'Sketch it' },
    { title: 'Build', instructions: 'Write it' },
    { title: 'Test', instructions: 'Check it' },
  ],
};

describe('the plan form', () => {
  test('a draft left as proposed sends no edit', () => {
    expect(reviewEditOf(draftOf(plan, 0), plan, 0)).toBeNull();
    expect(reviewEditOf(draftOf(plan, 1, [2]), plan, 1, [2])).toBeNull();
  });

  test('a changed title or instruction sends every step from the review point, with its origin', () => {
    const draft = updateStep(draftOf(plan, 0), 1, { instructions: 'Write it in Python' });
    expect(reviewEditOf(draft, plan, 0)).toEqual({
      steps: [
        { from: 0, title: 'Design', instructions: 'Sketch it' },
        { from: 1, title: 'Build', instructions: 'Write it in Python' },
        { from: 2, title: 'Test', instructions: 'Check it' },
      ],
    });
  });

  test('moved, removed and added steps keep the right `from`s, and the workflow reads the same changes', () => {
    let draft = moveStep(draftOf(plan, 0), 2, -1); // Design, Test, Build
    draft = removeStep(draft, 0); // Test, Build
    draft = updateStep(addStep(draft, 'new-1'), 2, { title: 'Ship', instructions: 'Release it' });
    const edit = reviewEditOf(draft, plan, 0);
    expect(edit?.steps.map((step) => step.from)).toEqual([2, 1, null]);
    const applied = applyPlanEdit(plan, edit, 0);
    expect(applied.ok && applied.plan.steps.map((step) => step.title)).toEqual(['Test', 'Build', 'Ship']);
    expect(applied.ok && applied.changes.map((change) => change.kind).sort()).toEqual(['added', 'moved', 'moved', 'removed']);
  });

  test('"ask before running" alone is a change, and only checked steps carry `ask`', () => {
    const draft = updateStep(draftOf(plan, 0), 1, { ask: true });
    const edit = reviewEditOf(draft, plan, 0);
    expect(edit?.steps.map((step) => step.ask)).toEqual([undefined, true, undefined]);
    expect(reviewEditOf(updateStep(draftOf(plan, 0, [1]), 1, { ask: false }), plan, 0, [1])?.steps[1]).toEqual({
      from: 1,
      title: 'Build',
      instructions: 'Write it',
    });
  });

  test('at a step gate the locked steps are not in the draft', () => {
    const draft = draftOf(plan, 2);
    expect(draft.map((step) => step.from)).toEqual([2]);
    expect(planEditOf(draft)).toEqual({ steps: [{ from: 2, title: 'Test', instructions: 'Check it' }] });
  });

  test('moving past either end changes nothing; a step is added only within the plan limit', () => {
    const draft = draftOf(plan, 0);
    expect(moveStep(draft, 0, -1)).toEqual(draft);
    expect(moveStep(draft, 2, 1)).toEqual(draft);
    let full = draft;
    for (let i = 0; canAddStep(full, 0); i++) full = addStep(full, `new-${i}`);
    expect(full).toHaveLength(LIMITS.planMaxSteps);
    expect(canAddStep(draftOf(plan, 2), LIMITS.planMaxSteps - 1)).toBe(false);
  });
});
