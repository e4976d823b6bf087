/**
 * The artifact check: every completed run's files, as its verification reports recorded them
 * (path, bytes, sha256), read back from the store the workers wrote them to. Puts are idempotent
 * and atomic (artifacts/local.ts), so a worker killed mid-upload must leave no broken artifact:
 * anything missing, altered or of another size is a problem that fails the harness.
 */
import { verifyArtifacts, type ArtifactStore } from '../artifacts';
import type { VerifiedFile } from '../contract/data';

export interface ArtifactCheck {
  /** Where the files were read from (the store's description). */
  store: string;
  /** Completed runs with at least one recorded file, and their files (a file recorded by several rounds counts once per run). */
  runs: number;
  files: number;
  /** One line per file that does not match, naming its run. */
  problems: string[];
}

/** Check each run's recorded files against `store`, one run at a time. */
export async function checkArtifacts(
  store: ArtifactStore,
  runs: ReadonlyArray<{ index: number; artifacts: readonly VerifiedFile[] }>,
): Promise<ArtifactCheck> {
  const check: ArtifactCheck = { store: store.description, runs: 0, files: 0, problems: [] };
  for (const run of runs) {
    const refs = [...new Map(run.artifacts.map((file) => [`${file.path}\n${file.sha256}\n${file.bytes}`, file])).values()];
    if (refs.length === 0) continue;
    check.runs++;
    check.files += refs.length;
    for (const { path, sha256, problem } of await verifyArtifacts(store, refs)) {
      check.problems.push(`run ${run.index}: artifact ${path} (${sha256.slice(0, 12)}…) does not match its record: ${problem}`);
    }
  }
  return check;
}
