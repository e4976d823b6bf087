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
 * `handleCodecRequest` is the whole endpoint; an access check wraps it (and can add
 * `codecCorsHeaders` to its own refusals, so the UI can tell a 401 from a network error).
 */
import type { Payload } from '@temporalio/common';
import { z } from 'zod';
import { EncryptionCodec, PayloadDecryptionError, UnknownEncryptionKeyError } from '../../../codec';
import { getConfig } from './env.server';
import { log } from './log.server';

/** One Temporal payload is at most 2 MB; base64 and a batch of them stay well under this. */
const MAX_BODY_BYTES = 16 * 1024 * 1024;
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
  if (Number(request.headers.get('Content-Length') ?? 0) > MAX_BODY_BYTES) return text(413, 'Request body too large', cors);

  const raw = await request.text();
  if (Buffer.byteLength(raw) > MAX_BODY_BYTES) return text(413, 'Request body too large', cors);
  let body: z.infer<typeof BodySchema>;
  try {
    const parsed = BodySchema.safeParse(JSON.parse(raw));
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return text(400, `Expected { "payloads": [{ "metadata": {...}, "data": "..." }] }: ${issue.path.join('.')}: ${issue.message}`, cors);
    }
    body = parsed.data;
  } catch {
    return text(400, 'The body is not JSON', cors);
  }

  try {
    const payloads = body.payloads.map(fromJson);
    const result = op === 'decode' ? await payloadCodec.decode(payloads) : await payloadCodec.encode(payloads);
    return new Response(JSON.stringify({ payloads: result.map(toJson) }), {
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
