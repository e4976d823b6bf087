/**
 * The home form, used as a browser without JavaScript uses it: GET / for the form's token, POST it
 * with the task, follow nothing. The run's workflow id is read from the redirect, not made from the
 * token: with access control on it comes from the token and the user (web/app/utils/run-id.ts).
 * These helpers send no session: with access control on, sign in first (tests/auth.test.ts).
 */

import type { PlanEdit } from '../contract/data';

/** The task the tests, the bench and the screenshots submit unless they say otherwise. */
export const SAMPLE_TASK = 'Create a hello world python function';

/** The form's token, as a browser gets it. */
export async function formToken(base: string, init: { signal?: AbortSignal } = {}): Promise<string> {
  const html = await (await fetch(`${base}/`, init)).text();
  const match = /name="token"[^>]*value="([0-9a-f-]{36})"|value="([0-9a-f-]{36})"[^>]*name="token"/.exec(html);
  if (!match) throw new Error('no token in the form');
  return (match[1] ?? match[2])!;
}

/** POST the form; the answer as it is (a 302 to the run page when the run started). `review` ticks "Review the plan". */
export function submitTask(
  base: string,
  task: string,
  token: string,
  init: { signal?: AbortSignal; review?: boolean } = {},
): Promise<Response> {
  const { review, ...rest } = init;
  const body = new URLSearchParams({ task, token, ...(review ? { review: 'on' } : {}) });
  return fetch(`${base}/?index`, { method: 'POST', body, redirect: 'manual', ...rest });
}

/**
 * Answer the review a run waits for, as the run page's form does: `token` names the answer (send
 * it again with the same token until it has an outcome: 302). `edit` is a PlanEdit.
 */
export function answerReviewForm(
  base: string,
  workflowId: string,
  answer: {
    token: string;
    revision: number;
    decision: 'approve' | 'reject';
    edit?: unknown;
    reason?: string;
    /** Other fields, e.g. a new limit at a budget stop (budgetSteps, budgetTokens...). */
    fields?: Record<string, string>;
  },
  init: { signal?: AbortSignal } = {},
): Promise<Response> {
  const body = new URLSearchParams({
    intent: answer.decision === 'approve' ? 'review-approve' : 'review-reject',
    token: answer.token,
    revision: String(answer.revision),
    ...(answer.edit !== undefined ? { edit: JSON.stringify(answer.edit) } : {}),
    ...(answer.reason !== undefined ? { reason: answer.reason } : {}),
    ...answer.fields,
  });
  return fetch(`${base}/runs/${encodeURIComponent(workflowId)}`, { method: 'POST', body, redirect: 'manual', ...init });
}

/** A person's answer on the run page's review form (the `review` update behind it); `token` is its update id and request id. */
export type ReviewForm =
  | { decision: 'approve'; revision: number; token: string; edit?: PlanEdit }
  | { decision: 'reject'; revision: number; token: string; reason: string };

/** What the run page's review action answered: an outcome (a redirect), a refusal (409), or none yet (resend the same token). */
export type ReviewPost = { kind: 'outcome' } | { kind: 'refused'; status: number; text: string } | { kind: 'no-outcome'; status: number };

/**
 * answerReviewForm, its answer read: a redirect (302/303) means the answer has an outcome; 409
 * that it was refused (already answered, stale revision, invalid edit, the run closed); 503
 * (Temporal or the worker down) and anything else: no outcome yet. A network error (the web app
 * down) throws. Without an outcome, resend with the same token.
 */
export async function postReview(
  base: string,
  workflowId: string,
  form: ReviewForm,
  init: { signal?: AbortSignal } = {},
): Promise<ReviewPost> {
  const res = await answerReviewForm(
    base,
    workflowId,
    form.decision === 'approve'
      ? { token: form.token, revision: form.revision, decision: 'approve', ...(form.edit ? { edit: form.edit } : {}) }
      : { token: form.token, revision: form.revision, decision: 'reject', reason: form.reason },
    init,
  );
  const text = await res.text().catch(() => '');
  if (res.status === 302 || res.status === 303) return { kind: 'outcome' };
  // The page carries the refusal in the workflow's words.
  if (res.status === 409) return { kind: 'refused', status: res.status, text: actionError(text) ?? text.slice(0, 300) };
  return { kind: 'no-outcome', status: res.status };
}

/** The workflow id a form post redirected to (`/runs/<id>`), or null when it did not start a run. */
export function runIdFromRedirect(res: Response): string | null {
  if (res.status !== 302) return null;
  return /^\/runs\/([^/?#]+)$/.exec(res.headers.get('location') ?? '')?.[1] ?? null;
}

/** Submit the form with this token; resolves with the run's workflow id once the form redirected. */
export async function submitForm(base: string, token: string, task = SAMPLE_TASK): Promise<string> {
  const res = await submitTask(base, task, token);
  const runId = runIdFromRedirect(res);
  if (runId === null) throw new Error(`the form answered ${res.status} ${res.headers.get('location') ?? ''}: ${await res.text()}`);
  return runId;
}

/** Start a run through the form, as a user does; returns its workflow id. */
export async function startRunViaForm(base: string, task = SAMPLE_TASK): Promise<string> {
  return submitForm(base, await formToken(base), task);
}

/**
 * The refusal's words in a 409 page. The review form's alert is rendered in the browser (the form
 * loads lazily), so they are read from the page's single-fetch data instead, where the action's
 * `{ intent, error }` appears as the intent's value followed by the error's. Diagnostics only.
 */
function actionError(html: string): string | null {
  const match = /\\"review-(?:approve|reject)\\",\\"((?:[^"\\]|\\\\[^"]|\\\\\\")*?)\\"/.exec(html);
  return match ? match[1].replace(/\\\\(.)/g, '$1').replace(/\\(.)/g, '$1') : null;
}
