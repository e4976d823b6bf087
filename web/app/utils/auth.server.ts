/**
 * Access control: sign-in with a password from the environment (BUILDSTORY_AUTH_PASSWORDS), a
 * signed session cookie, a CSRF token per session, and a limit on failed sign-ins per client.
 * With the setting unset it is off: `requireUser` lets everyone in as "no one in particular".
 *
 * The session lives entirely in the cookie (HttpOnly, SameSite=Lax, HMAC-signed with
 * BUILDSTORY_SESSION_SECRET): the user, the CSRF token, an expiry checked here (a copied cookie
 * stops working after 12 h whatever the browser does with Max-Age), and a fingerprint of the
 * user's password, so changing or removing a password signs that user out everywhere. Signing
 * out also records the session's id until it would have expired (shared-store.server.ts), so a
 * copy of the cookie stops working too: at every replica with a shared store, else in this process
 * only. When the shared list cannot be read, a signed-in request gets 503, never a pass.
 *
 * The CSRF token is our own rather than remix-utils' CSRF class: that one needs crypto-js and a
 * second cookie, compares with `!==`, and does not tie the token to the session.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createCookieSessionStorage, redirect, type Session, type SessionStorage } from '@remix-run/node';
import type { RateLimiterAbstract } from 'rate-limiter-flexible';
import type { AuthConfig } from '../../../config';
import { getConfig } from './env.server';
import { log } from './log.server';
import { consumeOrRetryAfter } from './rate-limit.server';
import { apiTokens, rateLimiter, revokedSessions } from './shared-store.server';

/** Who is asking. */
export interface Viewer {
  /** The signed-in user; null only when access control is off (then every run is everyone's). */
  user: string | null;
  /** The session's CSRF token, for the hidden `csrf` input of every POST form; null when off. */
  csrf: string | null;
}

const OPEN: Viewer = { user: null, csrf: null };

/** The form field that carries the CSRF token. */
export const CSRF_FIELD = 'csrf';

export const CSRF_MESSAGE =
  'This form could not be verified (its security token is missing or out of date): reload the page and try again.';

/** Failed sign-ins one client may make per window, and the window. */
const LOGIN_ATTEMPTS = 10;
const LOGIN_WINDOW_SECONDS = 15 * 60;

interface SessionData {
  /** Random id, for signing out (see `revokedSessions`). */
  sid: string;
  user: string;
  csrf: string;
  /** Epoch ms after which the session is worthless. */
  expiresAt: number;
  /** HMAC of the user's current password: a changed password ends the session. */
  key: string;
}

type AppSession = Session<SessionData>;

let cached: { auth: AuthConfig; storage: SessionStorage<SessionData> } | null = null;

/** The access control settings; null when it is off. */
export function authConfig(): AuthConfig | null {
  return getConfig().auth;
}

function storageFor(auth: AuthConfig): SessionStorage<SessionData> {
  if (cached?.auth !== auth) {
    cached = {
      auth,
      storage: createCookieSessionStorage<SessionData>({
        cookie: {
          name: 'buildstory_session',
          httpOnly: true,
          sameSite: 'lax',
          path: '/',
          maxAge: auth.sessionMaxAgeSeconds,
          secrets: [auth.sessionSecret],
        },
      }),
    };
  }
  return cached.storage;
}

/** Secure when the request came over https (as the proxy says, with TRUST_PROXY) or the setting says always. */
function cookieOptions(auth: AuthConfig, request: Request) {
  return { secure: auth.secureCookie === 'always' || new URL(request.url).protocol === 'https:' };
}

function newToken(): string {
  return randomBytes(32).toString('base64url');
}

function passwordKey(auth: AuthConfig, user: string, password: string): string {
  return createHmac('sha256', auth.sessionSecret).update(`password\0${user}\0${password}`).digest('base64url').slice(0, 22);
}

/** Equal strings, compared in constant time (over their HMACs, which have one length). */
function sameSecret(a: string, b: string, secret: string): boolean {
  const digest = (text: string) => createHmac('sha256', secret).update(text).digest();
  return timingSafeEqual(digest(a), digest(b));
}

async function readSession(auth: AuthConfig, request: Request): Promise<AppSession> {
  return storageFor(auth).getSession(request.headers.get('Cookie'));
}

/** The signed-in viewer of this session, or null (none, expired, or the password changed). */
async function signedIn(auth: AuthConfig, session: AppSession): Promise<Viewer | null> {
  const user = session.get('user');
  const csrf = session.get('csrf');
  const expiresAt = session.get('expiresAt');
  const key = session.get('key');
  const sid = session.get('sid');
  if (!user || !csrf || typeof expiresAt !== 'number' || expiresAt <= Date.now() || !key || !sid) return null;
  const password = auth.users.get(user);
  if (password === undefined || !sameSecret(key, passwordKey(auth, user, password), auth.sessionSecret)) return null;
  // Last: the only check that may leave this process.
  if (await signedOut(sid)) return null;
  return { user, csrf };
}

/** 503: the shared sign-out list did not answer; `doing` is what could not be done. */
function storeUnavailable(err: unknown, doing: string): Response {
  log.error(`${doing}: the shared store did not answer: ${(err as Error).message}`);
  return new Response(`${doing}: the sign-out list does not answer right now. Try again in a moment.\n`, {
    status: 503,
    headers: { 'Content-Type': 'text/plain; charset=utf-8', 'Retry-After': '5', 'Cache-Control': 'no-store' },
  });
}

async function signedOut(sid: string): Promise<boolean> {
  try {
    return await (await revokedSessions()).isRevoked(sid);
  } catch (err) {
    // Unknown is not "not signed out": a copied cookie must not pass while the list is down.
    throw storeUnavailable(err, 'Cannot check this session');
  }
}

/**
 * The path to come back to after signing in: the page asked for, without Remix's data-request
 * decorations (`.data`, `_routes`, `index`).
 */
function returnPath(request: Request): string {
  const url = new URL(request.url);
  let path = url.pathname.replace(/\.data$/, '');
  if (path === '/_root') path = '/';
  url.searchParams.delete('_routes');
  url.searchParams.delete('index');
  const query = url.searchParams.toString();
  return `${path || '/'}${query ? `?${query}` : ''}`;
}

/**
 * The viewer of a page or action, or a redirect to /login (thrown) when access control is on and
 * nobody is signed in. Call it first in every loader and action that shows or changes runs.
 */
export async function requireUser(request: Request): Promise<Viewer> {
  const auth = authConfig();
  if (!auth) return OPEN;
  const viewer = await signedIn(auth, await readSession(auth, request));
  if (viewer) return viewer;
  throw redirect(`/login?next=${encodeURIComponent(returnPath(request))}`);
}

/**
 * The same for resource routes a script or EventSource calls (the event stream, the codec):
 * 401 instead of a redirect, which such a client could not follow to a sign-in form anyway.
 */
export async function requireApiUser(request: Request, options: { headers?: Record<string, string> } = {}): Promise<Viewer> {
  const auth = authConfig();
  if (!auth) return OPEN;
  const viewer = await signedIn(auth, await readSession(auth, request));
  if (viewer) return viewer;
  throw new Response('Sign in first: this needs a session (sign in at /login).\n', {
    status: 401,
    // `headers`: e.g. CORS, so a cross-origin caller can read the 401 rather than see a network error.
    headers: { ...options.headers, 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' },
  });
}

/** Why a request to the API is refused: a title and a detail for its problem document (RFC 9457). */
export interface BearerRefusal {
  title: string;
  detail: string;
}

/**
 * The viewer of an API request: its `Authorization: Bearer` token's owner (api-tokens.server.ts).
 * Cookies do not count (a page's session cannot be borrowed by a script on another site, so the
 * API needs no CSRF token). With access control off the API is open, like the app. A token of a
 * user no longer in BUILDSTORY_AUTH_PASSWORDS is refused. The token itself is never logged.
 */
export async function bearerUser(request: Request): Promise<{ viewer: Viewer } | { refused: BearerRefusal }> {
  const auth = authConfig();
  if (!auth) return { viewer: OPEN };
  const header = request.headers.get('Authorization') ?? '';
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match) {
    return {
      refused: {
        title: 'An API token is needed',
        detail: header
          ? 'The Authorization header must read "Bearer <token>".'
          : 'Send "Authorization: Bearer <token>"; a signed-in user creates tokens at /account. Cookies do not authenticate the API.',
      },
    };
  }
  const record = await (await apiTokens()).verify(match[1]!);
  if (!record)
    return { refused: { title: 'The API token is not valid', detail: 'It was revoked, mistyped, or is not a Buildstory token.' } };
  if (!auth.users.has(record.user))
    return { refused: { title: 'The API token is not valid', detail: "The token's user can no longer sign in." } };
  return { viewer: { user: record.user, csrf: null } };
}

/**
 * The same for the codec endpoint, which decrypts (and encrypts) any run's payloads whoever owns
 * the run: only the operators in BUILDSTORY_CODEC_USERS pass, anyone else signed in gets 403.
 * With access control off it is open, like the rest of the app (one trusted user).
 */
export async function requireCodecUser(request: Request, options: { headers?: Record<string, string> } = {}): Promise<Viewer> {
  const viewer = await requireApiUser(request, options);
  const auth = authConfig();
  if (!auth || (viewer.user !== null && auth.codecUsers.has(viewer.user))) return viewer;
  throw new Response(`The codec endpoint is for operators: ${viewer.user} is not in BUILDSTORY_CODEC_USERS.\n`, {
    status: 403,
    headers: { ...options.headers, 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' },
  });
}

/** Whether the form carries this session's CSRF token. Always true when access control is off. */
export function csrfValid(viewer: Viewer, form: FormData): boolean {
  if (viewer.csrf === null) return authConfig() === null;
  const sent = form.get(CSRF_FIELD);
  return typeof sent === 'string' && sent !== '' && sameSecret(sent, viewer.csrf, authConfig()?.sessionSecret ?? '');
}

/** Throws a 403 unless the form carries this session's CSRF token. */
export function requireCsrf(viewer: Viewer, form: FormData): void {
  if (!csrfValid(viewer, form)) {
    throw new Response(`${CSRF_MESSAGE}\n`, { status: 403, headers: { 'Content-Type': 'text/plain; charset=utf-8' } });
  }
}

/* ----------------------------------------------------------------------------------------- */
/* Signing in and out                                                                        */
/* ----------------------------------------------------------------------------------------- */

/**
 * Where to go after signing in: a path on this site only (no open redirect), as the browser will
 * resolve it. Browsers drop tabs and newlines from a URL and read `\` as `/`, so `/<TAB>/evil` and
 * `/\evil` lead to another site: anything with a control character or a backslash is refused, and
 * the rest is resolved against this site and must stay on it. Returns the normalized path.
 */
export function safeNext(next: unknown, siteOrigin: string): string {
  // eslint-disable-next-line no-control-regex
  if (typeof next !== 'string' || !next.startsWith('/') || /[\u0000-\u001F\u007F\\]/.test(next)) return '/';
  let url: URL;
  try {
    url = new URL(next, siteOrigin);
  } catch {
    return '/';
  }
  const path = `${url.pathname}${url.search}${url.hash}`;
  if (url.origin !== siteOrigin || path.startsWith('//')) return '/';
  return url.pathname === '/login' || url.pathname === '/logout' ? '/' : path;
}

/** The signed-in viewer, without redirecting; null when nobody is (or access control is off). */
export async function currentUser(request: Request): Promise<Viewer | null> {
  const auth = authConfig();
  if (!auth) return null;
  return signedIn(auth, await readSession(auth, request));
}

/**
 * The sign-in form's CSRF token. The form gets a session of its own (no user yet), so a
 * sign-in posted from another site, which carries no cookie under SameSite=Lax, is refused.
 * `setCookie` is null when the visitor's session already has a token.
 */
export async function signInForm(auth: AuthConfig, request: Request): Promise<{ csrf: string; setCookie: string | null }> {
  const session = await readSession(auth, request);
  const existing = session.get('csrf');
  if (existing && !session.get('user')) return { csrf: existing, setCookie: null };
  const fresh = await storageFor(auth).getSession();
  const csrf = newToken();
  fresh.set('csrf', csrf);
  return { csrf, setCookie: await storageFor(auth).commitSession(fresh, cookieOptions(auth, request)) };
}

/** The sign-in form's token matches its session's. */
export async function signInCsrfValid(auth: AuthConfig, request: Request, form: FormData): Promise<boolean> {
  const expected = (await readSession(auth, request)).get('csrf');
  const sent = form.get(CSRF_FIELD);
  return typeof expected === 'string' && typeof sent === 'string' && sent !== '' && sameSecret(sent, expected, auth.sessionSecret);
}

/**
 * The user these credentials sign in, or null. Compares in constant time, and as long for an
 * unknown user as for a known one. With a shared password the user name is ignored.
 */
export function verifyPassword(auth: AuthConfig, user: string, password: string): string | null {
  // Exactly as typed: `alice ` is not alice.
  const name = auth.shared ? [...auth.users.keys()][0] : user;
  const expected = auth.users.get(name);
  const matches = sameSecret(password, expected ?? `\0no such user\0${randomBytes(8).toString('hex')}`, auth.sessionSecret);
  return matches && expected !== undefined ? name : null;
}

/** A new session for `user` (a fresh CSRF token too); returns the Set-Cookie value. */
export async function startSession(auth: AuthConfig, request: Request, user: string): Promise<string> {
  const session = await storageFor(auth).getSession();
  session.set('sid', newToken());
  session.set('user', user);
  session.set('csrf', newToken());
  session.set('expiresAt', Date.now() + auth.sessionMaxAgeSeconds * 1_000);
  session.set('key', passwordKey(auth, user, auth.users.get(user) ?? ''));
  return storageFor(auth).commitSession(session, cookieOptions(auth, request));
}

/** Ends the session: its id is refused from now on (see `revokedSessions`); returns the Set-Cookie value that clears it. */
export async function endSession(auth: AuthConfig, request: Request): Promise<string> {
  const session = await readSession(auth, request);
  const sid = session.get('sid');
  const expiresAt = session.get('expiresAt');
  if (sid && typeof expiresAt === 'number' && expiresAt > Date.now()) {
    try {
      await (await revokedSessions()).revoke(sid, expiresAt);
    } catch (err) {
      // The cookie stays, so that signing out can be tried again until every replica knows.
      throw storeUnavailable(err, 'Cannot sign out everywhere');
    }
  }
  return storageFor(auth).destroySession(session, cookieOptions(auth, request));
}

let loginLimiter: Promise<RateLimiterAbstract> | null = null;

/**
 * Count a sign-in attempt from this client: null when it may try, otherwise the seconds until it
 * may again. Every attempt costs a point; a successful one gives it back (`signInSucceeded`), so
 * the limit counts failures, and a correct password does not wipe the failures around it.
 * Counted where shared-store.server.ts keeps counters: across replicas with a shared store, else
 * each web process counts its own clients.
 */
export async function signInRetryAfter(clientIp: string | undefined): Promise<number | null> {
  loginLimiter ??= rateLimiter({ keyPrefix: 'login', points: LOGIN_ATTEMPTS, duration: LOGIN_WINDOW_SECONDS });
  return consumeOrRetryAfter(await loginLimiter, clientIp);
}

export async function signInSucceeded(clientIp: string | undefined): Promise<void> {
  await (await loginLimiter)?.reward(clientIp ?? 'unknown', 1);
}
