/**
 * Turns whatever the OpenAI client (or our own checks) threw into the failure Temporal should see.
 *
 * The rule: a request the server will refuse again (bad key, unknown model, bad request) and an
 * answer we cannot use (not JSON, not a valid plan, refused, filtered) fail for good; anything
 * that may pass on a later attempt (rate limits, 5xx, timeouts, dropped connections) is a
 * retryable ApplicationFailure, so the activity's retry policy decides how often and how fast.
 */
import { ApplicationFailure, TemporalFailure } from '@temporalio/common';
import {
  APIConnectionError,
  APIConnectionTimeoutError,
  APIError,
  APIUserAbortError,
  ContentFilterFinishReasonError,
  LengthFinishReasonError,
} from 'openai/error';
import { NON_RETRYABLE_LLM_ERRORS } from '../../contract/data';

/** Failure types Temporal may retry. */
export const RETRYABLE_LLM_ERRORS = {
  rateLimited: 'LlmRateLimited',
  serverError: 'LlmServerError',
  timeout: 'LlmTimeout',
  unreachable: 'LlmUnreachable',
} as const;

/** The longest wait a Retry-After header may ask for; beyond that the retry policy takes over. */
export const MAX_RETRY_AFTER_MS = 5 * 60_000;

export interface LlmErrorContext {
  /** Where requests go, shown in messages about reaching the server. */
  baseURL: string;
  timeoutMs: number;
  /** The configured model name, shown when the server does not know it. */
  model?: string;
}

/** The model answered, but not with something we can use. The message is shown to the user. */
export class LlmOutputError extends Error {
  override name = 'LlmOutputError';
}

/** Reading a streamed answer failed after it had started (connection dropped, garbled chunk). */
export class LlmStreamError extends Error {
  override name = 'LlmStreamError';
  constructor(readonly reason: unknown) {
    super(`Reading the model's answer failed: ${messageOf(reason)}`, { cause: reason });
  }
}

export function toLlmFailure(err: unknown, context: LlmErrorContext): Error {
  // Cancellation and failures already decided stay as they are.
  if (err instanceof TemporalFailure) return err;
  if (err instanceof APIUserAbortError || isAbortError(err)) return err as Error;

  if (err instanceof APIConnectionTimeoutError) {
    return retryable(
      RETRYABLE_LLM_ERRORS.timeout,
      `The model did not answer within ${formatSeconds(context.timeoutMs)} s (${context.baseURL}).`,
      err,
    );
  }
  if (err instanceof APIConnectionError) {
    const cause = err.cause === undefined ? err.message : messageOf(err.cause);
    return retryable(RETRYABLE_LLM_ERRORS.unreachable, `Could not reach the model at ${context.baseURL}: ${cause}`, err);
  }
  if (err instanceof APIError) return fromStatus(err, context);

  if (err instanceof LlmStreamError) {
    return err.reason instanceof SyntaxError
      ? retryable(RETRYABLE_LLM_ERRORS.serverError, `The model endpoint sent a malformed stream: ${err.reason.message}`, err)
      : retryable(RETRYABLE_LLM_ERRORS.unreachable, `The connection to the model dropped mid-answer (${messageOf(err.reason)}).`, err);
  }

  if (err instanceof LengthFinishReasonError) {
    return badOutput("The model's plan is not valid: the answer hit the model's length limit before it was complete.", err);
  }
  if (err instanceof ContentFilterFinishReasonError) {
    return badOutput("The model's answer was blocked by the provider's content filter.", err);
  }
  if (err instanceof LlmOutputError) return badOutput(err.message, err);
  if (err instanceof SyntaxError) {
    return badOutput(`The model's plan is not valid: it is not JSON (${brief(err.message)}).`, err);
  }
  if (isZodError(err)) return badOutput(`The model's plan is not valid: ${describeZodIssues(err)}.`, err);

  // Anything else is ours or unknown: let Temporal retry it as a plain error.
  const error = asError(err);
  return error instanceof Error ? error : new Error(String(err));
}

function fromStatus(err: APIError, context: LlmErrorContext): ApplicationFailure {
  const status = err.status;
  const said = serverSaid(err);
  if (status === undefined) {
    // An error event inside a stream that had already started.
    return retryable(RETRYABLE_LLM_ERRORS.serverError, `The model endpoint reported an error mid-answer.${said}`, err);
  }
  if (status === 429) {
    const delayMs = retryAfterMs(err.headers);
    const wait = delayMs === undefined ? '' : ` Retrying in ${formatSeconds(delayMs)} s.`;
    return ApplicationFailure.create({
      type: RETRYABLE_LLM_ERRORS.rateLimited,
      message: `The model endpoint is rate limiting requests (429).${wait}${said}`,
      nonRetryable: false,
      nextRetryDelay: delayMs,
      cause: err,
    });
  }
  if (status === 408 || status === 409 || status >= 500) {
    return retryable(RETRYABLE_LLM_ERRORS.serverError, `The model endpoint failed (${status}).${said}`, err);
  }
  if (status >= 400) {
    return ApplicationFailure.create({
      type: NON_RETRYABLE_LLM_ERRORS.rejected,
      message: `${rejectionMessage(status, context)}${said}`,
      nonRetryable: true,
      cause: err,
    });
  }
  return retryable(RETRYABLE_LLM_ERRORS.serverError, `The model endpoint answered with status ${status}.${said}`, err);
}

function rejectionMessage(status: number, context: LlmErrorContext): string {
  switch (status) {
    case 401:
      return 'The model endpoint rejected the API key (401). Check OPENAI_API_KEY.';
    case 403:
      return 'The model endpoint refused access (403): the API key may not be allowed to use this model. Check OPENAI_API_KEY and OPENAI_MODEL.';
    case 404: {
      const model = context.model ? ` (${context.model})` : '';
      return `The model endpoint answered 404 (not found). Check OPENAI_MODEL${model} and OPENAI_BASE_URL (${context.baseURL}).`;
    }
    default:
      return `The model endpoint rejected the request (${status}).`;
  }
}

/** Delay asked for by `retry-after-ms` or `retry-after` (seconds or an HTTP date), capped. */
export function retryAfterMs(headers: Headers | undefined, now = Date.now()): number | undefined {
  const msHeader = headers?.get('retry-after-ms');
  let delay = msHeader ? Number(msHeader) : NaN;
  const header = headers?.get('retry-after');
  if (!Number.isFinite(delay) && header) {
    const seconds = Number(header);
    delay = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(header) - now;
  }
  if (!Number.isFinite(delay)) return undefined;
  const capped = Math.min(Math.max(Math.round(delay), 0), MAX_RETRY_AFTER_MS);
  return capped > 0 ? capped : undefined;
}

/** The server's own words and the request id, short, on one line and without anything key-like. */
function serverSaid(err: APIError): string {
  const body = err.error as { message?: unknown } | undefined;
  const text = typeof body?.message === 'string' ? body.message : err.message.replace(/^\d{3}\s+/, '');
  const parts = [];
  if (text && !/status code \(no body\)/.test(text)) parts.push(`Server said: "${brief(text)}"`);
  if (err.requestID) parts.push(`request id ${err.requestID}`);
  return parts.length ? ` ${parts.join('; ')}.` : '';
}

function retryable(type: string, message: string, cause: Error): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nonRetryable: false, cause });
}

function badOutput(message: string, cause: Error): ApplicationFailure {
  return ApplicationFailure.create({ type: NON_RETRYABLE_LLM_ERRORS.badOutput, message, nonRetryable: true, cause });
}

interface ZodLikeError {
  issues: Array<{ path: Array<string | number>; message: string }>;
}

function isZodError(err: unknown): err is Error & ZodLikeError {
  // By shape, not instanceof: the openai helpers import zod through another entry point.
  return err instanceof Error && err.name === 'ZodError' && Array.isArray((err as Partial<ZodLikeError>).issues);
}

export function describeZodIssues(err: ZodLikeError): string {
  const shown = err.issues.slice(0, 3).map((issue) => {
    const where = issue.path.length ? `${issue.path.join('.')}: ` : '';
    return `${where}${issue.message}`;
  });
  const more = err.issues.length > 3 ? ` (and ${err.issues.length - 3} more)` : '';
  return `${shown.join('; ')}${more}`;
}

function brief(text: string, max = 200): string {
  const line = text
    .replace(/\s+/g, ' ')
    .replace(/\bsk-[A-Za-z0-9_*-]{6,}/g, 'sk-***')
    .trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/**
 * An error from another JavaScript realm (Node's own fetch and AbortController seen from a jest vm
 * context) is not `instanceof Error` here; re-create it so it keeps its name, message and cause.
 */
export function asError(err: unknown): unknown {
  if (err instanceof Error || typeof err !== 'object' || err === null) return err;
  const { name, message, stack, cause } = err as Partial<Error>;
  if (typeof name !== 'string' || typeof message !== 'string') return err;
  const copy = new Error(message, cause === undefined ? undefined : { cause: asError(cause) });
  copy.name = name;
  if (stack) copy.stack = stack;
  return copy;
}

function messageOf(value: unknown): string {
  const err = asError(value);
  if (err instanceof Error) {
    const cause = asError(err.cause);
    const detail = cause instanceof Error ? ` (${cause.message})` : '';
    return `${err.message}${detail}`;
  }
  return String(value);
}

function formatSeconds(ms: number): string {
  return String(Math.round(ms / 100) / 10);
}

function isAbortError(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { name?: unknown }).name === 'AbortError';
}
