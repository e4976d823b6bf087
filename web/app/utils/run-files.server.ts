/**
 * A run's files: what its code steps wrote, as their last verification round recorded them (path,
 * size, sha256; the history holds nothing more), kept in the artifact store (artifacts/) under
 * that sha256. Read for the run's owner only: callers load the run with loadRun(id, owner) first.
 */
import type { Readable } from 'node:stream';
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
