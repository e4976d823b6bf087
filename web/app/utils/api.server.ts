/**
 * The JSON API under /api/v1: who is asking, errors as problem details (RFC 9457), JSON bodies
 * read against the zod schemas of api-schemas.server.ts, and the Idempotency-Key header.
 */
import type { ZodError, ZodTypeAny, z } from 'zod';
import { bearerUser, type Viewer } from './auth.server';
import { IdempotencyConflictError } from './api-runs.server';
import { RunNotFoundError, RunStateConflictError, ReviewPendingError } from './run-control.server';
import { MissingOwnerAttributeError } from './run-owner.server';
import type { RunFile } from './run-files';
import { loadRunFileList } from './run-files.server';
import { TemporalUnreachableError } from './temporal-client.server';

export const PROBLEM_TYPE = 'application/problem+json';

/** Problem types a client may branch on; anything else is `about:blank` (the status says it all). */
export const PROBLEM_TYPES = {
  invalid: 'urn:buildstory:problem:invalid-request',
  idempotencyConflict: 'urn:buildstory:problem:idempotency-key-reused',
  runState: 'urn:buildstory:problem:run-state-conflict',
} as const;

/** What is wrong with one part of a request: a body field (JSON pointer), a query parameter or a header. */
export interface ProblemError {
  detail: string;
  pointer?: string;
  parameter?: string;
  header?: string;
}

export interface Problem {
  type?: string;
  title: string;
  status: number;
  detail?: string;
  errors?: ProblemError[];
}

/** A problem details response; thrown by the helpers below, returned by the routes. */
export function problem(body: Problem, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify({ type: 'about:blank', ...body }), {
    status: body.status,
    headers: { 'Content-Type': PROBLEM_TYPE, 'Cache-Control': 'no-store', ...headers },
  });
}

export function json(body: unknown, init: { status?: number; headers?: Record<string, string> } = {}): Response {
  return new Response(JSON.stringify(body), {
    status: init.status ?? 200,
    headers: { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', ...init.headers },
  });
}

/**
 * The answer to a method a route does not serve, as a problem (Remix's own is a 400 or 405 with
 * a body of its own): `export const loader = methodNotAllowed('POST')` in a POST-only route.
 */
export function methodNotAllowed(allow: 'GET' | 'POST') {
  return () => problem({ title: `Use ${allow} here`, status: 405 }, { Allow: allow });
}

export function notFound(): Response {
  return problem({ title: 'No run with this id', status: 404 });
}

/**
 * Who calls the API. With access control off it is open, like the app. With it on, the caller
 * needs an API token (`Authorization: Bearer`, made on /account; auth.server.ts bearerUser): a
 * session cookie does not authenticate the API (a page's cookie must not let another site's
 * script drive it). Anything else is a 401 problem that says what is missing.
 */
export async function apiUser(request: Request): Promise<Viewer> {
  const outcome = await bearerUser(request);
  if ('viewer' in outcome) return outcome.viewer;
  throw problem(
    { title: outcome.refused.title, status: 401, detail: outcome.refused.detail },
    { 'WWW-Authenticate': 'Bearer realm="buildstory"' },
  );
}

/** The zod issues as problem errors, each naming its field as a JSON pointer into the body. */
function bodyErrors(error: ZodError): ProblemError[] {
  const pointer = (path: Array<string | number>) =>
    ['#', ...path.map((part) => String(part).replace(/~/g, '~0').replace(/\//g, '~1'))].join('/');
  return error.issues.flatMap((issue) =>
    // A field that is not in the schema: named itself, rather than the object around it.
    issue.code === 'unrecognized_keys'
      ? issue.keys.map((key) => ({ pointer: pointer([...issue.path, key]), detail: `${key} is not a field of this request.` }))
      : [{ pointer: pointer(issue.path), detail: issue.message }],
  );
}

export function invalid(title: string, errors: ProblemError[]): Response {
  return problem({ type: PROBLEM_TYPES.invalid, title, status: 400, errors });
}

const JSON_TYPE = /^\s*application\/(?:[\w.+-]+\+)?json\s*(;|$)/i;

/** The request's JSON body parsed with `schema`; a 415 or 400 problem (thrown) when it is not that. */
export async function readJsonBody<S extends ZodTypeAny>(request: Request, schema: S): Promise<z.output<S>> {
  if (!JSON_TYPE.test(request.headers.get('Content-Type') ?? '')) {
    throw problem({ title: 'Send the body as application/json', status: 415 });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(await request.text());
  } catch {
    throw invalid('The body is not valid JSON', [{ pointer: '#', detail: 'The body could not be parsed as JSON.' }]);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw invalid('The request body is not valid', bodyErrors(parsed.error));
  return parsed.data as z.output<S>;
}

/** The query string parsed with `schema` (each parameter once); a 400 problem (thrown) naming the parameter. */
export function readQuery<S extends ZodTypeAny>(request: Request, schema: S): z.output<S> {
  const params = Object.fromEntries(new URL(request.url).searchParams);
  const parsed = schema.safeParse(params);
  if (!parsed.success) {
    throw invalid(
      'A query parameter is not valid',
      parsed.error.issues.map((issue) => ({ parameter: String(issue.path[0] ?? ''), detail: issue.message })),
    );
  }
  return parsed.data as z.output<S>;
}

export const IDEMPOTENCY_HEADER = 'Idempotency-Key';
/** Visible ASCII without quotes, spaces, commas or semicolons: a UUID, a hash, a ULID all fit. */
export const IDEMPOTENCY_KEY_PATTERN = /^[A-Za-z0-9._~:+/=-]{1,255}$/;

/**
 * The Idempotency-Key header, or null without one. It may be quoted, as the IETF draft writes it
 * (a structured-field string). A 400 problem (thrown) for one outside the pattern.
 */
export function idempotencyKey(request: Request): string | null {
  const raw = request.headers.get(IDEMPOTENCY_HEADER);
  if (raw === null) return null;
  const key = /^"(.*)"$/.exec(raw.trim())?.[1] ?? raw.trim();
  if (!IDEMPOTENCY_KEY_PATTERN.test(key)) {
    throw invalid('The Idempotency-Key header is not valid', [
      { header: IDEMPOTENCY_HEADER, detail: 'Use 1 to 255 characters from A-Z a-z 0-9 . _ ~ : + / = - (a UUID does).' },
    ]);
  }
  return key;
}

/**
 * The problem for an error of the run functions (run-control, run-start), or null for one that is
 * not theirs (a bug: the route lets it through as a 500).
 */
export function problemFor(err: unknown): Response | null {
  if (err instanceof Response) return err;
  if (err instanceof RunNotFoundError) return notFound();
  if (err instanceof IdempotencyConflictError) {
    return problem({
      type: PROBLEM_TYPES.idempotencyConflict,
      title: 'This Idempotency-Key was used with another request body',
      status: 409,
      detail: err.message,
      errors: [{ header: IDEMPOTENCY_HEADER, detail: 'Already used with another body.' }],
    });
  }
  if (err instanceof RunStateConflictError) {
    return problem({ type: PROBLEM_TYPES.runState, title: "The run's state does not allow this", status: 409, detail: err.message });
  }
  if (err instanceof ReviewPendingError) {
    return problem({ title: 'The answer is not confirmed yet', status: 503, detail: err.message }, { 'Retry-After': '5' });
  }
  if (err instanceof TemporalUnreachableError || err instanceof MissingOwnerAttributeError) {
    return problem({ title: 'Temporal is not available', status: 503, detail: err.message }, { 'Retry-After': '5' });
  }
  return null;
}

/** A plain-text Response the file functions threw (404, 503), as the API's problem. */
export async function fileProblem(err: unknown): Promise<Response> {
  if (!(err instanceof Response) || err.headers.get('Content-Type')?.includes('json')) throw err;
  const detail = (await err.text()).trim();
  const title = err.status === 404 ? 'Not found' : err.status === 503 ? 'Not available now' : `HTTP ${err.status}`;
  return problem({ title, status: err.status, ...(detail ? { detail } : {}) }, err.status === 503 ? { 'Retry-After': '5' } : {});
}

/**
 * The files of a run the caller may see (its owner's; any with access control off), or the
 * problem to answer instead.
 */
export async function apiRunFiles(request: Request, workflowId: string): Promise<RunFile[] | Response> {
  const { user } = await apiUser(request);
  return loadRunFileList(workflowId, user).catch(fileProblem);
}

/** Run `handler`, answering any error of ours (thrown problems included) as its problem. */
export async function answer(handler: () => Promise<Response>): Promise<Response> {
  try {
    return await handler();
  } catch (err) {
    const response = problemFor(err);
    if (response) return response;
    throw err;
  }
}
