import { Form, useActionData, useNavigation } from '@remix-run/react';
import type { RunStatus } from '../../../contract/data';

/** The `intent` values the run page's action accepts (see run-actions.server.ts). */
export const RUN_ACTION_INTENTS = ['cancel', 'run-again', 'retry-failed-step', 'review-approve', 'review-reject'] as const;
export type RunActionIntent = (typeof RUN_ACTION_INTENTS)[number];

/** What the run page's action answers when it does not redirect. */
export interface RunActionError {
  intent: string | null;
  error: string;
}

function isRunActionError(value: unknown): value is RunActionError {
  return typeof value === 'object' && value !== null && typeof (value as { error?: unknown }).error === 'string';
}

const BUTTON =
  'rounded-md px-3 py-1.5 text-sm font-medium focus:outline-none focus:ring-2 focus:ring-offset-2 focus:ring-offset-slate-950 disabled:cursor-wait disabled:opacity-60';
const PRIMARY = `${BUTTON} bg-sky-600 text-white hover:bg-sky-500 focus:ring-sky-400`;
const SECONDARY = `${BUTTON} border border-slate-600 text-slate-100 hover:border-sky-500 hover:text-sky-200 focus:ring-sky-400`;
const DANGER = `${BUTTON} border border-red-700 text-red-200 hover:bg-red-950 focus:ring-red-400`;

/**
 * The run's buttons: Cancel while it runs; Run again once it ended; Retry from the failed step
 * after a failure or a cancellation. One plain POST form (works without JavaScript) to the run
 * page's action; every button is disabled while one is being submitted. Shows the action's error.
 *
 * `runAgainToken` (a fresh UUID from the loader) names the new run, so submitting "Run again"
 * twice without JavaScript still starts one run. `csrf` is the session's CSRF token (access
 * control on), sent back as the hidden `csrf` field.
 */
export function RunActions({
  status,
  waitingForWorker = false,
  runAgainToken,
  csrf = null,
}: {
  status: RunStatus;
  waitingForWorker?: boolean;
  runAgainToken?: string;
  csrf?: string | null;
}) {
  const navigation = useNavigation();
  const actionData = useActionData();
  const pending = navigation.state === 'submitting' ? navigation.formData?.get('intent') : null;
  const busy = typeof pending === 'string' && (RUN_ACTION_INTENTS as readonly string[]).includes(pending);
  // The review editor shows the errors of its own answers.
  const error = isRunActionError(actionData) && !actionData.intent?.startsWith('review-') ? actionData.error : null;

  const canCancel = status === 'running';
  const canRunAgain = status !== 'running';
  const canRetry = status === 'failed' || status === 'cancelled';
  if (!canCancel && !canRunAgain && !canRetry) return null;

  return (
    <Form method="post" aria-label="Run actions" className="space-y-2">
      {runAgainToken ? <input type="hidden" name="token" value={runAgainToken} /> : null}
      {csrf ? <input type="hidden" name="csrf" value={csrf} /> : null}
      <div className="flex flex-wrap items-center gap-2">
        {canRetry ? (
          <button type="submit" name="intent" value="retry-failed-step" disabled={busy} aria-describedby="retry-hint" className={PRIMARY}>
            {pending === 'retry-failed-step'
              ? 'Retrying…'
              : status === 'failed'
                ? 'Retry from the failed step'
                : 'Resume from the cancelled step'}
          </button>
        ) : null}
        {canRunAgain ? (
          <button
            type="submit"
            name="intent"
            value="run-again"
            disabled={busy}
            aria-describedby="run-again-hint"
            className={canRetry ? SECONDARY : PRIMARY}
          >
            {pending === 'run-again' ? 'Starting…' : 'Run again'}
          </button>
        ) : null}
        {canCancel ? (
          <button type="submit" name="intent" value="cancel" disabled={busy} aria-describedby="cancel-hint" className={DANGER}>
            {pending === 'cancel' ? 'Cancelling…' : 'Cancel'}
          </button>
        ) : null}
      </div>
      <p className="text-xs text-slate-400">
        {canRetry ? (
          <span id="retry-hint">Retrying keeps the plan and the finished steps and redoes only the rest, on this page. </span>
        ) : null}
        {canRunAgain ? <span id="run-again-hint">Running again starts a new run of the same task from scratch. </span> : null}
        {canCancel ? (
          <span id="cancel-hint">
            {waitingForWorker
              ? 'Cancelling takes effect when a worker picks the run up.'
              : 'Cancelling stops the current step and ends the run; finished steps are kept.'}
          </span>
        ) : null}
      </p>
      {error ? (
        <p role="alert" className="rounded-md border border-red-800 bg-red-950/60 px-3 py-2 text-sm text-red-200">
          {error}
        </p>
      ) : null}
    </Form>
  );
}
