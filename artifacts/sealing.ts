/**
 * Artifacts at rest. With payload encryption off they are stored as they are. With it on they are
 * sealed with the payload codec's keys and cipher (codec/seal.ts, AES-256-GCM) in an envelope that
 * names the key:
 *
 *   "BSA" 0x01 | key id length (1 byte) | key id (ASCII) | iv || ciphertext || tag
 *
 * The additional authenticated data binds the key id and the address, so an envelope copied to
 * another address, or relabelled with another key id, does not open. The address stays the SHA-256
 * of the plaintext, so the same file has one address whether encryption is on or not.
 *
 * Reading accepts both forms whatever the settings: stored bytes that hash to their address are
 * the plaintext (written before encryption was turned on, as the codec lets unencrypted payloads
 * through); anything else must be an envelope whose key is configured and whose plaintext hashes to
 * the address. Rotation: new artifacts are sealed with the current key; old ones open as long as
 * their key stays listed.
 */
import type { EncryptionKeys } from '../codec';
import { SealError, open, seal } from '../codec/seal';
import { ArtifactIntegrityError, ArtifactKeyError, sha256Hex } from './store';

const MAGIC = Buffer.from([0x42, 0x53, 0x41, 0x01]); // "BSA", version 1

const aad = (keyId: string, sha256: string) => Buffer.from(`buildstory-artifact\n${keyId}\n${sha256}`, 'utf8');

/** The bytes to store for `plaintext` (whose SHA-256 is `sha256`). */
export function toStored(plaintext: Uint8Array, sha256: string, encryption: EncryptionKeys | null): Buffer {
  if (!encryption) return Buffer.from(plaintext.buffer, plaintext.byteOffset, plaintext.byteLength);
  const keyId = Buffer.from(encryption.currentKeyId, 'utf8');
  const key = encryption.keys.get(encryption.currentKeyId)!;
  return Buffer.concat([MAGIC, Buffer.from([keyId.length]), keyId, seal(key, aad(encryption.currentKeyId, sha256), plaintext)]);
}

/** The plaintext of what is stored at `sha256`, verified; ArtifactIntegrityError or ArtifactKeyError otherwise. */
export function fromStored(stored: Buffer, sha256: string, encryption: EncryptionKeys | null): Buffer {
  if (sha256Hex(stored) === sha256) return stored;
  if (stored.length < MAGIC.length + 1 || !stored.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new ArtifactIntegrityError(sha256, `its ${stored.length} stored bytes do not hash to its address`);
  }
  const idLength = stored[MAGIC.length];
  const idEnd = MAGIC.length + 1 + idLength;
  if (idLength === 0 || stored.length < idEnd) throw new ArtifactIntegrityError(sha256, 'its encryption envelope is truncated');
  const keyId = stored.subarray(MAGIC.length + 1, idEnd).toString('utf8');
  const key = encryption?.keys.get(keyId);
  if (!key) throw new ArtifactKeyError(sha256, keyId);
  let plaintext: Buffer;
  try {
    plaintext = open(key, aad(keyId, sha256), stored.subarray(idEnd));
  } catch (err) {
    if (!(err instanceof SealError)) throw err;
    throw new ArtifactIntegrityError(
      sha256,
      err.reason === 'too-short'
        ? 'its ciphertext is truncated'
        : `it does not decrypt with key "${keyId}" (altered, moved from another address, or a different key under that id)`,
    );
  }
  if (sha256Hex(plaintext) !== sha256) throw new ArtifactIntegrityError(sha256, 'its decrypted bytes do not hash to its address');
  return plaintext;
}
