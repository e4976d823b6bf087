import { data, type LoaderFunctionArgs, type MetaFunction } from '@remix-run/node';
import { Link, isRouteErrorResponse, useLoaderData, useParams, useRouteError } from '@remix-run/react';
import { EventList } from '~/components/EventList';
import { StatusBadge, type BadgeKind } from '~/components/StatusBadge';
import { StepList } from '~/components/StepList';
import { useRevalidateWhile } from '~/components/useRevalidateWhile';
import { loadRun, type RunView } from '~/utils/temporal.server';

export const meta: MetaFunction = ({ params }) => [{ title: `${params.runId ?? 'Run'} · Buildstory` }];

export async function loader({ params }: LoaderFunctionArgs) {
  const workflowId = params.runId ?? '';
  const view = await loadRun(workflowId);
  if (view.kind === 'not-found') throw data('No run with this id', { status: 404 });
  if (view.kind === 'unreachable') return data({ ...view, workflowId }, { status: 503 });
  if (!view.snapshot) return view;
  // Output chunks reach the page as each step's output; the page does not need them twice.
  const events = view.snapshot.events.filter((event) => event.type !== 'step.output');
  return { ...view, snapshot: { ...view.snapshot, events } };
}

type OkView = Extract<RunView, { kind: 'ok' }>;

function badgeFor(view: OkView): BadgeKind {
  switch (view.temporalStatus) {
    case 'RUNNING':
      return view.waitingForWorker ? 'waiting' : 'running';
    case 'COMPLETED':
      return 'completed';
    case 'FAILED':
      return 'failed';
    case 'CANCELLED':
      return 'cancelled';
    case 'TERMINATED':
      return 'terminated';
    case 'TIMED_OUT':
      return 'timed-out';
    default:
      return 'running';
  }
}

export default function RunPage() {
  const view = useLoaderData<typeof loader>();
  const open = view.kind === 'unreachable' || view.temporalStatus === 'RUNNING';
  // While Temporal is down each load waits for the connect deadline, so there is no point hurrying.
  useRevalidateWhile(open, view.kind === 'unreachable' ? 3_000 : 1_000);

  if (view.kind === 'unreachable') {
    return (
      <article className="space-y-6">
        <RunHeader workflowId={view.workflowId} badge="unreachable" />
        <p role="alert" className="rounded-md border border-amber-800 bg-amber-950/60 px-4 py-3 text-amber-100">
          {`Temporal is not reachable at ${view.address}.`} This page keeps retrying; the run is safe in Temporal
          and continues when the server is back.
        </p>
      </article>
    );
  }

  const { snapshot } = view;
  const task = snapshot?.task ?? view.task;
  return (
    <article className="space-y-8">
      <RunHeader workflowId={view.workflowId} badge={badgeFor(view)} offline={snapshot?.model?.offline ?? false} />

      <section aria-labelledby="task-heading" className="space-y-2">
        <h2 id="task-heading" className="text-xl font-semibold">
          Task
        </h2>
        {task !== null ? (
          <p className="whitespace-pre-wrap break-words rounded-md border border-slate-800 bg-slate-900/60 p-4 text-slate-100">
            {task}
          </p>
        ) : (
          <p className="text-sm text-slate-400">The task could not be read.</p>
        )}
      </section>

      {view.waitingForWorker ? (
        <p role="status" className="rounded-md border border-amber-800 bg-amber-950/60 px-4 py-3 text-amber-100">
          The run is waiting for a worker: none answered in time. Start one with <code>npm run worker</code>; the run
          picks up where it is.
        </p>
      ) : null}

      {view.error ? (
        <section aria-labelledby="error-heading" className="space-y-2">
          <h2 id="error-heading" className="text-xl font-semibold text-red-300">
            Error
          </h2>
          <pre className="whitespace-pre-wrap break-words rounded-md border border-red-800 bg-red-950/60 p-4 font-mono text-sm text-red-100">
            {view.error}
          </pre>
        </section>
      ) : null}

      {snapshot ? <StepList snapshot={snapshot} /> : null}

      {snapshot?.result ? (
        <section aria-labelledby="result-heading" className="space-y-2">
          <h2 id="result-heading" className="text-xl font-semibold">
            Result
          </h2>
          <pre className="max-h-[40rem] overflow-auto whitespace-pre-wrap break-words rounded-md border border-emerald-900 bg-slate-900 p-4 font-mono text-sm text-slate-100">
            {snapshot.result}
          </pre>
        </section>
      ) : null}

      {snapshot ? <EventList events={snapshot.events} startedAt={snapshot.startedAt} /> : null}

      <p className="text-sm">
        <a href={view.uiUrl} target="_blank" rel="noreferrer" className="text-sky-400 underline hover:text-sky-300">
          Open this run in the Temporal UI
        </a>
      </p>
    </article>
  );
}

function RunHeader({ workflowId, badge, offline = false }: { workflowId: string; badge: BadgeKind; offline?: boolean }) {
  return (
    <header className="flex flex-wrap items-center justify-between gap-3">
      <div className="space-y-1">
        <p className="text-sm text-slate-400">
          <Link to="/" className="text-sky-400 hover:text-sky-300">
            ← New task
          </Link>
        </p>
        <h1 className="break-all font-mono text-lg text-slate-200">{workflowId}</h1>
      </div>
      <div className="flex items-center gap-2">
        {offline ? (
          <span
            title="Produced by the built-in offline model, not an LLM"
            className="rounded-full border border-slate-600 px-3 py-1 text-xs text-slate-300"
          >
            offline model
          </span>
        ) : null}
        <StatusBadge kind={badge} />
      </div>
    </header>
  );
}

export function ErrorBoundary() {
  const error = useRouteError();
  const { runId } = useParams();
  const notFound = isRouteErrorResponse(error) && error.status === 404;
  return (
    <section className="space-y-4">
      <h1 className="text-2xl font-semibold">{notFound ? 'No run with this id' : 'The run could not be shown'}</h1>
      <p className="text-slate-300">
        {notFound ? (
          <>
            There is no run <code className="break-all font-mono">{runId}</code>. It may have been typed wrong, or
            Temporal may have deleted it after its retention period.
          </>
        ) : isRouteErrorResponse(error) ? (
          `${error.status} ${typeof error.data === 'string' ? error.data : error.statusText}`
        ) : (
          'Something went wrong while reading the run. The server log has the details.'
        )}
      </p>
      <Link to="/" className="text-sky-400 underline hover:text-sky-300">
        Start a new task
      </Link>
    </section>
  );
}
