/**
 * The web app's one Temporal client: connected lazily, with a deadline on every call, so a page
 * answers within seconds whether the server or the worker is down; a failed connect is forgotten
 * and the next request tries again. Also what the other run modules share about Temporal's
 * errors and payloads.
 */
import {
  Client,
  Connection,
  ServiceError,
  defaultGrpcRetryOptions,
  isGrpcServiceError,
  makeGrpcRetryInterceptor,
} from '@temporalio/client';
import { InterceptingCall, status as Status, type Interceptor } from '@grpc/grpc-js';
import { OpenTelemetryWorkflowClientInterceptor } from '@temporalio/interceptors-opentelemetry';
import type { Payload } from '@temporalio/common';
import { encryptionDataConverter } from '../../../codec';
import { getConfig } from './env.server';
import { log } from './log.server';
import { streamStats } from './stream-stats.server';

/** Slack past the gRPC deadline before our own timer gives up, in case a call ignores it. */
const GUARD_SLACK_MS = 500;

/** Temporal could not be reached (no server, wrong address, or no answer before the deadline). */
export class TemporalUnreachableError extends Error {
  override name = 'TemporalUnreachableError';
  constructor(
    readonly address: string,
    options?: { cause?: unknown },
  ) {
    super(`Temporal is not reachable at ${address}`, options);
  }
}

/** Our own timer fired: a call outlived its deadline. */
class TimeoutError extends Error {
  override name = 'TimeoutError';
}

let clientPromise: Promise<Client> | null = null;

const countTemporalRpcs: Interceptor = (options, nextCall) => {
  const method = options.method_definition.path.split('/').pop() ?? 'unknown';
  streamStats.temporalRpcs[method] = (streamStats.temporalRpcs[method] ?? 0) + 1;
  return new InterceptingCall(nextCall(options));
};

function connect(): Promise<Client> {
  const { temporal } = getConfig();
  const { address, tls, apiKey, metadata } = temporal.connectionOptions;
  return (async () => {
    const connection = Connection.lazy({
      address,
      tls,
      apiKey,
      metadata,
      connectTimeout: temporal.rpcTimeoutMs,
      // Count every call (what watching costs Temporal, for /metrics and the benchmark), then the SDK's retries.
      interceptors: [countTemporalRpcs, makeGrpcRetryInterceptor(defaultGrpcRetryOptions())],
    });
    try {
      await connection.ensureConnected();
    } catch (err) {
      // Close the channel, or it keeps retrying in the background.
      await connection.close().catch(() => undefined);
      throw new TemporalUnreachableError(temporal.address, { cause: err });
    }
    // With encryption keys set, everything this client writes is encrypted and everything it reads decrypted.
    const dataConverter = encryptionDataConverter(getConfig().encryption);
    // With tracing on (set up by web/server.ts), a workflow start is a span of the request's trace,
    // and the trace travels on in the workflow's headers to the worker.
    const interceptors = getConfig().tracing ? { workflow: [new OpenTelemetryWorkflowClientInterceptor()] } : undefined;
    return new Client({
      connection,
      namespace: temporal.namespace,
      ...(dataConverter ? { dataConverter } : {}),
      ...(interceptors ? { interceptors } : {}),
    });
  })();
}

/** The shared Client; connects on first use and again after a failed connect. */
export function getClient(): Promise<Client> {
  if (!clientPromise) {
    const attempt = connect();
    clientPromise = attempt;
    attempt.catch((err: unknown) => {
      if (clientPromise === attempt) clientPromise = null;
      log.warn({ err: (err as Error).cause ?? err }, (err as Error).message);
    });
  }
  return clientPromise;
}

/** Run `fn` with a gRPC deadline, and stop waiting shortly after it whatever happens. */
export async function bounded<T>(client: Client, ms: number, fn: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(`No answer from Temporal within ${ms} ms`)), ms + GUARD_SLACK_MS);
  });
  try {
    return await Promise.race([client.withDeadline(Date.now() + ms, fn), guard]);
  } finally {
    clearTimeout(timer);
  }
}

export function grpcCode(err: unknown): number | undefined {
  if (isGrpcServiceError(err)) return err.code;
  if (err instanceof ServiceError && isGrpcServiceError(err.cause)) return err.cause.code;
  return undefined;
}

export function isTimeout(err: unknown): boolean {
  return err instanceof TimeoutError || grpcCode(err) === Status.DEADLINE_EXCEEDED;
}

export function isUnreachable(err: unknown): boolean {
  if (err instanceof TemporalUnreachableError || isTimeout(err)) return true;
  const code = grpcCode(err);
  return code === Status.UNAVAILABLE || code === Status.CANCELLED;
}

export function message(err: unknown): string {
  if (err instanceof ServiceError && isGrpcServiceError(err.cause)) return `${err.message}: ${err.cause.details}`;
  return err instanceof Error ? err.message : String(err);
}

/** A call that failed because Temporal did not answer, as TemporalUnreachableError; anything else as it is. */
export function asUnreachable(err: unknown): unknown {
  return isUnreachable(err) && !(err instanceof TemporalUnreachableError)
    ? new TemporalUnreachableError(getConfig().temporal.address, { cause: err })
    : err;
}

/** One payload through the client's codecs and converter, as the SDK decodes results. */
export async function decodePayload<T>(client: Client, payload: Payload): Promise<T> {
  const { payloadCodecs, payloadConverter } = client.options.loadedDataConverter;
  let decoded = [payload];
  for (const codec of [...payloadCodecs].reverse()) decoded = await codec.decode(decoded);
  return payloadConverter.fromPayload<T>(decoded[0]);
}
