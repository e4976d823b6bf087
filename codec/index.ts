/**
 * Payload encryption: a PayloadCodec that encrypts every payload with AES-256-GCM, so Temporal's
 * history (and whatever reads it without our keys: the Temporal UI, the CLI) holds ciphertext.
 *
 * An encrypted payload is the whole original payload (metadata and data, as protobuf bytes)
 * sealed as `iv (12 bytes) || ciphertext || GCM tag (16 bytes)`, with metadata
 * `encoding: binary/encrypted` and `encryption-key-id: <id>`. The key id is also the additional
 * authenticated data, so it cannot be swapped without the decryption failing.
 *
 * Rotation: encode uses the current key; decode picks the key named in the payload, so payloads
 * written under an older key read as long as that key stays configured. Payloads that are not
 * encrypted pass through decode untouched: runs started before encryption was turned on still read.
 *
 * Used by the worker and the web app's client (dataConverter.payloadCodecs) and by the codec
 * endpoint the Temporal UI calls (web/app/utils/codec-server.server.ts).
 */
// CommonJS package, loaded from the web app's ESM server build too: default import, then destructure.
import protoPackage from '@temporalio/proto';
import type { DataConverter, Payload, PayloadCodec } from '@temporalio/common';
import { KEY_BYTES, SealError, open, seal } from './seal';

export { KEY_BYTES } from './seal';

const PayloadProto = protoPackage.temporal.api.common.v1.Payload;

export const ENCRYPTED_ENCODING = 'binary/encrypted';
/** The metadata key of the SDK's encoding (METADATA_ENCODING_KEY in @temporalio/common). */
export const ENCODING_METADATA = 'encoding';
export const KEY_ID_METADATA = 'encryption-key-id';

/** The keys by id and the one that encrypts. Key material never leaves this shape in messages. */
export interface EncryptionKeys {
  keys: ReadonlyMap<string, Buffer>;
  currentKeyId: string;
}

/** A payload names a key id we do not have: it was encrypted with a key no longer (or not yet) configured. */
export class UnknownEncryptionKeyError extends Error {
  override name = 'UnknownEncryptionKeyError';
  constructor(readonly keyId: string) {
    super(
      `Cannot decrypt a payload encrypted with key id "${keyId}": no key with that id is configured ` +
        '(BUILDSTORY_ENCRYPTION_KEYS). Add the key that encrypted it.',
    );
  }
}

/** The key with that id does not open the payload: a different key under the same id, or altered data. */
export class PayloadDecryptionError extends Error {
  override name = 'PayloadDecryptionError';
  constructor(
    readonly keyId: string,
    reason: string,
  ) {
    super(`Cannot decrypt a payload encrypted with key id "${keyId}": ${reason}`);
  }
}

const utf8 = (text: string) => Buffer.from(text, 'utf8');
const text = (bytes: Uint8Array | null | undefined) => (bytes ? Buffer.from(bytes).toString('utf8') : undefined);

export function isEncrypted(payload: Payload): boolean {
  return text(payload.metadata?.[ENCODING_METADATA]) === ENCRYPTED_ENCODING;
}

export class EncryptionCodec implements PayloadCodec {
  private readonly keys: ReadonlyMap<string, Buffer>;
  readonly currentKeyId: string;

  constructor({ keys, currentKeyId }: EncryptionKeys) {
    for (const [id, key] of keys) {
      if (key.length !== KEY_BYTES) throw new RangeError(`Encryption key "${id}" must be ${KEY_BYTES} bytes, not ${key.length}`);
    }
    if (!keys.has(currentKeyId)) throw new RangeError(`No encryption key with id "${currentKeyId}"`);
    this.keys = new Map(keys);
    this.currentKeyId = currentKeyId;
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => this.encrypt(payload));
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => (isEncrypted(payload) ? this.decrypt(payload) : payload));
  }

  private encrypt(payload: Payload): Payload {
    const keyId = this.currentKeyId;
    const sealed = seal(this.keys.get(keyId)!, utf8(keyId), PayloadProto.encode(payload).finish());
    return {
      metadata: { [ENCODING_METADATA]: utf8(ENCRYPTED_ENCODING), [KEY_ID_METADATA]: utf8(keyId) },
      data: sealed,
    };
  }

  private decrypt(payload: Payload): Payload {
    const keyId = text(payload.metadata?.[KEY_ID_METADATA]);
    if (!keyId) throw new PayloadDecryptionError('(none)', `the payload has no ${KEY_ID_METADATA} metadata`);
    const key = this.keys.get(keyId);
    if (!key) throw new UnknownEncryptionKeyError(keyId);
    let plaintext: Buffer;
    try {
      plaintext = open(key, utf8(keyId), payload.data ?? new Uint8Array());
    } catch (err) {
      if (!(err instanceof SealError)) throw err;
      throw new PayloadDecryptionError(
        keyId,
        err.reason === 'too-short'
          ? 'the payload is too short to be ciphertext'
          : 'the configured key with that id does not match, or the payload was altered',
      );
    }
    const decoded = PayloadProto.decode(plaintext);
    return { metadata: decoded.metadata, data: decoded.data };
  }
}

/**
 * The client's data converter: the encryption codec when keys are configured, else none. The
 * worker's adds encrypted failure messages (workerDataConverter in ./worker).
 */
export function encryptionDataConverter(encryption: EncryptionKeys | null): DataConverter | undefined {
  return encryption ? { payloadCodecs: [new EncryptionCodec(encryption)] } : undefined;
}
