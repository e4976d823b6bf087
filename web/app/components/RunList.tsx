import { Link } from '@remix-run/react';
import type { RunSummary } from '~/utils/run-list.server';
import { APP_STATUS, RUN_LIST_FILTERS, listedStatusOf, type RunListStatus } from '~/utils/run-status';
import { formatDuration } from './format';

/** Filter links, in order; `null` is every run. Labels are the run page's badges'. */
export const RUN_FILTERS: { status: RunListStatus | null; label: string }[] = [
  { status: null, label: 'All' },
  ...RUN_LIST_FILTERS.map(({ status, shows }) => ({ status, label: APP_STATUS[shows].label })),
];

/** "just now", "4 min ago", "3 h ago", "2 d ago", relative to `now` from the loader (same on both sides). */
export function formatAgo(iso: string, now: number): string {
  const seconds = Math.max(0, Math.round((now - Date.parse(iso)) / 1_000));
  if (!Number.isFinite(seconds)) return iso;
  if (seconds < 45) return 'just now';
  if (seconds < 3_600) return `${Math.max(1, Math.round(seconds / 60))} min ago`;
  if (seconds < 86_400) return `${Math.round(seconds / 3_600)} h ago`;
  return `${Math.round(seconds / 86_400)} d ago`;
}

function RunStatusLabel({ run: { status, reviewState } }: { run: RunSummary }) {
  const shown = listedStatusOf(status, reviewState);
  const style = shown ? APP_STATUS[shown] : { label: status.toLowerCase(), className: 'border-slate-600 text-slate-300' };
  return (
    <span
      className={`inline-flex shrink-0 items-center gap-1.5 justify-self-start rounded-full border px-2 py-0.5 text-xs font-medium ${style.className}`}
    >
      {shown === 'running' ? <span aria-hidden className="h-1.5 w-1.5 animate-pulse rounded-full bg-sky-400" /> : null}
      {style.label}
    </span>
  );
}

export function RunList({ runs, now }: { runs: RunSummary[]; now: number }) {
  return (
    <ul className="divide-y divide-slate-800 rounded-md border border-slate-800">
      {runs.map((run) => (
        <li key={run.runId}>
          <Link
            to={`/runs/${run.workflowId}`}
            className="grid grid-cols-[9rem_1fr] items-start gap-x-3 gap-y-1 px-3 py-2.5 hover:bg-slate-900 focus:bg-slate-900 focus:outline-none sm:grid-cols-[9rem_1fr_auto]"
          >
            <RunStatusLabel run={run} />
            <span className="line-clamp-2 break-words text-sm text-slate-100">
              {run.task ?? <span className="font-mono text-slate-400">{run.workflowId}</span>}
            </span>
            <span className="col-start-2 text-xs text-slate-400 sm:col-start-3 sm:text-right">
              <time dateTime={run.startTime} title={run.startTime}>
                {formatAgo(run.startTime, now)}
              </time>
              {run.durationMs !== null ? <> · {formatDuration(run.durationMs)}</> : null}
              {run.fromStep !== null ? <> · re-run from step {run.fromStep}</> : null}
            </span>
          </Link>
        </li>
      ))}
    </ul>
  );
}
