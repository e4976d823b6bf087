/**
 * A person's edit of a plan, checked and applied: one function for the workflow's review update
 * (its validator and its handler) and for the web app's re-run form, so both refuse the same
 * edits with the same words and tell the same changes.
 *
 * Pure; zod comes with it, so server side only (the workflow, the web server).
 */
import { LIMITS, type Plan, type PlanChange, type PlanEdit } from './data';
import { PlanEditSchema, PlanSchema } from './schemas';

export type AppliedEdit = { ok: true; plan: Plan; changes: PlanChange[]; ask: number[] } | { ok: false; error: string };

/**
 * The plan after `edit` replaces its steps from `lockedBefore` on. The steps before are locked
 * (done, or kept by a re-run); the edit may remove, reorder, change and add steps after them,
 * within the plan's bounds. `ask` lists the new plan's steps that will wait for a person.
 */
export function applyPlanEdit(plan: Plan, edit: unknown, lockedBefore: number): AppliedEdit {
  const parsed = PlanEditSchema.safeParse(edit);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const step = issue?.path[0] === 'steps' && typeof issue.path[1] === 'number' ? `Step ${lockedBefore + issue.path[1] + 1}: ` : '';
    return { ok: false, error: `${step}${issue?.message ?? 'The edited plan is not valid.'}` };
  }
  const steps = parsed.data.steps;
  const total = lockedBefore + steps.length;
  if (total < LIMITS.planMinSteps) return { ok: false, error: 'The plan needs at least one step.' };
  if (total > LIMITS.planMaxSteps) {
    return { ok: false, error: `A plan has at most ${LIMITS.planMaxSteps} steps; this one would have ${total}.` };
  }
  const seen = new Set<number>();
  for (const step of steps) {
    if (step.from === null) continue;
    if (step.from < lockedBefore || step.from >= plan.steps.length) {
      return { ok: false, error: `The edit refers to step ${step.from + 1}, which cannot be edited here: reload the plan.` };
    }
    if (seen.has(step.from)) return { ok: false, error: `The edit lists step ${step.from + 1} twice: reload the plan.` };
    seen.add(step.from);
  }
  const next = PlanSchema.safeParse({
    summary: plan.summary,
    steps: [
      ...plan.steps.slice(0, lockedBefore),
      ...steps.map(({ from, title, instructions }) => {
        // A step keeps its code mark (verification) through an edit; an added step has none.
        const code = from === null ? undefined : plan.steps[from].code;
        return code ? { title, instructions, code } : { title, instructions };
      }),
    ],
  });
  if (!next.success) return { ok: false, error: next.error.issues[0]?.message ?? 'The edited plan is not valid.' };
  const ask = steps.flatMap((step, i) => (step.ask ? [lockedBefore + i] : []));
  return { ok: true, plan: next.data, changes: changesOf(plan, next.data, steps, lockedBefore), ask };
}

/** What changed, step by step: removed, moved, edited (title, instructions) and added steps. */
function changesOf(before: Plan, after: Plan, steps: { from: number | null }[], lockedBefore: number): PlanChange[] {
  const changes: PlanChange[] = [];
  const kept = steps.map((step) => step.from).filter((from): from is number => from !== null);
  for (let from = lockedBefore; from < before.steps.length; from++) {
    if (!kept.includes(from)) changes.push({ kind: 'removed', from, title: before.steps[from].title });
  }
  // A kept step has moved when its place among the kept steps changed.
  const keptInOrder = [...kept].sort((a, b) => a - b);
  steps.forEach((step, i) => {
    const index = lockedBefore + i;
    const now = after.steps[index];
    if (step.from === null) {
      changes.push({ kind: 'added', index, title: now.title });
      return;
    }
    const was = before.steps[step.from];
    if (keptInOrder.indexOf(step.from) !== kept.indexOf(step.from))
      changes.push({ kind: 'moved', from: step.from, index, title: now.title });
    if (was.title !== now.title) changes.push({ kind: 'edited', index, field: 'title', before: was.title, after: now.title });
    if (was.instructions !== now.instructions) {
      changes.push({ kind: 'edited', index, field: 'instructions', before: was.instructions, after: now.instructions });
    }
  });
  return changes;
}

/** The plan's steps from `lockedBefore` on, unchanged, as an edit (what "approve as proposed" means). */
export function unchangedEdit(plan: Plan, lockedBefore: number, ask: number[] = []): PlanEdit {
  return {
    steps: plan.steps.slice(lockedBefore).map((step, i) => ({
      from: lockedBefore + i,
      title: step.title,
      instructions: step.instructions,
      ...(ask.includes(lockedBefore + i) ? { ask: true } : {}),
    })),
  };
}
