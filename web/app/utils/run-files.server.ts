/**
 * A run's files: what its code steps wrote, as their last verification round recorded them (path,
 * size, sha256; the history holds nothing more), kept in the artifact store (artifacts/) under
 * that sha256. Read for the run's owner only: callers load the run with loadRun(id, owner) first.
 */
import { Readable } from 'node:stream';
import { createArtifactStore, zipArtifacts, type ArtifactStore } from '../../../artifacts';
import { getConfig } from './env.server';
import { log } from './log.server';
import { runFiles, type RunFile } from './run-files';
import { loadRun } from './run-read.server';

export { languageOf, runFiles, type RunFile } from './run-files';

let store: ArtifactStore | null = null;

/** The deployment's artifact store (BUILDSTORY_ARTIFACTS...), made once. */
export function artifactStore(): ArtifactStore {
  if (!store) {
    const config = getConfig();
    store = createArtifactStore(config.artifacts, config.encryption);
  }
  return store;
}

/**
 * One file of a run its `owner` may read, by sha256, with its bytes: a 404 Response for any other
 * (someone else's run, a hash the run never recorded, a file the store does not have), a 503 when
 * Temporal or the store cannot be reached. Throws the Response, for loaders.
 */
export async function loadRunFile(workflowId: string, owner: string | null, sha256: string): Promise<{ file: RunFile; content: Buffer }> {
  const files = await loadRunFileList(workflowId, owner);
  const file = files.find((f) => f.sha256 === sha256);
  if (!file) throw new Response('No such file in this run.\n', { status: 404, headers: { 'Content-Type': 'text/plain; charset=utf-8' } });
  let content: Buffer | null;
  try {
    content = await artifactStore().get(sha256);
  } catch (err) {
    log.error({ err, workflowId, sha256 }, 'could not read an artifact');
    throw new Response('The file could not be read from storage (see the server log).\n', { status: 503 });
  }
  if (!content) throw new Response('The file was recorded but is not in storage.\n', { status: 404 });
  return { file, content };
}

/** The files of a run its `owner` may read (see loadRunFile for the errors). */
export async function loadRunFileList(workflowId: string, owner: string | null): Promise<RunFile[]> {
  const view = await loadRun(workflowId, owner);
  if (view.kind === 'not-found') throw new Response('No run with this id.\n', { status: 404 });
  if (view.kind === 'unreachable') throw new Response(`Temporal is not reachable at ${view.address}.\n`, { status: 503 });
  return view.snapshot ? runFiles(view.snapshot) : [];
}

/** Every file in one zip, streamed one verified file at a time (artifacts/zip). */
export function zipRunFiles(files: RunFile[]): Readable {
  return zipArtifacts(
    artifactStore(),
    files.map(({ path, bytes, sha256 }) => ({ path, bytes, sha256 })),
  );
}

/** One file as a download: text, never rendered by a browser, whatever its name says. */
export function fileDownload(file: RunFile, content: Buffer): Response {
  const name = file.path.split('/').pop() ?? 'file';
  return new Response(new Uint8Array(content), {
    headers: {
      'Content-Type': 'text/plain; charset=utf-8',
      'Content-Disposition': `attachment; filename="${name.replace(/[^A-Za-z0-9._-]/g, '_')}"`,
      'Content-Length': String(content.length),
      'X-Content-Type-Options': 'nosniff',
      'Cache-Control': 'no-store',
      ETag: `"${file.sha256}"`,
    },
  });
}

/** Every file of a run as one zip download, streamed. */
export function zipDownload(workflowId: string, files: RunFile[]): Response {
  return new Response(Readable.toWeb(zipRunFiles(files)) as ReadableStream, {
    headers: {
      'Content-Type': 'application/zip',
      'Content-Disposition': `attachment; filename="${workflowId}-files.zip"`,
      'Cache-Control': 'no-store',
    },
  });
}
