/** A run's files as its story records them (browser-safe: the run page lists them; run-files.server.ts serves them). */
import type { ArtifactRef } from '../../../artifacts/ref';
import type { StoryState } from '../../../contract/data';

export interface RunFile extends ArtifactRef {
  /** The step (0-based) that wrote it. */
  stepIndex: number;
}

/** The files of each code step's latest verification round, in step order; a path written by two steps is the later step's. */
export function runFiles(state: Pick<StoryState, 'steps'>): RunFile[] {
  const byPath = new Map<string, RunFile>();
  for (const step of state.steps) {
    for (const file of step.verification?.report?.files ?? []) {
      byPath.set(file.path, { path: file.path, bytes: file.bytes, sha256: file.sha256, stepIndex: step.index });
    }
  }
  return [...byPath.values()];
}

/** The highlighting language of a file, by its extension (the Markdown fence's info string). */
export function languageOf(path: string): string {
  const ext = /\.([A-Za-z0-9]+)$/.exec(path)?.[1]?.toLowerCase() ?? '';
  return (
    { py: 'python', js: 'javascript', mjs: 'javascript', cjs: 'javascript', ts: 'typescript', sh: 'bash', json: 'json', md: 'markdown' }[
      ext
    ] ?? 'text'
  );
}

/** 1,234 B, 12.3 KB, 1.2 MB. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes.toLocaleString('en-US')} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}
