import { randomUUID } from 'node:crypto';
import { data, type ActionFunctionArgs, type LoaderFunctionArgs, type MetaFunction } from '@remix-run/node';
import { Link, isRouteErrorResponse, useLoaderData, useParams, useRevalidator, useRouteError } from '@remix-run/react';
import { useEffect } from 'react';
import { AccountBar } from '~/components/AccountBar';
import { EventList } from '~/components/EventList';
import { Markdown } from '~/components/Markdown';
import { RunActions } from '~/components/RunActions';
import { StatusBadge } from '~/components/StatusBadge';
import { StepList } from '~/components/StepList';
import { useRevalidateWhile } from '~/components/useRevalidateWhile';
import { useRunStory, type StreamState } from '~/components/useRunStory';
import { requireUser } from '~/utils/auth.server';
import { handleRunAction } from '~/utils/run-actions.server';
import { emptyView, type StoryView } from '~/utils/story-view';
import { loadRun, type RunView } from '~/utils/run-read.server';
import { appStatusOf, storyStatusOf, type AppStatus } from '~/utils/run-status';
import type { RunStatus } from '../../../contract/data';

export const meta: MetaFunction = ({ params }) => [{ title: `${params.runId ?? 'Run'} · Buildstory` }];

export async function loader({ request, params }: LoaderFunctionArgs) {
  const { user, csrf } = await requireUser(request);
  const workflowId = params.runId ?? '';
  // Someone else's run is "not found" too: the answer does not tell whether the id exists.
  const view = await loadRun(workflowId, user);
  if (view.kind === 'not-found') throw data('No run with this id', { status: 404 });
  if (view.kind === 'unreachable') return data({ ...view, workflowId, user, csrf }, { status: 503 });
  // A fresh token per render names the run "Run again" starts: a double submit starts one run.
  const runAgainToken = randomUUID();
  if (!view.snapshot) return { ...view, runAgainToken, user, csrf };
  // Output chunks live on in each step's output; the page does not need them twice.
  const events = view.snapshot.events.filter((event) => event.type !== 'step.output');
  return { ...view, runAgainToken, user, csrf, snapshot: { ...view.snapshot, events } };
}

export async function action({ request, params }: ActionFunctionArgs) {
  const viewer = await requireUser(request);
  return handleRunAction(request, params.runId ?? '', viewer);
}

type Account = { user: string | null; csrf: string | null };
type OkView = Extract<RunView, { kind: 'ok' }> & { runAgainToken: string } & Account;

/** The run's status: the live story's once it has one, Temporal's for runs closed without a story. */
function runStatus(view: OkView, story: StoryView | null): RunStatus {
  if (story && (story.status !== 'running' || view.temporalStatus === 'RUNNING')) return story.status;
  return storyStatusOf(view.temporalStatus);
}

function badgeFor(view: OkView, status: RunStatus, stream: StreamState): AppStatus {
  if (status === 'running') {
    if (stream === 'unreachable') return 'unreachable';
    return stream === 'waiting-for-worker' || (stream === 'connecting' && view.waitingForWorker) ? 'waiting' : 'running';
  }
  // Terminated and timed-out runs tell no end in their story: Temporal's status says which.
  const closedAs = appStatusOf(view.temporalStatus);
  return closedAs === 'terminated' || closedAs === 'timed-out' ? closedAs : status;
}

export default function RunPage() {
  const view = useLoaderData<typeof loader>();
  useRevalidateWhile(view.kind === 'unreachable', 3_000);

  if (view.kind === 'unreachable') {
    return (
      <article className="space-y-6">
        <AccountBar user={view.user} csrf={view.csrf} />
        <RunHeader workflowId={view.workflowId} badge="unreachable" />
        <p role="alert" className="rounded-md border border-amber-800 bg-amber-950/60 px-4 py-3 text-amber-100">
          {`Temporal is not reachable at ${view.address}.`} This page keeps retrying; the run is safe in Temporal and continues when the
          server is back.
        </p>
      </article>
    );
  }
  // A new run under this id (a retry, a reset from the Temporal UI) gets a fresh story.
  return <LiveRun key={`${view.runId}:${view.snapshot?.lastSeq ?? 0}`} view={view} />;
}

function LiveRun({ view }: { view: OkView }) {
  const revalidator = useRevalidator();
  const open = view.temporalStatus === 'RUNNING';
  const initial: StoryView = view.snapshot
    ? { ...view.snapshot, runId: view.runId, gap: false }
    : emptyView(view.runId, view.task ?? '', '');
  const { view: story, stream } = useRunStory(view.workflowId, initial, open, () => revalidator.revalidate());
  const status = runStatus(view, view.snapshot || story.lastSeq > 0 ? story : null);
  // A gap cannot happen with ids and Last-Event-ID; if it ever does, reload rather than show less.
  useEffect(() => {
    if (story.gap) revalidator.revalidate();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [story.gap]);
  // A failed or cancelled run may be retried or reset elsewhere (the Temporal UI): look now and then.
  useRevalidateWhile(!open && status !== 'completed', 5_000);

  const task = story.task || view.task;
  const hasStory = Boolean(view.snapshot) || story.lastSeq > 0;
  return (
    <article className="space-y-8">
      <AccountBar user={view.user} csrf={view.csrf} />
      <RunHeader workflowId={view.workflowId} badge={badgeFor(view, status, stream)} offline={story.model?.offline ?? false} />

      <section aria-labelledby="task-heading" className="space-y-2">
        <h2 id="task-heading" className="text-xl font-semibold">
          Task
        </h2>
        {task ? (
          <p className="whitespace-pre-wrap break-words rounded-md border border-slate-800 bg-slate-900/60 p-4 text-slate-100">{task}</p>
        ) : (
          <p className="text-sm text-slate-400">The task could not be read.</p>
        )}
      </section>

      <RunActions status={status} waitingForWorker={stream === 'waiting-for-worker'} runAgainToken={view.runAgainToken} csrf={view.csrf} />

      <StreamNotice stream={open ? stream : 'off'} waitingAtLoad={view.waitingForWorker} />

      {story.error || view.error ? (
        <section aria-labelledby="error-heading" className="space-y-2">
          <h2 id="error-heading" className="text-xl font-semibold text-red-300">
            Error
          </h2>
          <pre className="whitespace-pre-wrap break-words rounded-md border border-red-800 bg-red-950/60 p-4 font-mono text-sm text-red-100">
            {story.error ?? view.error}
          </pre>
        </section>
      ) : null}

      {hasStory ? <StepList snapshot={story} /> : null}

      {story.result ? (
        <section aria-labelledby="result-heading" className="space-y-2">
          <h2 id="result-heading" className="text-xl font-semibold">
            Result
          </h2>
          <div data-testid="result" className="rounded-md border border-emerald-900 bg-slate-900 p-4">
            <Markdown>{story.result}</Markdown>
          </div>
        </section>
      ) : null}

      {hasStory ? <EventList events={story.events} startedAt={story.startedAt} /> : null}

      <p className="text-sm">
        <a href={view.uiUrl} target="_blank" rel="noreferrer" className="text-sky-400 underline hover:text-sky-300">
          Open this run in the Temporal UI
        </a>
      </p>
    </article>
  );
}

function StreamNotice({ stream, waitingAtLoad }: { stream: StreamState; waitingAtLoad: boolean }) {
  if (stream === 'waiting-for-worker' || (stream === 'connecting' && waitingAtLoad)) {
    return (
      <p role="status" className="rounded-md border border-amber-800 bg-amber-950/60 px-4 py-3 text-amber-100">
        The run is waiting for a worker: none answered in time. Start one with <code>npm run worker</code>; the run picks up where it is,
        and this page follows it.
      </p>
    );
  }
  if (stream === 'unreachable') {
    return (
      <p role="status" className="rounded-md border border-amber-800 bg-amber-950/60 px-4 py-3 text-amber-100">
        Temporal is not reachable right now. The run is safe; this page resumes when the server is back.
      </p>
    );
  }
  if (stream === 'reconnecting') {
    return (
      <p role="status" className="text-sm text-slate-400">
        Reconnecting to the live story…
      </p>
    );
  }
  return null;
}

function RunHeader({ workflowId, badge, offline = false }: { workflowId: string; badge: AppStatus; offline?: boolean }) {
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
            There is no run <code className="break-all font-mono">{runId}</code>. It may have been typed wrong, or Temporal may have deleted
            it after its retention period.
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
