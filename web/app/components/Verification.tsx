/** A code step's verification: its mark (Verified, Failed verification, Not verified, Verifying) and its last report. A lazy chunk of the run page. */
import type { StepState, StepVerification, VerificationReport } from '../../../contract/data';
import { formatDuration } from './format';

const MARK: Record<StepVerification['status'], string> = {
  running: 'border-sky-800 text-sky-300',
  passed: 'border-emerald-700 text-emerald-300',
  failed: 'border-red-800 text-red-300',
  error: 'border-amber-800 text-amber-300',
};

/** The code step's verification: a mark (Verified, Failed verification, Not verified, Verifying) and its last report. */
export default function Verification({ step, verification: v }: { step: StepState; verification: StepVerification }) {
  const fixing = step.status === 'running' && v.status === 'failed';
  const label = fixing
    ? `Fixing: round ${v.round + 1}`
    : v.status === 'running'
      ? `Verifying${v.round > 1 ? `: round ${v.round}` : ''}`
      : { passed: 'Verified', failed: 'Failed verification', error: 'Not verified' }[v.status];
  return (
    <div className="mt-3 text-sm" data-testid={`step-${step.index}-verification`} data-verdict={v.status}>
      <span className={`inline-block rounded-full border px-2 py-0.5 text-xs font-medium ${MARK[fixing ? 'running' : v.status]}`}>
        {label}
      </span>
      {v.report ? <VerificationDetails report={v.report} /> : null}
    </div>
  );
}

/** A verification round's report: what ran, how it ended, the files, the end of its output. */
function VerificationDetails({ report }: { report: VerificationReport }) {
  return (
    <details className="mt-2">
      <summary className="cursor-pointer text-slate-300">
        {report.summary}
        {report.round > 1 ? ` (round ${report.round})` : ''}
      </summary>
      <div className="mt-2 space-y-1 text-xs text-slate-400">
        {report.command.length > 0 ? (
          <p>
            <code className="text-slate-300">{report.command.join(' ')}</code> · exit {report.exitCode ?? report.outcome ?? '-'} ·{' '}
            {formatDuration(report.durationMs)}
          </p>
        ) : null}
        {report.files.length > 0 ? <p>Files: {report.files.map((f) => `${f.path} (${f.bytes} B)`).join(', ')}</p> : null}
        {[report.stdoutTail, report.stderrTail].filter(Boolean).map((text, i) => (
          <pre key={i} className="max-h-48 overflow-auto rounded bg-slate-950 p-2 text-slate-300">
            {text}
          </pre>
        ))}
      </div>
    </details>
  );
}
