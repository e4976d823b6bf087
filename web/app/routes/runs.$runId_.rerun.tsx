/**
 * "Edit and re-run from step k" (`/runs/:runId/rerun?from=k`, k 1-based): the earlier run's plan
 * as a form, steps 1..k-1 locked with their outputs (the new run keeps them), k.. editable. The
 * action starts the re-run and goes to its page. Not nested in the run page (the trailing `_`):
 * it is a page of its own.
 */
import { randomUUID } from 'node:crypto';
import { data, redirect, type ActionFunctionArgs, type LoaderFunctionArgs, type MetaFunction } from '@remix-run/node';
import { Link, isRouteErrorResponse, useLoaderData, useParams, useRouteError } from '@remix-run/react';
import { AccountBar } from '~/components/AccountBar';
import PlanForm from '~/components/PlanForm';
import { CSRF_MESSAGE, csrfValid, requireUser } from '~/utils/auth.server';
import { readForm } from '~/utils/form.server';
import { parseEditField, parseToken } from '~/utils/review-form.server';
import { RunNotFoundError, RunStateConflictError } from '~/utils/run-control.server';
import { MissingOwnerAttributeError } from '~/utils/run-owner.server';
import { InvalidEditError, loadRerunSource, startRerun } from '~/utils/run-rerun.server';
import { TemporalUnreachableError } from '~/utils/temporal-client.server';

export const meta: MetaFunction = ({ params }) => [{ title: `Re-run ${params.runId ?? ''} · Buildstory` }];

/** The earlier run, or the response that says why it cannot be re-run. */
async function source(workflowId: string, owner: string | null) {
  try {
    return await loadRerunSource(workflowId, owner);
  } catch (err) {
    // Someone else's run is "not found" too, as on the run page.
    if (err instanceof RunNotFoundError) throw data('No run with this id', { status: 404 });
    if (err instanceof TemporalUnreachableError) throw data(err.message, { status: 503 });
    if (err instanceof RunStateConflictError) throw data(err.message, { status: 409 });
    throw err;
  }
}

export async function loader({ request, params }: LoaderFunctionArgs) {
  const { user, csrf } = await requireUser(request);
  const workflowId = params.runId ?? '';
  const run = await source(workflowId, user);
  const from = Number(new URL(request.url).searchParams.get('from') ?? '1');
  if (!Number.isInteger(from) || from < 1 || from > run.lastFrom + 1) {
    throw data(`This run can be re-run from step 1 to step ${run.lastFrom + 1}: the steps before must have completed.`, { status: 400 });
  }
  const snapshot = run.view.snapshot!;
  return {
    workflowId,
    task: run.task,
    plan: snapshot.plan!,
    // The page shows the outputs the re-run keeps, not the others'.
    steps: snapshot.steps.map((step) => (step.index < from - 1 ? step : { ...step, output: '' })),
    fromStep: from - 1,
    // Names the new run: the same submission (resent after an error) starts it once.
    token: randomUUID(),
    user,
    csrf,
  };
}

export async function action({ request, params }: ActionFunctionArgs) {
  const viewer = await requireUser(request);
  const workflowId = params.runId ?? '';
  const form = await readForm(request);
  if (!csrfValid(viewer, form)) return data({ error: CSRF_MESSAGE }, { status: 403 });
  const token = parseToken(form);
  if (!token) return data({ error: 'The form is missing its token: reload the page.' }, { status: 400 });
  const edit = parseEditField(form);
  if (!edit.ok) return data({ error: edit.error }, { status: 400 });
  if (!edit.value) return data({ error: 'The form is missing the plan: reload the page.' }, { status: 400 });
  const fromStep = Number(form.get('from')) - 1;
  try {
    const started = await startRerun(workflowId, viewer.user, { token, fromStep, edit: edit.value, by: viewer.user });
    return redirect(`/runs/${encodeURIComponent(started.workflowId)}`);
  } catch (err) {
    const status =
      err instanceof InvalidEditError
        ? 400
        : err instanceof RunNotFoundError
          ? 404
          : err instanceof RunStateConflictError
            ? 409
            : err instanceof TemporalUnreachableError || err instanceof MissingOwnerAttributeError
              ? 503
              : null;
    if (status === null) throw err;
    return data({ error: (err as Error).message }, { status });
  }
}

export default function RerunPage() {
  const { workflowId, task, plan, steps, fromStep, token, user, csrf } = useLoaderData<typeof loader>();
  return (
    <article className="space-y-8">
      <AccountBar user={user} csrf={csrf} />
      <header className="space-y-1">
        <p className="text-sm text-slate-400">
          <Link to={`/runs/${workflowId}`} className="text-sky-400 hover:text-sky-300">
            ← Back to the run
          </Link>
        </p>
        <h1 className="text-2xl font-semibold tracking-tight">Edit and re-run from step {fromStep + 1}</h1>
        <p className="text-sm text-slate-400">
          A new run of <span className="break-all font-mono text-slate-300">{workflowId}</span>: the earlier run stays as it is.
        </p>
      </header>

      <section aria-labelledby="task-heading" className="space-y-2">
        <h2 id="task-heading" className="text-xl font-semibold">
          Task
        </h2>
        <p className="whitespace-pre-wrap break-words rounded-md border border-slate-800 bg-slate-900/60 p-4 text-slate-100">{task}</p>
      </section>

      {/* A new `from` is a new form: its draft starts again from the plan. */}
      <PlanForm key={fromStep} mode={{ kind: 'rerun' }} plan={plan} steps={steps} lockedBefore={fromStep} token={token} csrf={csrf} />
    </article>
  );
}

export function ErrorBoundary() {
  const error = useRouteError();
  const { runId } = useParams();
  const status = isRouteErrorResponse(error) ? error.status : 500;
  return (
    <section className="space-y-4">
      <h1 className="text-2xl font-semibold">{status === 404 ? 'No run with this id' : 'This run cannot be re-run from here'}</h1>
      <p className="text-slate-300">
        {isRouteErrorResponse(error) && typeof error.data === 'string'
          ? error.data
          : 'Something went wrong while reading the run. The server log has the details.'}
      </p>
      {runId && status !== 404 ? (
        <Link to={`/runs/${runId}`} className="text-sky-400 underline hover:text-sky-300">
          Back to the run
        </Link>
      ) : (
        <Link to="/" className="text-sky-400 underline hover:text-sky-300">
          Start a new task
        </Link>
      )}
    </section>
  );
}
