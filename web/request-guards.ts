/**
 * Checks web/server.ts makes before a request reaches Remix: what a route would otherwise do
 * too late (read an unbounded body) or answer with a 500 (Remix's own origin check throws).
 */
import type { RequestHandler } from 'express';

const KiB = 1024;
const MiB = 1024 * KiB;

/**
 * The most a request body may hold, by route. Node's parser never reads past Content-Length, so
 * a length checked here bounds what any route can read; bodies without one are refused.
 */
export const BODY_LIMITS = {
  /** A user name and a password, or a sign-out. */
  account: 16 * KiB,
  /** The home form: a task is at most 4,000 characters, up to 12 bytes each once form-encoded. */
  task: 1 * MiB,
  /** Everything else: the run page's buttons. */
  other: 64 * KiB,
} as const;

/** The page a path belongs to: Remix's data requests add `.data` (and `/_root.data` is the home page). */
function pagePath(path: string): string {
  const page = path.replace(/\.data$/, '');
  return page === '/_root' || page === '' ? '/' : page;
}

export function bodyLimitFor(path: string): number {
  const page = pagePath(path);
  if (page === '/') return BODY_LIMITS.task;
  if (page === '/login' || page === '/logout') return BODY_LIMITS.account;
  return BODY_LIMITS.other;
}

/**
 * The codec bounds its own bodies (codec-server.server.ts), so that its refusals carry the CORS
 * headers the Temporal UI needs to read them; it is also the one route posted to cross-origin.
 */
const selfGuarded = (path: string) => path.startsWith('/codec/');

/** Of a refused body, what is read and dropped before the answer, and for how long. */
const DRAIN_BYTES = 8 * 1024 * 1024;
const DRAIN_MS = 5_000;

/**
 * Answers `status` and closes the connection, once the client has sent its body (read and dropped,
 * never parsed) or DRAIN_BYTES or DRAIN_MS have passed: a client still sending when the connection
 * closes gets a reset (EPIPE) instead of the answer.
 */
function refuse(req: Parameters<RequestHandler>[0], res: Parameters<RequestHandler>[1], status: number, message: string): void {
  res.status(status).set({ 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store', Connection: 'close' });
  let dropped = 0;
  let answered = false;
  const answer = () => {
    if (answered) return;
    answered = true;
    clearTimeout(timer);
    res.end(`${message}\n`);
  };
  const timer = setTimeout(answer, DRAIN_MS);
  req.on('data', (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped > DRAIN_BYTES) answer();
  });
  req.once('end', answer);
  req.once('error', answer);
  req.resume();
}

/** 411 for a body without a Content-Length (chunked), 413 for one over its route's limit. */
export const limitRequestBodies: RequestHandler = (req, res, next) => {
  // Remix hands the body of every other method to the route.
  if (req.method === 'GET' || req.method === 'HEAD' || selfGuarded(req.path)) return next();
  if (req.headers['transfer-encoding'] !== undefined) {
    return refuse(req, res, 411, 'Send the request body with a Content-Length: bodies of unknown length are refused.');
  }
  const limit = bodyLimitFor(req.path);
  const length = Number(req.headers['content-length'] ?? 0);
  if (!(length <= limit)) {
    return refuse(req, res, 413, `The request body is too large: at most ${limit.toLocaleString('en-US')} bytes here.`);
  }
  next();
};

/**
 * Why a form post's Origin shows another site, or null when it does not: the check Remix makes
 * before every action (`throwIfPotentialCSRFAttack`, which throws and so answers 500), made here
 * first so that the answer is a 403. Like Remix, X-Forwarded-Host wins over Host.
 */
export function crossOriginRefusal(headers: { origin?: string; host?: string; forwardedHost?: string }): string | null {
  const { origin } = headers;
  if (origin === undefined) return null;
  let originHost: string | null = null;
  try {
    originHost = origin === 'null' ? null : new URL(origin).host;
  } catch {
    // not a URL: refused below
  }
  const host = headers.forwardedHost?.split(',')[0]?.trim() || headers.host;
  if (originHost !== null && originHost === host) return null;
  return 'This form was sent from another site (its Origin does not match this app), so it was refused.';
}

const FORM_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** 403 for a cross-origin form post. */
export const refuseCrossOriginForms: RequestHandler = (req, res, next) => {
  if (!FORM_METHODS.has(req.method) || selfGuarded(req.path)) return next();
  const header = (name: string) => (typeof req.headers[name] === 'string' ? (req.headers[name] as string) : undefined);
  const refusal = crossOriginRefusal({ origin: header('origin'), host: header('host'), forwardedHost: header('x-forwarded-host') });
  if (refusal) return refuse(req, res, 403, refusal);
  next();
};

/** HSTS on responses to https requests (behind a TLS proxy, `req.secure` follows TRUST_PROXY). */
export const strictTransportSecurity: RequestHandler = (req, res, next) => {
  if (req.secure) res.setHeader('Strict-Transport-Security', 'max-age=31536000');
  next();
};
