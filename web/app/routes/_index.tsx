import { data, redirect, type ActionFunctionArgs, type HeadersFunction, type LoaderFunctionArgs } from '@remix-run/node';
import { Form, Link, useActionData, useLoaderData, useNavigation } from '@remix-run/react';
import { useRef } from 'react';
import { AccountBar } from '~/components/AccountBar';
import { EXAMPLE_TASKS } from '~/components/examples';
import { SUBMIT_BUTTON, TEXT_FIELD } from '~/components/form-styles';
import { RUN_FILTERS, RunList } from '~/components/RunList';
import { CSRF_MESSAGE, csrfValid, requireUser } from '~/utils/auth.server';
import { readForm } from '~/utils/form.server';
import { getConfig } from '~/utils/env.server';
import { BUDGET_FIELDS, readBudgetForm } from '~/utils/budget-form.server';
import { BUDGET_FIELD_NAMES } from '~/components/budget-fields';
import type { Budget } from '../../../contract/data';
import { workflowStarts } from '~/utils/metrics.server';
import { submissionRetryAfter } from '~/utils/rate-limit.server';
import { overDailyCap } from '~/utils/daily-cap.server';
import { parseTaskForm } from '~/utils/task-form.server';
import { InvalidCursorError, listRuns, spendToday } from '~/utils/run-list.server';
import { formatCost } from '~/components/format';
import { MissingOwnerAttributeError } from '~/utils/run-owner.server';
import { startRun } from '~/utils/run-start.server';
import { isRunListStatus, type RunListStatus } from '~/utils/run-status';
import { TemporalUnreachableError } from '~/utils/temporal-client.server';
import { workersUseOfflineModel } from '~/utils/workers.server';
import { ownerLoad } from '~/utils/run-queue.server';
import { ANONYMOUS_OWNER } from '~/utils/run-start.server';

// Mirrors LIMITS.taskMaxChars; the server validates with the shared schema either way.
const TASK_MAX_CHARS = 4_000;

export async function loader({ request }: LoaderFunctionArgs) {
  const viewer = await requireUser(request);
  const params = new URL(request.url).searchParams;
  // `?example=N` fills the form when JavaScript is off.
  const example = params.get('example');
  // `?status=` filters the list, `?cursor=` is a later page of it; anything unknown shows everything.
  const statusParam = params.get('status');
  const status = isRunListStatus(statusParam) ? statusParam : null;
  const cursor = params.get('cursor') || null;
  let list;
  let staleCursor = false;
  try {
    try {
      list = await listRuns({ owner: viewer.user, status: status ?? undefined, cursor: cursor ?? undefined });
    } catch (err) {
      if (!(err instanceof InvalidCursorError)) throw err;
      staleCursor = true;
      list = await listRuns({ owner: viewer.user, status: status ?? undefined });
    }
  } catch (err) {
    if (err instanceof MissingOwnerAttributeError) throw data(err.message, { status: 503 });
    throw err;
  }
  return {
    user: viewer.user,
    csrf: viewer.csrf,
    token: crypto.randomUUID(),
    offlineModel: await workersUseOfflineModel(),
    reviewByDefault: getConfig().review.byDefault,
    budget: getConfig().budget,
    example: example !== null && /^\d+$/.test(example) ? (EXAMPLE_TASKS[Number(example)] ?? null) : null,
    runs: { status, paged: cursor !== null && !staleCursor, staleCursor, list, now: Date.now() },
    today: await spendToday(viewer.user),
    dailySpendCap: getConfig().dailySpendCap,
    fairShare: await fairShareLine(viewer.user),
  };
}

/** Fair share's limits and where the user's runs stand; null when it is off. */
async function fairShareLine(user: string | null) {
  const limits = getConfig().fairShare;
  if (!limits) return null;
  return { ...limits, mine: await ownerLoad(user ?? ANONYMOUS_OWNER) };
}

/** A document response takes its headers from here: the action's Retry-After must reach the client. */
export const headers: HeadersFunction = ({ actionHeaders }) => {
  const headers = new Headers();
  const retryAfter = actionHeaders.get('Retry-After');
  if (retryAfter) headers.set('Retry-After', retryAfter);
  return headers;
};

export async function action({ request, context }: ActionFunctionArgs) {
  const viewer = await requireUser(request);
  const formData = await readForm(request);
  const values = {
    task: String(formData.get('task') ?? ''),
    token: String(formData.get('token') ?? ''),
    review: formData.get('review') === 'on',
    // What the person typed into the limits goes back to the form on an error.
    limits: Object.fromEntries(Object.values(BUDGET_FIELDS).map((field) => [field, String(formData.get(field) ?? '')])),
  };
  // Before the rate limit: a forged submission must not use up the user's allowance.
  if (!csrfValid(viewer, formData)) return data({ values, fieldErrors: {}, formError: CSRF_MESSAGE }, { status: 403 });
  const retryAfter = await submissionRetryAfter(context.clientIp);
  if (retryAfter !== null) {
    return data(
      { values, fieldErrors: {}, formError: `Too many tasks from your address in the last minute: try again in ${retryAfter} s.` },
      { status: 429, headers: { 'Retry-After': String(retryAfter) } },
    );
  }
  const form = parseTaskForm(formData);
  if (!form.ok)
    return data({ values: { ...form.values, limits: values.limits }, fieldErrors: form.fieldErrors, formError: null }, { status: 400 });
  const limits = readBudgetForm(formData, getConfig().budget);
  if (!limits.ok) return data({ values, fieldErrors: {}, formError: limits.error }, { status: 400 });
  const over = await overDailyCap(viewer.user);
  if (over) return data({ values, fieldErrors: {}, formError: over }, { status: 429 });
  try {
    const { workflowId } = await startRun(form.token, form.task, viewer.user, { review: form.review, budget: limits.budget });
    workflowStarts.inc();
    return redirect(`/runs/${workflowId}`);
  } catch (err) {
    if (!(err instanceof TemporalUnreachableError || err instanceof MissingOwnerAttributeError)) throw err;
    return data(
      {
        values: { task: form.task, token: form.token, review: form.review, limits: values.limits },
        fieldErrors: {},
        formError: err.message,
      },
      { status: 503 },
    );
  }
}

const LIMIT_INPUTS = [
  { kind: 'tokens', label: 'Tokens', hint: 'e.g. 200000', show: (n: number) => String(n) },
  { kind: 'cost', label: 'Cost (US$)', hint: 'e.g. 1.50', show: (n: number) => String(n) },
  {
    kind: 'timeMs',
    label: 'Time',
    hint: 'e.g. 30m',
    show: (n: number) => (n % 60_000 === 0 ? `${n / 60_000}m` : `${Math.round(n / 1000)}s`),
  },
  { kind: 'steps', label: 'Steps', hint: '1 to 8', show: (n: number) => String(n) },
] as const;

/**
 * The run's limits, folded away: each field empty means the deployment's default (shown as the
 * placeholder), and the cap says how high it may go. A run that reaches one ends "Budget reached".
 */
function LimitsFields({ budget, typed }: { budget: { default: Budget; cap: Budget }; typed: Record<string, string> | null }) {
  const anyTyped = typed !== null && Object.values(typed).some((value) => value.trim() !== '');
  return (
    <details open={anyTyped} className="rounded-md border border-slate-800 px-3 py-2 text-sm text-slate-200">
      <summary className="cursor-pointer text-slate-300">Limits for this run</summary>
      <div className="mt-3 grid grid-cols-2 gap-3 sm:grid-cols-4">
        {LIMIT_INPUTS.map(({ kind, label, hint, show }) => {
          const fallback = budget.default[kind];
          const cap = budget.cap[kind];
          const field = BUDGET_FIELD_NAMES[kind];
          return (
            <label key={kind} className="space-y-1">
              <span className="block text-xs text-slate-400">{label}</span>
              <input
                name={field}
                inputMode={kind === 'timeMs' ? 'text' : 'decimal'}
                defaultValue={typed?.[field] ?? ''}
                placeholder={fallback !== undefined ? show(fallback) : hint}
                className={`${TEXT_FIELD} border-slate-700 py-1 placeholder:text-slate-500`}
              />
              <span className="block text-xs text-slate-500">
                {fallback !== undefined ? `default ${show(fallback)}` : 'no limit'}
                {cap !== undefined ? `, at most ${show(cap)}` : ''}
              </span>
            </label>
          );
        })}
      </div>
    </details>
  );
}

export default function Home() {
  const { user, csrf, token, offlineModel, reviewByDefault, budget, example, runs, today, dailySpendCap, fairShare } =
    useLoaderData<typeof loader>();
  const actionData = useActionData<typeof action>();
  const navigation = useNavigation();
  const taskRef = useRef<HTMLTextAreaElement>(null);
  const submitting = navigation.state !== 'idle' && navigation.formMethod?.toLowerCase() === 'post';

  const fieldErrors: { task?: string; token?: string } = actionData?.fieldErrors ?? {};
  const taskError = fieldErrors.task;
  // Keep the submission's token after an error: retrying it can never start a second run.
  const formToken = actionData && !fieldErrors.token ? actionData.values.token : token;

  function fillExample(text: string) {
    if (!taskRef.current) return;
    taskRef.current.value = text;
    taskRef.current.focus();
  }

  return (
    <section className="space-y-8">
      <AccountBar user={user} csrf={csrf} />
      <div className="space-y-2">
        <h1 className="text-3xl font-semibold tracking-tight">What should be built?</h1>
        <p className="text-slate-300">
          Describe a task. A Temporal workflow plans it with an LLM, runs each step as its own activity and tells the story as it goes; it
          survives restarts of the worker and of this page.
        </p>
        {today && (today.runs > 0 || dailySpendCap !== null) ? (
          <p data-testid="spend-today" className="text-sm text-slate-400">
            {user ? 'Your runs' : 'Runs'} today: {today.spend.tokens.toLocaleString('en-US')} tokens
            {today.spend.unpriced > 0 && today.spend.cost === 0 ? '' : ` · ${formatCost(today.spend.cost)}`}
            {dailySpendCap !== null ? ` of ${formatCost(dailySpendCap)} a day` : ''}
            {today.partial || today.spend.estimated ? ' (at least)' : ''}
          </p>
        ) : null}
        {fairShare ? (
          <p data-testid="fair-share" className="text-sm text-slate-400">
            {`At most ${fairShare.perUser} ${user ? `of your runs` : fairShare.perUser === 1 ? 'run' : 'runs'} at once`}
            {fairShare.total > fairShare.perUser && fairShare.total < 100_000 ? `, ${fairShare.total} in all` : ''}
            {'; more wait in line'}
            {fairShare.mine ? ` · now ${fairShare.mine.running} running, ${fairShare.mine.queued} in line` : ''}
          </p>
        ) : null}
        {offlineModel ? (
          <p className="text-sm text-amber-300">
            The workers use the built-in offline model (no OPENAI_API_KEY set for them): results are canned, but the run is real.
          </p>
        ) : null}
      </div>

      <Form method="post" className="space-y-4" aria-describedby={actionData?.formError ? 'form-error' : undefined}>
        <input type="hidden" name="token" value={formToken} />
        {csrf ? <input type="hidden" name="csrf" value={csrf} /> : null}
        {actionData?.formError ? (
          <p id="form-error" role="alert" className="rounded-md border border-red-800 bg-red-950/60 px-4 py-3 text-red-200">
            {actionData.formError}
          </p>
        ) : null}
        {fieldErrors.token ? (
          <p role="alert" className="rounded-md border border-red-800 bg-red-950/60 px-4 py-3 text-red-200">
            {fieldErrors.token}
          </p>
        ) : null}

        <div className="space-y-2">
          <label htmlFor="task" className="block text-sm font-medium text-slate-200">
            Task
          </label>
          <textarea
            ref={taskRef}
            id="task"
            name="task"
            rows={6}
            maxLength={TASK_MAX_CHARS}
            defaultValue={actionData?.values.task ?? example ?? ''}
            key={actionData?.values.task ?? example ?? ''}
            placeholder="e.g. Create a hello world python function"
            aria-invalid={taskError ? true : undefined}
            aria-describedby={taskError ? 'task-error task-hint' : 'task-hint'}
            className={`${TEXT_FIELD} placeholder:text-slate-500 ${taskError ? 'border-red-600' : 'border-slate-700'}`}
          />
          {taskError ? (
            <p id="task-error" className="text-sm text-red-300">
              {taskError}
            </p>
          ) : null}
          <p id="task-hint" className="text-xs text-slate-400">
            Up to {TASK_MAX_CHARS.toLocaleString('en-US')} characters.
          </p>
        </div>

        <label className="flex items-center gap-2 text-sm text-slate-200">
          <input
            type="checkbox"
            name="review"
            defaultChecked={actionData ? actionData.values.review : reviewByDefault}
            className="h-4 w-4 rounded border-slate-600 bg-slate-900 accent-sky-500"
          />
          Review the plan before it runs
        </label>

        <LimitsFields budget={budget} typed={actionData?.values.limits ?? null} />

        <button type="submit" disabled={submitting} className={SUBMIT_BUTTON}>
          {submitting ? 'Starting…' : 'Start the run'}
        </button>
      </Form>

      <div className="space-y-2">
        <h2 className="text-sm font-medium text-slate-300">Or try an example</h2>
        <ul className="flex flex-wrap gap-2">
          {EXAMPLE_TASKS.map((text, index) => (
            <li key={text}>
              <a
                href={`/?example=${index}`}
                onClick={(event) => {
                  event.preventDefault();
                  fillExample(text);
                }}
                className="inline-block rounded-full border border-slate-700 px-3 py-1 text-sm text-slate-200 hover:border-sky-500 hover:text-sky-300"
              >
                {text}
              </a>
            </li>
          ))}
        </ul>
      </div>

      <RecentRuns {...runs} />
    </section>
  );
}

function listHref(status: RunListStatus | null, cursor?: string | null): string {
  const params = new URLSearchParams();
  if (status) params.set('status', status);
  if (cursor) params.set('cursor', cursor);
  const query = params.toString();
  return query ? `/?${query}` : '/';
}

function RecentRuns({ status, paged, staleCursor, list, now }: ReturnType<typeof useLoaderData<typeof loader>>['runs']) {
  const filterLabel = RUN_FILTERS.find((filter) => filter.status === status)?.label ?? 'All';
  return (
    <section aria-labelledby="runs-heading" className="space-y-3">
      <div className="flex flex-wrap items-baseline justify-between gap-2">
        <h2 id="runs-heading" className="text-xl font-semibold">
          Recent runs
        </h2>
        <nav aria-label="Filter runs by status">
          <ul className="flex flex-wrap gap-1 text-sm">
            {RUN_FILTERS.map((filter) => {
              const current = filter.status === status;
              return (
                <li key={filter.label}>
                  <Link
                    to={listHref(filter.status)}
                    preventScrollReset
                    aria-current={current ? 'page' : undefined}
                    className={`inline-block rounded-md px-2 py-0.5 ${
                      current ? 'bg-slate-800 text-slate-100' : 'text-slate-400 hover:text-sky-300'
                    }`}
                  >
                    {filter.label}
                  </Link>
                </li>
              );
            })}
          </ul>
        </nav>
      </div>

      {staleCursor ? (
        <p role="status" className="text-sm text-amber-300">
          That page of the list is no longer available; here are the newest runs.
        </p>
      ) : null}

      {'unreachable' in list ? (
        <p role="alert" className="rounded-md border border-amber-800 bg-amber-950/60 px-4 py-3 text-amber-100">
          {`Temporal is not reachable at ${list.address}, so the runs cannot be listed.`} Runs are safe in Temporal; reload this page when
          it is back.
        </p>
      ) : list.runs.length === 0 ? (
        <p className="text-sm text-slate-400">
          {paged ? 'No older runs.' : status ? `No ${filterLabel.toLowerCase()} runs.` : 'No runs yet: start one above.'}
        </p>
      ) : (
        <RunList runs={list.runs} now={now} />
      )}

      {!('unreachable' in list) && (paged || list.nextCursor) ? (
        <nav aria-label="Pages of runs" className="flex justify-between text-sm">
          {paged ? (
            <Link to={listHref(status)} preventScrollReset className="text-sky-400 hover:text-sky-300">
              ← Newest
            </Link>
          ) : (
            <span />
          )}
          {list.nextCursor ? (
            <Link to={listHref(status, list.nextCursor)} preventScrollReset className="text-sky-400 hover:text-sky-300">
              Older →
            </Link>
          ) : null}
        </nav>
      ) : null}
    </section>
  );
}
