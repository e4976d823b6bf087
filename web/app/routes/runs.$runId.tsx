import { randomUUID } from 'node:crypto';
import { data, type ActionFunctionArgs, type LoaderFunctionArgs, type MetaFunction } from '@remix-run/node';
import { Link, isRouteErrorResponse, useLoaderData, useParams, useRevalidator, useRouteError } from '@remix-run/react';
import { Suspense, lazy, useEffect } from 'react';
import { AccountBar } from '~/components/AccountBar';
import { Markdown } from '~/components/Markdown';
import { RunActions } from '~/components/RunActions';
import { StatusBadge } from '~/components/StatusBadge';
import { StepList } from '~/components/StepList';
import { formatCost } from '~/components/format';
import { useRevalidateWhile } from '~/components/useRevalidateWhile';
import { useRunStory, type StreamState } from '~/components/useRunStory';
import { requireUser } from '~/utils/auth.server';
import { handleRunAction } from '~/utils/run-actions.server';
import { emptyView, type StoryView } from '~/utils/story-view';
import { listReruns, type RunSummary } from '~/utils/run-list.server';
import { loadRun, withoutOutputChunks, type RunView } from '~/utils/run-read.server';
import { queuePosition } from '~/utils/run-queue.server';
import { appStatusOf, storyStatusOf, type AppStatus } from '~/utils/run-status';
import type { Price, QueuePosition, RunStatus } from '../../../contract/data';

// The review editor is a chunk of its own, fetched only for a run that waits for a review: most
// runs never do, and the run page's first download has a budget (scripts/check-bundle.ts).
const PlanForm = lazy(() => import('~/components/PlanForm'));
const RunFiles = lazy(() => import('~/components/RunFiles'));
// The story's event list, under the steps: its own chunk keeps the page within its JavaScript budget.
const EventList = lazy(() => import('~/components/EventList').then((module) => ({ default: module.EventList })));
// So is the list of re-runs, shown on the few runs that have some.
const RunList = lazy(() => import('~/components/RunList').then((module) => ({ default: module.RunList })));

export const meta: MetaFunction = ({ params }) => [{ title: `${params.runId ?? 'Run'} · Buildstory` }];

export async function loader({ request, params }: LoaderFunctionArgs) {
  const { user, csrf } = await requireUser(request);
  const workflowId = params.runId ?? '';
  // Someone else's run is "not found" too: the answer does not tell whether the id exists.
  const view = await loadRun(workflowId, user);
  if (view.kind === 'not-found') throw data('No run with this id', { status: 404 });
  if (view.kind === 'unreachable') return data({ ...view, workflowId, user, csrf }, { status: 503 });
  // A fresh token per render names the run "Run again" starts: a double submit starts one run.
  // Another names the answer to the review the run waits for now (the review editor keeps it).
  const tokens = { runAgainToken: randomUUID(), review: { revision: view.snapshot?.review?.revision ?? 0, token: randomUUID() } };
  // A run that is over may have been re-run from one of its steps: one list call, empty if it fails.
  const reruns = { runs: view.temporalStatus === 'RUNNING' ? [] : await listReruns(workflowId, user), now: Date.now() };
  // Fair share: a run waiting for a slot shows its place in line (the page reloads it while it waits).
  const queue = view.temporalStatus === 'RUNNING' && view.snapshot?.queue ? await queuePosition(workflowId) : null;
  if (!view.snapshot) return { ...view, ...tokens, reruns, queue, user, csrf };
  return { ...view, ...tokens, reruns, queue, user, csrf, snapshot: withoutOutputChunks(view.snapshot) };
}

export async function action({ request, params }: ActionFunctionArgs) {
  const viewer = await requireUser(request);
  return handleRunAction(request, params.runId ?? '', viewer);
}

type Account = { user: string | null; csrf: string | null };
type OkView = Extract<RunView, { kind: 'ok' }> & {
  runAgainToken: string;
  review: { revision: number; token: string };
  reruns: { runs: RunSummary[]; now: number };
  queue: QueuePosition | null;
} & Account;

/** The run's status: the live story's once it has one, Temporal's for runs closed without a story. */
function runStatus(view: OkView, story: StoryView | null): RunStatus {
  if (story && (story.status !== 'running' || view.temporalStatus === 'RUNNING')) return story.status;
  return storyStatusOf(view.temporalStatus);
}

function badgeFor(view: OkView, status: RunStatus, stream: StreamState, review: boolean, queued: boolean): AppStatus {
  if (status === 'running') {
    if (stream === 'unreachable') return 'unreachable';
    if (review) return 'waiting-for-review';
    if (queued) return 'queued';
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
  const waiting = status === 'running' && story.plan ? story.review : null;
  // Fair share: waiting for a slot; the loader's place in line is refreshed while it waits.
  const queued = status === 'running' && story.queue !== null;
  useRevalidateWhile(queued, 3_000);
  const ahead = queued && view.queue?.state === 'queued' ? view.queue.ahead : null;
  // Rejected, expired and budget-stopped runs ended as someone chose (or nobody did): not an error.
  const ended = status === 'rejected' || status === 'expired' || status === 'budget-reached';
  return (
    <article className="space-y-8">
      <AccountBar user={view.user} csrf={view.csrf} />
      <RunHeader
        workflowId={view.workflowId}
        badge={badgeFor(view, status, stream, waiting !== null, queued)}
        badgeLabel={ahead !== null ? `Queued (${ahead} ahead)` : undefined}
        offline={story.model?.offline ?? false}
        verified={story.status === 'completed' ? (story.verified ?? null) : null}
      />
      <SpendLine spend={story.spend} price={story.model?.price ?? null} running={story.steps.find((s) => s.status === 'running')?.output} />
      {story.parent ? (
        <p className="text-sm text-slate-300">
          Re-run of{' '}
          <Link to={`/runs/${story.parent.workflowId}`} className="font-mono text-sky-400 hover:text-sky-300">
            {story.parent.workflowId}
          </Link>{' '}
          from step {story.parent.fromStep + 1}
        </p>
      ) : null}

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

      {queued ? (
        <p role="status" data-testid="queue-notice" className="rounded-md border border-amber-800 bg-amber-950/60 px-4 py-3 text-amber-100">
          {`This run waits for a free slot${ahead !== null ? `: ${ahead} ${ahead === 1 ? 'run is' : 'runs are'} ahead of it` : ''}.`} The
          deployment runs only so many at once, per user and in all; the run starts on its own when its turn comes. Cancelling it takes it
          out of the line.
        </p>
      ) : null}

      {story.error || view.error ? (
        <section aria-labelledby="error-heading" className="space-y-2">
          <h2 id="error-heading" className={`text-xl font-semibold ${ended ? '' : 'text-red-300'}`}>
            {ended ? 'Why the run stopped' : 'Error'}
          </h2>
          <pre
            className={`whitespace-pre-wrap break-words rounded-md border p-4 font-mono text-sm ${
              ended ? 'border-slate-700 bg-slate-900/60 text-slate-100' : 'border-red-800 bg-red-950/60 text-red-100'
            }`}
          >
            {story.error ?? view.error}
          </pre>
        </section>
      ) : null}

      {waiting && story.plan ? (
        <Suspense fallback={<StepList snapshot={story} />}>
          <PlanForm
            key={waiting.revision}
            mode={{
              kind: 'review',
              revision: waiting.revision,
              deadline: waiting.deadline,
              gate: waiting.stage.kind === 'step' ? waiting.stage.stepIndex : null,
              ...(waiting.stage.kind === 'budget'
                ? { budget: { kind: waiting.stage.budget, used: waiting.stage.used, limit: waiting.stage.limit } }
                : {}),
            }}
            plan={story.plan}
            steps={story.steps}
            lockedBefore={waiting.stage.kind === 'plan' ? 0 : waiting.stage.stepIndex}
            // The loader's token answers the review it saw; a later one (from the stream) gets its own.
            token={view.review.revision === waiting.revision ? view.review.token : null}
            csrf={view.csrf}
          />
        </Suspense>
      ) : hasStory && !queued ? (
        <StepList snapshot={story} rerunOf={status === 'running' ? null : view.workflowId} />
      ) : null}

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

      {story.steps.some((step) => step.verification?.report?.files.length) ? (
        <Suspense fallback={null}>
          <RunFiles workflowId={view.workflowId} story={story} />
        </Suspense>
      ) : null}

      {hasStory ? (
        <Suspense fallback={null}>
          <EventList events={story.events} startedAt={story.startedAt} />
        </Suspense>
      ) : null}

      {view.reruns.runs.length > 0 ? (
        <section aria-labelledby="reruns-heading" className="space-y-3">
          <h2 id="reruns-heading" className="text-xl font-semibold">
            Re-runs
          </h2>
          <Suspense fallback={<p className="text-sm text-slate-400">Loading the re-runs…</p>}>
            <RunList runs={view.reruns.runs} now={view.reruns.now} />
          </Suspense>
        </section>
      ) : null}

      <p className="text-sm">
        <a href={view.uiUrl} target="_blank" rel="noreferrer" className="text-sky-400 underline hover:text-sky-300">
          Open this run in the Temporal UI
        </a>
      </p>
    </article>
  );
}

/**
 * What the run has spent: tokens and dollars of every finished call, and while a step streams,
 * a running estimate of its output (four characters to a token, at the model's output price)
 * that the exact figure replaces when the step finishes.
 */
function SpendLine({ spend, price, running }: { spend: StoryView['spend']; price: Price | null; running: string | undefined }) {
  const streaming = running ? Math.ceil(running.length / 4) : 0;
  if (spend.tokens === 0 && streaming === 0) return null;
  const cost = spend.cost + (price ? (streaming * price.outputPerMillion) / 1_000_000 : 0);
  const dollars =
    spend.unpriced > 0 && cost === 0 ? 'no price' : `${formatCost(cost)}${spend.unpriced > 0 ? ' (some calls have no price)' : ''}`;
  return (
    <p data-testid="spend" className="text-sm text-slate-400">
      Spent: {(spend.tokens + streaming).toLocaleString('en-US')} tokens · {dollars}
      {streaming > 0 || spend.estimated ? ' (estimate)' : ''}
    </p>
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

function RunHeader({
  workflowId,
  badge,
  badgeLabel,
  offline = false,
  verified = null,
}: {
  workflowId: string;
  badge: AppStatus;
  badgeLabel?: string;
  offline?: boolean;
  /** The run's code passed its tests (true), did not (false), or none was verified (null). */
  verified?: boolean | null;
}) {
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
        <StatusBadge kind={badge} label={badgeLabel} />
        {verified !== null ? (
          <span
            data-testid="run-verified"
            title={
              verified
                ? "Every code step's tests passed in the sandbox"
                : "A code step's tests did not pass (or could not run): see its report"
            }
            className={`rounded-full border px-3 py-1 text-sm font-medium ${verified ? 'border-emerald-700 text-emerald-300' : 'border-amber-700 text-amber-300'}`}
          >
            {verified ? 'Verified' : 'Not verified'}
          </span>
        ) : null}
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
