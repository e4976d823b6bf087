/**
 * AES-256-GCM as Buildstory seals everything it encrypts at rest: `iv (12 bytes) || ciphertext ||
 * GCM tag (16 bytes)`, a fresh random IV each time, and additional authenticated data chosen by
 * the caller (the payload codec binds the key id; artifacts bind the key id and their address).
 * No Temporal imports: artifact storage uses it outside the SDK.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

export const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const CIPHER = 'aes-256-gcm';

/** Sealed bytes that cannot be opened: too short to be ciphertext, or not sealed with this key and AAD. */
export class SealError extends Error {
  override name = 'SealError';
  constructor(readonly reason: 'too-short' | 'mismatch') {
    super(reason === 'too-short' ? 'too short to be ciphertext' : 'the key does not match, or the data was altered');
  }
}

export function seal(key: Buffer, aad: Buffer, plaintext: Uint8Array): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv(CIPHER, key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  return Buffer.concat([iv, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
}

/** The plaintext, or SealError when the bytes are too short, altered, or sealed with another key or AAD. */
export function open(key: Buffer, aad: Buffer, sealed: Uint8Array): Buffer {
  const data = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
  if (data.length < IV_BYTES + TAG_BYTES) throw new SealError('too-short');
  const decipher = createDecipheriv(CIPHER, key, data.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES });
  decipher.setAAD(aad);
  decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
  try {
    return Buffer.concat([decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)), decipher.final()]);
  } catch {
    throw new SealError('mismatch');
  }
}
