/**
 * The run page's POST action: cancel, run again, retry from the failed step, or answer the review
 * the run waits for. Answers with a redirect, or with `{ intent, error }` and a status: 400
 * unknown intent or a bad answer, 403 missing or wrong CSRF token (access control on), 404 unknown
 * run (or someone else's), 409 the run's state does not allow it (for a review: already answered,
 * answered for an older plan, or an edit the workflow refused), 503 Temporal unreachable or the
 * answer not confirmed yet (send it again with the same token: it is applied once).
 *
 * A review answer's fields: intent `review-approve` or `review-reject`, `revision` (the review
 * answered), `token` (a UUID: the request id, and the update's id), `edit` (approve, optional:
 * a PlanEdit as JSON) or `reason` (reject).
 */
import { data, redirect } from '@remix-run/node';
import { RUN_ACTION_INTENTS, type RunActionError, type RunActionIntent } from '~/components/RunActions';
import { CSRF_MESSAGE, csrfValid, type Viewer } from './auth.server';
import { readForm } from './form.server';
import {
  ReviewPendingError,
  RunNotFoundError,
  RunStateConflictError,
  answerReview,
  cancelRun,
  retryFromFailedStep,
  runAgain,
} from './run-control.server';
import { parseReviewForm } from './review-form.server';
import { TemporalUnreachableError } from './temporal-client.server';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function isIntent(value: unknown): value is RunActionIntent {
  return typeof value === 'string' && (RUN_ACTION_INTENTS as readonly string[]).includes(value);
}

export async function handleRunAction(request: Request, workflowId: string, viewer: Viewer) {
  const form = await readForm(request);
  const intent = form.get('intent');
  if (!csrfValid(viewer, form)) {
    return data<RunActionError>({ intent: typeof intent === 'string' ? intent : null, error: CSRF_MESSAGE }, { status: 403 });
  }
  if (!isIntent(intent)) {
    return data<RunActionError>({ intent: typeof intent === 'string' ? intent : null, error: 'Unknown action.' }, { status: 400 });
  }
  const runPage = `/runs/${encodeURIComponent(workflowId)}`;
  try {
    switch (intent) {
      case 'cancel':
        await cancelRun(workflowId, viewer.user);
        return redirect(runPage);
      case 'retry-failed-step':
        await retryFromFailedStep(workflowId, viewer.user);
        return redirect(runPage);
      case 'run-again': {
        const token = form.get('token');
        const fresh = typeof token === 'string' && UUID.test(token) ? token.toLowerCase() : undefined;
        const started = await runAgain(workflowId, viewer.user, fresh);
        return redirect(`/runs/${encodeURIComponent(started.workflowId)}`);
      }
      case 'review-approve':
      case 'review-reject': {
        const parsed = parseReviewForm(form, intent === 'review-approve' ? 'approve' : 'reject', viewer.user);
        if (!parsed.ok) return data<RunActionError>({ intent, error: parsed.error }, { status: 400 });
        await answerReview(workflowId, viewer.user, parsed.request);
        return redirect(runPage);
      }
    }
  } catch (err) {
    const status =
      err instanceof RunStateConflictError
        ? 409
        : err instanceof RunNotFoundError
          ? 404
          : err instanceof TemporalUnreachableError || err instanceof ReviewPendingError
            ? 503
            : null;
    if (status === null) throw err;
    return data<RunActionError>({ intent, error: (err as Error).message }, { status });
  }
}
