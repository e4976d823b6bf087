import type { VerificationReport } from '../../../contract/data';
import { formatDuration } from './format';

/** A verification round's report: what ran, how it ended, the files, the end of its output. */
export default function VerificationDetails({ report }: { report: VerificationReport }) {
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
