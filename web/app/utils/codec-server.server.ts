/**
 * The codec endpoint the Temporal UI (and `temporal --codec-endpoint`) calls to read encrypted
 * payloads: Temporal's remote codec protocol.
 *
 *   POST /codec/decode   POST /codec/encode
 *   Content-Type: application/json, X-Namespace: <namespace>
 *   { "payloads": [{ "metadata": { "<key>": "<base64>" }, "data": "<base64>" }] }  ->  the same shape
 *
 * The browser calls it from the Temporal UI's origin, so it answers CORS (preflight included) for
 * that origin only (TEMPORAL_UI_URL), with credentials, so a sign-in cookie can ride along. With
 * encryption off there is nothing to decode: 404.
 *
 * Limits, each answered with 413 naming it: MAX_PAYLOADS per request (counted before any work per
 * payload), MAX_PAYLOAD_BYTES per payload, MAX_OUTPUT_BYTES per answer, MAX_BODY_BYTES per request.
 * Without them a 15 MB body of 5 million empty payloads took 28 s of the event loop and 2.9 GB.
 *
 * `handleCodecRequest` is the whole endpoint; an access check wraps it (and can add
 * `codecCorsHeaders` to its own refusals, so the UI can tell a 401 or 403 from a network error).
 */
import type { Payload } from '@temporalio/common';
import { z } from 'zod';
import { EncryptionCodec, PayloadDecryptionError, UnknownEncryptionKeyError } from '../../../codec';
import { getConfig } from './env.server';
import { log } from './log.server';

const MiB = 1024 * 1024;
/** Payloads per request: ample for what the Temporal UI and the CLI send (a page of history at most). */
const MAX_PAYLOADS = 1_000;
/** One payload (data and metadata, decoded): Temporal's own limit per payload. */
const MAX_PAYLOAD_BYTES = 2 * MiB;
/** The payloads of one answer (decoded): twice Temporal's 4 MiB per gRPC message, so any page of history fits. */
const MAX_OUTPUT_BYTES = 8 * MiB;
/** MAX_OUTPUT_BYTES of payloads in base64 (4/3 as long), with room for the JSON and metadata around them. */
const MAX_BODY_BYTES = 12 * MiB;
/** Objects and arrays in a body within MAX_PAYLOADS: the root, the array, each payload and its metadata. */
const MAX_JSON_CONTAINERS = 2 + 2 * MAX_PAYLOADS;
const TOO_MANY_PAYLOADS = `Too many payloads: at most ${MAX_PAYLOADS} per request`;
const ALLOWED_HEADERS = 'Content-Type, X-Namespace, Authorization';
/** Proto JSON writes standard base64 and accepts the URL-safe alphabet too. */
const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

const Base64Schema = z.string().regex(BASE64, 'must be base64');
const BodySchema = z.object({
  payloads: z.array(
    z.object({
      metadata: z.record(Base64Schema).nullish(),
      data: Base64Schema.nullish(),
    }),
  ),
});
type JsonPayload = z.infer<typeof BodySchema>['payloads'][number];

let cachedCodec: EncryptionCodec | undefined;

function codec(): EncryptionCodec | null {
  const { encryption } = getConfig();
  if (!encryption) return null;
  cachedCodec ??= new EncryptionCodec(encryption);
  return cachedCodec;
}

function uiOrigin(): string | null {
  try {
    return new URL(getConfig().temporal.uiUrl).origin;
  } catch {
    return null;
  }
}

type OriginCheck = { allowed: true; cors: boolean } | { allowed: false };

/** No Origin (the CLI, curl), our own origin, or the Temporal UI's origin (the only one that gets CORS). */
function checkOrigin(request: Request): OriginCheck {
  const origin = request.headers.get('Origin');
  if (origin === null) return { allowed: true, cors: false };
  if (origin === uiOrigin()) return { allowed: true, cors: true };
  if (origin === new URL(request.url).origin) return { allowed: true, cors: false };
  return { allowed: false };
}

/** The CORS headers for this request: empty unless it comes from the Temporal UI's origin. */
export function codecCorsHeaders(request: Request): Record<string, string> {
  const check = checkOrigin(request);
  const headers: Record<string, string> = { Vary: 'Origin' };
  if (check.allowed && check.cors) {
    headers['Access-Control-Allow-Origin'] = request.headers.get('Origin')!;
    headers['Access-Control-Allow-Credentials'] = 'true';
  }
  return headers;
}

function text(status: number, body: string, headers: Record<string, string>): Response {
  return new Response(`${body}\n`, {
    status,
    headers: { ...headers, 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' },
  });
}

function fromJson({ metadata, data }: JsonPayload): Payload {
  return {
    metadata: Object.fromEntries(Object.entries(metadata ?? {}).map(([key, value]) => [key, Buffer.from(value, 'base64')])),
    data: Buffer.from(data ?? '', 'base64'),
  };
}

function toJson({ metadata, data }: Payload): JsonPayload {
  return {
    metadata: Object.fromEntries(Object.entries(metadata ?? {}).map(([key, value]) => [key, Buffer.from(value).toString('base64')])),
    data: Buffer.from(data ?? new Uint8Array()).toString('base64'),
  };
}

/** Bytes of a payload as the codec sees it: its data and metadata, decoded. */
function payloadBytes({ metadata, data }: Payload): number {
  let bytes = data?.length ?? 0;
  for (const [key, value] of Object.entries(metadata ?? {})) bytes += Buffer.byteLength(key) + (value?.length ?? 0);
  return bytes;
}

/**
 * The body as text, or null when it is longer than `max` bytes. A chunked body has no
 * Content-Length: past `max` the rest is read and dropped, so the 413 still reaches the client.
 */
async function readBody(request: Request, max: number): Promise<string | null> {
  if (!request.body) return '';
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return size > max ? null : Buffer.concat(chunks).toString('utf8');
    size += value.length;
    if (size <= max) chunks.push(value);
  }
}

/**
 * Whether a JSON text holds more than `limit` objects and arrays, found without parsing it:
 * JSON.parse of 12 MiB of `{},{},...` takes about a second and 300 MB, this scan some 30 ms.
 */
function moreContainersThan(json: string, limit: number): boolean {
  let count = 0;
  let inString = false;
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // a backslash escapes the next character, a quote included
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if ((c === 0x7b || c === 0x5b) && ++count > limit) return true;
  }
  return false;
}

/** POST /codec/encode and /codec/decode, their OPTIONS preflight; `op` is the last path segment. */
export async function handleCodecRequest(request: Request, op: string | undefined): Promise<Response> {
  const payloadCodec = codec();
  const cors = codecCorsHeaders(request);
  if (!payloadCodec || (op !== 'encode' && op !== 'decode')) return text(404, 'Not found', { Vary: 'Origin' });
  if (!checkOrigin(request).allowed) return text(403, 'This origin may not use the codec endpoint', cors);

  if (request.method === 'OPTIONS') {
    return new Response(null, {
      status: 204,
      headers: {
        ...cors,
        'Access-Control-Allow-Methods': 'POST, OPTIONS',
        'Access-Control-Allow-Headers': ALLOWED_HEADERS,
        'Access-Control-Max-Age': '600',
      },
    });
  }
  if (request.method !== 'POST') return text(405, 'Use POST', { ...cors, Allow: 'POST, OPTIONS' });

  const { namespace } = getConfig().temporal;
  const asked = request.headers.get('X-Namespace');
  // Our keys are this namespace's: another namespace's payloads are not ours to read or write.
  if (asked !== null && asked !== namespace) return text(400, `This codec serves namespace ${namespace} only`, cors);
  if (!/^application\/json\b/i.test(request.headers.get('Content-Type') ?? '')) {
    return text(415, 'Expected Content-Type: application/json', cors);
  }
  const tooLarge = `Request body too large: at most ${MAX_BODY_BYTES / MiB} MiB`;
  if (Number(request.headers.get('Content-Length') ?? 0) > MAX_BODY_BYTES) return text(413, tooLarge, cors);

  const raw = await readBody(request, MAX_BODY_BYTES);
  if (raw === null) return text(413, tooLarge, cors);
  // Refuse a flood of tiny payloads before any work per payload: JSON.parse, zod, the codec.
  if (moreContainersThan(raw, MAX_JSON_CONTAINERS)) return text(413, TOO_MANY_PAYLOADS, cors);
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return text(400, 'The body is not JSON', cors);
  }
  const listed = (json as { payloads?: unknown } | null)?.payloads;
  if (Array.isArray(listed) && listed.length > MAX_PAYLOADS) return text(413, TOO_MANY_PAYLOADS, cors);
  const parsed = BodySchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return text(400, `Expected { "payloads": [{ "metadata": {...}, "data": "..." }] }: ${issue.path.join('.')}: ${issue.message}`, cors);
  }

  try {
    const answer: JsonPayload[] = [];
    let outputBytes = 0;
    for (const [index, item] of parsed.data.payloads.entries()) {
      const payload = fromJson(item);
      if (payloadBytes(payload) > MAX_PAYLOAD_BYTES) {
        return text(413, `Payload ${index + 1} is larger than ${MAX_PAYLOAD_BYTES / MiB} MiB, Temporal's limit for one payload`, cors);
      }
      const [result] = op === 'decode' ? await payloadCodec.decode([payload]) : await payloadCodec.encode([payload]);
      outputBytes += payloadBytes(result);
      if (outputBytes > MAX_OUTPUT_BYTES) {
        return text(413, `The answer would hold more than ${MAX_OUTPUT_BYTES / MiB} MiB of payloads: send fewer per request`, cors);
      }
      answer.push(toJson(result));
    }
    return new Response(JSON.stringify({ payloads: answer }), {
      status: 200,
      headers: { ...cors, 'Content-Type': 'application/json', 'Cache-Control': 'no-store' },
    });
  } catch (err) {
    // A key that is gone, a wrong key or altered data: say which key id, never anything about the key.
    if (err instanceof UnknownEncryptionKeyError || err instanceof PayloadDecryptionError) {
      log.warn({ keyId: err.keyId, op }, err.message);
      return text(422, err.message, cors);
    }
    log.error({ err, op }, 'codec endpoint failed');
    return text(500, 'The codec failed', cors);
  }
}
