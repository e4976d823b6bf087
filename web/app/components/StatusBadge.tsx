export type BadgeKind =
  | 'running'
  | 'waiting'
  | 'completed'
  | 'failed'
  | 'cancelled'
  | 'terminated'
  | 'timed-out'
  | 'unreachable';

const BADGES: Record<BadgeKind, { label: string; className: string }> = {
  running: { label: 'Running', className: 'border-sky-700 bg-sky-950 text-sky-200' },
  waiting: { label: 'Waiting for a worker', className: 'border-amber-700 bg-amber-950 text-amber-200' },
  completed: { label: 'Completed', className: 'border-emerald-700 bg-emerald-950 text-emerald-200' },
  failed: { label: 'Failed', className: 'border-red-700 bg-red-950 text-red-200' },
  cancelled: { label: 'Cancelled', className: 'border-slate-600 bg-slate-900 text-slate-200' },
  terminated: { label: 'Terminated', className: 'border-red-700 bg-red-950 text-red-200' },
  'timed-out': { label: 'Timed out', className: 'border-red-700 bg-red-950 text-red-200' },
  unreachable: { label: 'Temporal unreachable', className: 'border-amber-700 bg-amber-950 text-amber-200' },
};

export function StatusBadge({ kind }: { kind: BadgeKind }) {
  const badge = BADGES[kind];
  return (
    <span
      role="status"
      className={`inline-flex items-center gap-2 rounded-full border px-3 py-1 text-sm font-medium ${badge.className}`}
    >
      {kind === 'running' ? <span aria-hidden className="h-2 w-2 animate-pulse rounded-full bg-sky-400" /> : null}
      {badge.label}
    </span>
  );
}
