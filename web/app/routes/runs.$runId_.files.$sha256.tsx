/** GET /runs/:runId/files/:sha256: one file a run's code step wrote, highlighted, with its size, hash and a download. */
import type { LoaderFunctionArgs, MetaFunction } from '@remix-run/node';
import { Link, useLoaderData } from '@remix-run/react';
import { requireUser } from '~/utils/auth.server';
import { highlightHtml } from '~/utils/highlight.server';
import { formatBytes } from '~/utils/run-files';
import { languageOf, loadRunFile } from '~/utils/run-files.server';

export const meta: MetaFunction<typeof loader> = ({ data }) => [{ title: `${data?.path ?? 'File'} · Buildstory` }];

/** Files longer than this are shown cut (the download has them whole). */
const SHOWN_MAX_CHARS = 200_000;

export async function loader({ request, params }: LoaderFunctionArgs) {
  const { user } = await requireUser(request);
  const workflowId = params.runId ?? '';
  const { file, content } = await loadRunFile(workflowId, user, params.sha256 ?? '');
  const whole = content.toString('utf8');
  const text = whole.length > SHOWN_MAX_CHARS ? whole.slice(0, SHOWN_MAX_CHARS) : whole;
  const language = languageOf(file.path);
  return {
    workflowId,
    path: file.path,
    bytes: file.bytes,
    sha256: file.sha256,
    stepIndex: file.stepIndex,
    // Highlighted here: the page's JavaScript carries no highlighter (escaped by highlightHtml).
    html: highlightHtml(text, language),
    cut: whole.length > SHOWN_MAX_CHARS,
    language,
  };
}

export default function FilePage() {
  const { workflowId, path, bytes, sha256, stepIndex, html, cut, language } = useLoaderData<typeof loader>();
  return (
    <article className="space-y-6">
      <header className="space-y-1">
        <p className="text-sm text-slate-400">
          <Link to={`/runs/${workflowId}`} className="text-sky-400 hover:text-sky-300">
            ← Back to the run
          </Link>
        </p>
        <h1 className="break-all font-mono text-xl text-slate-100">{path}</h1>
        <p className="text-sm text-slate-400">
          Written by step {stepIndex + 1} · {formatBytes(bytes)} · sha256 <code className="break-all font-mono text-xs">{sha256}</code>
        </p>
        <p className="flex gap-4 text-sm">
          <a href={`/runs/${workflowId}/files/${sha256}/raw`} className="text-sky-400 hover:text-sky-300" download>
            Download
          </a>
          <a href={`/runs/${workflowId}/files.zip`} className="text-sky-400 hover:text-sky-300" download>
            Download all files (zip)
          </a>
        </p>
      </header>
      <pre className="overflow-auto rounded-md border border-slate-800 bg-slate-950 p-3 text-sm" data-testid="file-content">
        <code className={`hljs language-${language}`} dangerouslySetInnerHTML={{ __html: html }} />
      </pre>
      {cut ? <p className="text-sm text-slate-400">The file is longer than shown here: the download has all of it.</p> : null}
    </article>
  );
}
