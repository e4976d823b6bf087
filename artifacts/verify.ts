/**
 * Whether a run's recorded artifacts are all in the store as recorded: each read back (which
 * checks it against its address) and its size compared. For the fault suite's check that every
 * completed run's artifacts match their recorded hashes, and for an operator's audit.
 */
import type { ArtifactRef } from './ref';
import type { ArtifactStore } from './store';

export interface ArtifactProblem {
  path: string;
  sha256: string;
  problem: string;
}

/** The refs that do not match what is stored, each with why; [] when all do. Reads one at a time. */
export async function verifyArtifacts(store: ArtifactStore, refs: readonly ArtifactRef[]): Promise<ArtifactProblem[]> {
  const problems: ArtifactProblem[] = [];
  for (const { path, sha256, bytes } of refs) {
    const report = (problem: string) => problems.push({ path, sha256, problem });
    try {
      const stored = await store.get(sha256);
      if (!stored) report('missing');
      else if (stored.length !== bytes) report(`recorded as ${bytes} bytes, stored ${stored.length}`);
    } catch (err) {
      report((err as Error).message);
    }
  }
  return problems;
}
