/**
 * The review forms' fields, read into what the workflow takes: a review answer (the run page) and
 * a re-run's edit (the re-run page). Shapes only; whether the edit fits the plan is the
 * workflow's to say (its validator), or applyPlanEdit's for a re-run, in the same words.
 */
import type { Budget, PlanEdit, ReviewRequest } from '../../../contract/data';
import { parseBudget } from '../../../config/web';
import { BUDGET_FIELD_NAMES } from '../components/budget-fields';
import { UUID } from './run-id';

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

/** The `edit` field: a PlanEdit as JSON, or absent. */
export function parseEditField(form: FormData): Parsed<PlanEdit | undefined> {
  const raw = form.get('edit');
  if (raw === null || raw === '') return { ok: true, value: undefined };
  if (typeof raw !== 'string' || raw.length > 64_000) return { ok: false, error: 'The edited plan could not be read: reload the page.' };
  try {
    const value = JSON.parse(raw) as unknown;
    if (typeof value !== 'object' || value === null || !Array.isArray((value as { steps?: unknown }).steps)) {
      return { ok: false, error: 'The edited plan could not be read: reload the page.' };
    }
    return { ok: true, value: value as PlanEdit };
  } catch {
    return { ok: false, error: 'The edited plan could not be read: reload the page.' };
  }
}

/** The form's token: a UUID that names this answer (or this re-run) so a resend is applied once. */
export function parseToken(form: FormData): string | null {
  const token = form.get('token');
  return typeof token === 'string' && UUID.test(token.toLowerCase()) ? token.toLowerCase() : null;
}

export function parseReviewForm(
  form: FormData,
  decision: ReviewRequest['decision'],
  by: string | null,
): { ok: true; request: ReviewRequest } | { ok: false; error: string } {
  const requestId = parseToken(form);
  if (!requestId) return { ok: false, error: 'The form is missing its token: reload the page.' };
  const revision = Number(form.get('revision'));
  if (!Number.isInteger(revision) || revision < 1)
    return { ok: false, error: 'The form does not say which review it answers: reload the page.' };
  if (decision === 'reject') {
    const reason = form.get('reason');
    return { ok: true, request: { requestId, revision, by, decision, reason: typeof reason === 'string' ? reason : '' } };
  }
  const edit = parseEditField(form);
  if (!edit.ok) return edit;
  // New limits, at a budget stop (the workflow holds them to the cap and above what is used).
  const limits = Object.entries(BUDGET_FIELD_NAMES)
    .map(([kind, field]) => [kind === 'timeMs' ? 'time' : kind, form.get(field)] as const)
    .filter((entry): entry is readonly [string, string] => typeof entry[1] === 'string' && entry[1].trim() !== '');
  let budget: Budget | undefined;
  if (limits.length > 0) {
    try {
      budget = parseBudget('limits', limits.map(([kind, value]) => `${kind}=${value.trim()}`).join(','));
    } catch (err) {
      return { ok: false, error: (err as Error).message.replace(/^Invalid configuration: limits: /, 'A limit is not valid: ') };
    }
  }
  return {
    ok: true,
    request: { requestId, revision, by, decision, ...(edit.value ? { edit: edit.value } : {}), ...(budget ? { budget } : {}) },
  };
}
