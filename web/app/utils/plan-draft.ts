/**
 * The plan form's state (the review editor and the re-run page): the steps a person may change,
 * and the PlanEdit they add up to. Pure, for the browser and the server alike; whether an edit
 * fits the plan is the workflow's to say (applyPlanEdit), not this module's.
 */
import { LIMITS, type Plan, type PlanEdit } from '../../../contract/data';

/** One editable step as the form holds it. `key` names the row for React; `from` is as in PlanEditStep. */
export interface DraftStep {
  key: string;
  from: number | null;
  title: string;
  instructions: string;
  ask: boolean;
}

/** The plan's steps from `lockedBefore` on, as proposed; `ask` lists the plan's steps that ask first. */
export function draftOf(plan: Plan, lockedBefore: number, ask: readonly number[] = []): DraftStep[] {
  return plan.steps.slice(lockedBefore).map((step, i) => {
    const from = lockedBefore + i;
    return { key: `step-${from}`, from, title: step.title, instructions: step.instructions, ask: ask.includes(from) };
  });
}

/** The draft with step `index` moved by `delta` places (stays put at either end). */
export function moveStep(steps: readonly DraftStep[], index: number, delta: -1 | 1): DraftStep[] {
  const to = index + delta;
  if (index < 0 || index >= steps.length || to < 0 || to >= steps.length) return [...steps];
  const next = [...steps];
  [next[index], next[to]] = [next[to], next[index]];
  return next;
}

export function removeStep(steps: readonly DraftStep[], index: number): DraftStep[] {
  return steps.filter((_, i) => i !== index);
}

/** Whether another step fits, `lockedBefore` locked steps included. */
export function canAddStep(steps: readonly DraftStep[], lockedBefore: number): boolean {
  return lockedBefore + steps.length < LIMITS.planMaxSteps;
}

/** The draft with an empty step at the end (the form's `key` must be new: a counter will do). */
export function addStep(steps: readonly DraftStep[], key: string): DraftStep[] {
  return [...steps, { key, from: null, title: '', instructions: '', ask: false }];
}

export function updateStep(steps: readonly DraftStep[], index: number, patch: Partial<Omit<DraftStep, 'key' | 'from'>>): DraftStep[] {
  return steps.map((step, i) => (i === index ? { ...step, ...patch } : step));
}

/** The draft as a PlanEdit, whatever changed (a re-run always sends one). */
export function planEditOf(steps: readonly DraftStep[]): PlanEdit {
  return {
    steps: steps.map(({ from, title, instructions, ask }) => ({ from, title, instructions, ...(ask ? { ask: true } : {}) })),
  };
}

/**
 * What Approve sends: null when the draft is the plan as proposed (same steps, same order, same
 * text, same "ask before running" marks), the PlanEdit otherwise.
 */
export function reviewEditOf(steps: readonly DraftStep[], plan: Plan, lockedBefore: number, ask: readonly number[] = []): PlanEdit | null {
  const proposed = draftOf(plan, lockedBefore, ask);
  const unchanged =
    steps.length === proposed.length &&
    steps.every((step, i) => {
      const was = proposed[i];
      return step.from === was.from && step.title === was.title && step.instructions === was.instructions && step.ask === was.ask;
    });
  return unchanged ? null : planEditOf(steps);
}
