/**
 * Access control settings of the web app: who may sign in, and what signs their sessions.
 *
 * Kept apart from the other settings so that no error message here can quote a password or the
 * secret: every message names the setting (and at most a user name), never a value.
 */

/**
 * The Keyword search attribute that records who started a run. The web app writes and filters on
 * it; `npm start`, the test setup and docker-compose.yml create it on the namespace.
 */
export const OWNER_SEARCH_ATTRIBUTE = 'BuildstoryOwner';

/** The user name a single shared password signs in as. */
export const SHARED_USER = 'shared';

/** Also what may appear in a visibility query unquoted-safe: no quotes, spaces or operators. */
const USER_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;
const MIN_PASSWORD_CHARS = 8;
const MIN_SECRET_CHARS = 32;
const SESSION_MAX_AGE_SECONDS = 12 * 60 * 60;

export interface AuthConfig {
  /** User name → password. */
  users: ReadonlyMap<string, string>;
  /** One shared password (user "shared"): the sign-in form asks for the password only. */
  shared: boolean;
  /** Signs the session cookie (HMAC-SHA256). */
  sessionSecret: string;
  /** `always`: the cookie is Secure on every response; `auto`: only on https requests. */
  secureCookie: 'auto' | 'always';
  sessionMaxAgeSeconds: number;
  /**
   * Who may use the codec endpoint (BUILDSTORY_CODEC_USERS): it decrypts any run's payloads,
   * whoever started the run, so it is for operators only. Empty: nobody.
   */
  codecUsers: ReadonlySet<string>;
}

/** A bad access control setting; the message is one line and holds no secret. */
export class AuthConfigError extends Error {
  override name = 'AuthConfigError';
}

/**
 * `BUILDSTORY_AUTH_PASSWORDS`: comma-separated `user:password` pairs, or one password alone (a
 * shared sign-in as user "shared"). Unset or blank: access control is off, and null is returned.
 * `BUILDSTORY_CODEC_USERS`: comma-separated user names from those pairs (or "shared").
 */
export function parseAuth(settings: {
  passwords: string | undefined;
  sessionSecret: string | undefined;
  secureCookie: 'auto' | 'always';
  codecUsers: string | undefined;
}): AuthConfig | null {
  const fail = (message: string): never => {
    throw new AuthConfigError(`Invalid configuration: ${message}`);
  };
  const raw = settings.passwords?.trim() ?? '';
  const codecRaw = settings.codecUsers?.trim() ?? '';
  if (raw === '') {
    // A list that would protect nothing is a mistake to stop at, not to ignore.
    if (codecRaw !== '') {
      fail(
        'BUILDSTORY_CODEC_USERS is set but BUILDSTORY_AUTH_PASSWORDS is not: without access control there are no users, and the codec is open to whoever reaches the app',
      );
    }
    return null;
  }

  const entries = raw.split(',').map((entry) => entry.trim());
  const users = new Map<string, string>();
  let shared = false;
  if (entries.length === 1 && !entries[0].includes(':')) {
    shared = true;
    users.set(SHARED_USER, entries[0]);
  } else {
    entries.forEach((entry, index) => {
      const colon = entry.indexOf(':');
      if (colon < 0) {
        fail(
          `BUILDSTORY_AUTH_PASSWORDS: entry ${index + 1} is not user:password (write user:password pairs separated by commas, or one password alone)`,
        );
      }
      const name = entry.slice(0, colon).trim();
      const password = entry.slice(colon + 1);
      if (!USER_NAME.test(name)) {
        fail(`BUILDSTORY_AUTH_PASSWORDS: entry ${index + 1} has a bad user name (letters, digits and . _ @ -, at most 64)`);
      }
      if (users.has(name)) fail(`BUILDSTORY_AUTH_PASSWORDS: user ${name} is listed twice`);
      users.set(name, password);
    });
  }
  for (const [name, password] of users) {
    if (password.length < MIN_PASSWORD_CHARS) {
      fail(
        shared
          ? `BUILDSTORY_AUTH_PASSWORDS: the shared password is shorter than ${MIN_PASSWORD_CHARS} characters`
          : `BUILDSTORY_AUTH_PASSWORDS: the password of ${name} is shorter than ${MIN_PASSWORD_CHARS} characters`,
      );
    }
  }

  const secret = settings.sessionSecret?.trim() ?? '';
  if (secret === '')
    fail('BUILDSTORY_SESSION_SECRET is required when BUILDSTORY_AUTH_PASSWORDS is set (32 characters or more, e.g. openssl rand -hex 32)');
  if (secret.length < MIN_SECRET_CHARS) fail(`BUILDSTORY_SESSION_SECRET must be at least ${MIN_SECRET_CHARS} characters long`);

  const codecUsers = new Set<string>();
  if (codecRaw !== '') {
    codecRaw.split(',').forEach((entry, index) => {
      const name = entry.trim();
      // Quote only what looks like a user name: a password pasted here by mistake must not reach the logs.
      if (!USER_NAME.test(name)) fail(`BUILDSTORY_CODEC_USERS: entry ${index + 1} is not a user name`);
      if (!users.has(name)) {
        fail(
          `BUILDSTORY_CODEC_USERS: ${name} is not a user of BUILDSTORY_AUTH_PASSWORDS${shared ? ` (with a shared password, the user is ${SHARED_USER})` : ''}`,
        );
      }
      codecUsers.add(name);
    });
  }

  return {
    users,
    shared,
    sessionSecret: secret,
    secureCookie: settings.secureCookie,
    sessionMaxAgeSeconds: SESSION_MAX_AGE_SECONDS,
    codecUsers,
  };
}
