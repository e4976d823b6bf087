/**
 * The web app's shared store (BUILDSTORY_SHARED_STORE_URL): where the sign-out list and the
 * sign-in and submission counters live when the app runs as several replicas. A PostgreSQL URL;
 * unset, each process keeps them in memory.
 *
 * Kept apart from the other settings for the same reason as auth.ts: the URL may carry a
 * password, so no message here quotes the value, and `display` is the URL without it.
 */

export interface SharedStoreConfig {
  /** As given, for the PostgreSQL client only: it may hold a password. */
  url: string;
  /** For logs and messages: scheme, user, host, port and database; no password, no query. */
  display: string;
}

/** A bad BUILDSTORY_SHARED_STORE_URL; the message is one line and quotes nothing of the value. */
export class SharedStoreConfigError extends Error {
  override name = 'SharedStoreConfigError';
}

const EXAMPLE = 'postgres://user:password@host:5432/database';

/** `BUILDSTORY_SHARED_STORE_URL`: a postgres:// (or postgresql://) URL with a host; blank or unset: null. */
export function parseSharedStoreUrl(raw: string | undefined): SharedStoreConfig | null {
  const fail = (problem: string): never => {
    throw new SharedStoreConfigError(`Invalid configuration: BUILDSTORY_SHARED_STORE_URL ${problem} (e.g. ${EXAMPLE})`);
  };
  const url = raw?.trim() ?? '';
  if (url === '') return null;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return fail('is not a URL');
  }
  // Not even the scheme is quoted: `alice:secret@db` parses as the scheme `alice:`.
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') fail('must be a postgres:// or postgresql:// URL');
  if (parsed.hostname === '') fail('has no host');
  const user = parsed.username ? `${parsed.username}@` : '';
  return { url, display: `${parsed.protocol}//${user}${parsed.host}${parsed.pathname}` };
}
