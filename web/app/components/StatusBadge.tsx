import { APP_STATUS, type AppStatus } from '~/utils/run-status';

/** `label` replaces the status's own words (e.g. "Queued (2 ahead)"). */
export function StatusBadge({ kind, label }: { kind: AppStatus; label?: string }) {
  const badge = APP_STATUS[kind];
  return (
    <span role="status" className={`inline-flex items-center gap-2 rounded-full border px-3 py-1 text-sm font-medium ${badge.className}`}>
      {kind === 'running' ? <span aria-hidden className="h-2 w-2 animate-pulse rounded-full bg-sky-400" /> : null}
      {label ?? badge.label}
    </span>
  );
}
