/**
 * "Download all": a run's files as one zip, streamed. Each file is read from the store (and so
 * verified against its address) only when the reader has taken the previous one, so memory holds
 * one file at a time whatever the run's size. A missing or corrupt artifact ends the stream with
 * an error (the download fails rather than deliver a zip with a wrong file in it).
 */
import { Readable } from 'node:stream';
import { Zip, ZipDeflate } from 'fflate';
import { artifactPathProblem, type ArtifactRef } from './ref';
import { ArtifactIntegrityError, type ArtifactStore } from './store';

/** A zip of `refs` (each at its path) as a byte stream; for a web Response, `Readable.toWeb(...)`. Throws RangeError on bad or duplicate paths. */
export function zipArtifacts(store: ArtifactStore, refs: readonly ArtifactRef[]): Readable {
  const seen = new Set<string>();
  for (const ref of refs) {
    const problem = artifactPathProblem(ref.path);
    if (problem) throw new RangeError(`Cannot zip ${JSON.stringify(ref.path)}: the path ${problem}`);
    if (seen.has(ref.path)) throw new RangeError(`Cannot zip ${JSON.stringify(ref.path)}: listed twice`);
    seen.add(ref.path);
  }
  return Readable.from(zipChunks(store, refs), { objectMode: false });
}

async function* zipChunks(store: ArtifactStore, refs: readonly ArtifactRef[]): AsyncGenerator<Buffer> {
  const ready: Buffer[] = [];
  let failure: Error | null = null;
  // ZipDeflate works synchronously: each push below has produced its output before it returns.
  const zip = new Zip((err, chunk) => {
    if (err) failure = err;
    else ready.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
  });
  const drain = function* () {
    if (failure) throw failure;
    while (ready.length > 0) yield ready.shift()!;
  };
  try {
    for (const ref of refs) {
      const bytes = await store.get(ref.sha256);
      if (!bytes) throw new Error(`Artifact ${ref.path} (${ref.sha256}) is not in the store (${store.description})`);
      if (bytes.length !== ref.bytes) {
        throw new ArtifactIntegrityError(ref.sha256, `${ref.path} is recorded as ${ref.bytes} bytes but holds ${bytes.length}`);
      }
      const file = new ZipDeflate(ref.path, { level: 6 });
      zip.add(file);
      file.push(bytes, true);
      yield* drain();
    }
    zip.end();
    yield* drain();
  } finally {
    zip.terminate();
  }
}
