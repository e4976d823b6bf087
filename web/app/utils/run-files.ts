/** A run's files as its story records them (browser-safe: the run page lists them; run-files.server.ts serves them). */
// The workflow lists the same files in the Temporal UI (contract/run-links.ts).
export { runFiles, type RunFile } from '../../../contract/run-links';

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
