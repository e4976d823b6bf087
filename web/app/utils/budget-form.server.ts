/**
 * A run's limits from the home form: what the person set, each within the deployment's cap, and
 * the deployment's default for the rest. Empty fields take the default.
 */
import type { Budget, BudgetKind } from '../../../contract/data';
import { parseBudget } from '../../../config/web';
import { BUDGET_FIELD_NAMES } from '../components/budget-fields';

/** The form's fields, by limit. */
export const BUDGET_FIELDS: Record<BudgetKind, string> = BUDGET_FIELD_NAMES;

const SPELLING: Record<BudgetKind, string> = { tokens: 'tokens', cost: 'cost', timeMs: 'time', steps: 'steps' };

/** `kind`: the limit above its cap, when that is what is wrong. */
export type BudgetFormResult = { ok: true; budget: Budget } | { ok: false; error: string; kind?: BudgetKind };

export function readBudgetForm(form: FormData, limits: { default: Budget; cap: Budget }): BudgetFormResult {
  const parts: string[] = [];
  for (const [kind, field] of Object.entries(BUDGET_FIELDS) as Array<[BudgetKind, string]>) {
    const value = form.get(field);
    if (typeof value === 'string' && value.trim() !== '') parts.push(`${SPELLING[kind]}=${value.trim()}`);
  }
  let requested: Budget;
  try {
    requested = parseBudget('limits', parts.join(','));
  } catch (err) {
    return { ok: false, error: (err as Error).message.replace(/^Invalid configuration: limits: /, 'A limit is not valid: ') };
  }
  return withinCap(requested, limits);
}

/**
 * The limits a run gets when a person asked for `requested`: each within the deployment's cap
 * (an error naming the first one above it), the deployment's default for the rest. The form
 * and the API (which takes the limits as JSON) both end here.
 */
export function withinCap(requested: Budget, limits: { default: Budget; cap: Budget }): BudgetFormResult {
  for (const kind of Object.keys(requested) as BudgetKind[]) {
    const cap = limits.cap[kind];
    if (cap !== undefined && requested[kind]! > cap) {
      return { ok: false, kind, error: `The ${SPELLING[kind]} limit can be at most ${kind === 'timeMs' ? `${cap / 1000} s` : cap} here.` };
    }
  }
  return { ok: true, budget: { ...limits.default, ...requested } };
}
