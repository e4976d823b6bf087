import { Suspense, lazy } from 'react';
import { Link } from '@remix-run/react';
import type { ProgressSnapshot, StepState, StepStatus } from '../../../contract/data';
import { lastFrom, rerunHref } from '~/utils/rerun-from';
import { formatDuration, formatTokens, stepCost } from './format';
import { Markdown } from './Markdown';

const STEP_STATUS: Record<StepStatus, { label: string; className: string }> = {
  pending: { label: 'Pending', className: 'text-slate-400' },
  running: { label: 'Running', className: 'text-sky-300' },
  retrying: { label: 'Retrying', className: 'text-amber-300' },
  completed: { label: 'Done', className: 'text-emerald-300' },
  failed: { label: 'Failed', className: 'text-red-300' },
  cancelled: { label: 'Cancelled', className: 'text-slate-300' },
};

function StatusText({ status }: { status: StepStatus }) {
  const { label, className } = STEP_STATUS[status];
  return <span className={`font-medium ${className}`}>{label}</span>;
}

function Meta({ items }: { items: string[] }) {
  const shown = items.filter(Boolean);
  return shown.length > 0 ? <span className="text-xs text-slate-400">{shown.join(' · ')}</span> : null;
}

/** A code step's verification mark and report: a chunk of its own, fetched for code steps only. */
const Verification = lazy(() => import('./Verification'));

function Step({ step, keptFrom, rerun }: { step: StepState; keptFrom: string | null; rerun: string | null }) {
  return (
    <li data-testid={`step-${step.index}`} data-status={step.status} className="rounded-md border border-slate-800 bg-slate-900/60 p-4">
      <div className="flex flex-wrap items-baseline justify-between gap-2">
        <h3 className="font-medium text-slate-100">
          <span className="text-slate-400">{step.index + 1}.</span> {step.title}
        </h3>
        <div className="flex items-baseline gap-3 text-sm">
          <Meta
            items={[
              step.attempt > 1 ? `attempt ${step.attempt}` : '',
              formatDuration(step.durationMs),
              formatTokens(step.usage?.totalTokens),
              stepCost(step),
              step.usage?.estimated ? 'estimated' : '',
              step.truncated ? 'output truncated' : '',
              step.ask && step.status === 'pending' ? 'asks before running' : '',
            ]}
          />
          {step.kept && keptFrom ? (
            <span className="text-xs text-slate-400">
              kept from{' '}
              <Link to={`/runs/${keptFrom}`} className="font-mono text-sky-400 hover:text-sky-300">
                {keptFrom}
              </Link>
            </span>
          ) : null}
          <StatusText status={step.status} />
        </div>
      </div>
      {step.instructions ? <p className="mt-1 text-sm text-slate-400">{step.instructions}</p> : null}
      {step.output ? (
        <details open className="mt-3">
          <summary className="cursor-pointer text-sm text-slate-300">Output</summary>
          {/* The same element while it streams and once final: the text grows in place, no flicker. */}
          <div data-testid={`step-${step.index}-output`} className="mt-2 max-h-96 overflow-auto rounded bg-slate-950 p-3 text-sm">
            <Markdown>{step.output}</Markdown>
          </div>
        </details>
      ) : null}
      {step.verification ? (
        <Suspense fallback={null}>
          <Verification step={step} verification={step.verification} />
        </Suspense>
      ) : null}
      {rerun ? (
        <Link
          to={rerun}
          aria-label={`Edit and re-run from step ${step.index + 1}`}
          className="mt-3 inline-block text-sm text-sky-400 hover:text-sky-300"
        >
          Edit and re-run from here
        </Link>
      ) : null}
    </li>
  );
}

/** `rerunOf`: the run's id once it is over, to offer "Edit and re-run from here" on the steps a re-run may start from. */
export function StepList({ snapshot, rerunOf = null }: { snapshot: ProgressSnapshot; rerunOf?: string | null }) {
  const { planning, plan } = snapshot;
  const last = rerunOf && plan ? lastFrom(snapshot.steps) : -1;
  return (
    <section aria-labelledby="plan-heading" className="space-y-3">
      <h2 id="plan-heading" className="text-xl font-semibold">
        Plan
      </h2>
      <div className="flex flex-wrap items-baseline gap-3 text-sm">
        <span className="text-slate-300">Planning</span>
        <StatusText status={planning.status} />
        <Meta items={[planning.attempt > 1 ? `attempt ${planning.attempt}` : '']} />
      </div>
      {plan?.summary ? <p className="text-slate-300">{plan.summary}</p> : null}
      {snapshot.steps.length > 0 ? (
        <ol className="space-y-3">
          {snapshot.steps.map((step) => (
            <Step
              key={step.index}
              step={step}
              keptFrom={snapshot.parent?.workflowId ?? null}
              rerun={rerunOf && step.index <= last ? rerunHref(rerunOf, step.index) : null}
            />
          ))}
        </ol>
      ) : (
        <p className="text-sm text-slate-400">{planning.status === 'running' ? 'No plan yet.' : 'No plan.'}</p>
      )}
    </section>
  );
}
