/** The files a run's code steps wrote: name, size, hash, a view and a download; all as one zip. A lazy chunk of the run page. */
import type { StoryState } from '../../../contract/data';
import { formatBytes, runFiles } from '~/utils/run-files';

export default function RunFiles({ workflowId, story }: { workflowId: string; story: Pick<StoryState, 'steps'> }) {
  const files = runFiles(story);
  if (files.length === 0) return null;
  return (
    <section aria-labelledby="files-heading" className="space-y-3" data-testid="run-files">
      <div className="flex flex-wrap items-baseline justify-between gap-2">
        <h2 id="files-heading" className="text-xl font-semibold">
          Files
        </h2>
        <a href={`/runs/${workflowId}/files.zip`} className="text-sm text-sky-400 hover:text-sky-300" download>
          Download all (zip)
        </a>
      </div>
      <ul className="divide-y divide-slate-800 rounded-md border border-slate-800 text-sm">
        {files.map((file) => (
          <li key={file.path} className="flex flex-wrap items-baseline gap-x-4 gap-y-1 px-3 py-2">
            <a href={`/runs/${workflowId}/files/${file.sha256}`} className="font-mono text-sky-300 hover:text-sky-200">
              {file.path}
            </a>
            <span className="text-slate-400">{formatBytes(file.bytes)}</span>
            <code className="text-xs text-slate-500" title={`sha256 ${file.sha256}`}>
              {file.sha256.slice(0, 12)}
            </code>
            <span className="text-slate-500">step {file.stepIndex + 1}</span>
            <a href={`/runs/${workflowId}/files/${file.sha256}/raw`} className="ml-auto text-sky-400 hover:text-sky-300" download>
              Download
            </a>
          </li>
        ))}
      </ul>
    </section>
  );
}
