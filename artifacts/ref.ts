/**
 * What a run's history holds of a file it produced: never the bytes (they are in the artifact
 * store, outside Temporal's payload limits), only its name, size and content address. Imports
 * nothing, so workflow code and the browser may use it.
 */
export interface ArtifactRef {
  /** The file's path in the run's output, `/`-separated and relative (`src/app.ts`, `report.md`). */
  path: string;
  /** Size of the plaintext in bytes. */
  bytes: number;
  /** SHA-256 of the plaintext, 64 lowercase hex digits: the artifact's address in the store. */
  sha256: string;
  /** A MIME type for downloads; unset, `application/octet-stream`. */
  contentType?: string;
}

/** What a content address looks like: 64 lowercase hex digits. */
export const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * Why `path` cannot name a file in a run's output (absolute, `..`, empty segments, backslashes,
 * control characters: anything that could land outside the folder a zip is unpacked into), or
 * null when it can.
 */
export function artifactPathProblem(path: string): string | null {
  if (path.length === 0 || path.length > 1024) return 'must be 1-1024 characters';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f\\]/.test(path)) return 'must not contain control characters or backslashes';
  if (path.startsWith('/')) return 'must be relative';
  if (path.split('/').some((segment) => segment === '' || segment === '.' || segment === '..')) {
    return "must not have empty, '.' or '..' segments";
  }
  return null;
}
