/**
 * The artifact store's contract: content-addressed by the SHA-256 of the plaintext, writes
 * idempotent (the same bytes always land at the same address, and a second put changes nothing
 * a reader can see), reads verified (bytes that do not hash to their address are an error, never
 * returned). Implemented by a local directory (local.ts) and an S3-compatible bucket (s3.ts).
 */
import { createHash } from 'node:crypto';
import { SHA256_HEX } from './ref';

export interface StoredArtifact {
  sha256: string;
  bytes: number;
}

export interface ArtifactStore {
  /** Store `bytes` under the SHA-256 of their content; nothing is written when it is already there. */
  put(bytes: Uint8Array): Promise<StoredArtifact>;
  /** The plaintext, checked against its address; null when nothing is stored there. Throws ArtifactIntegrityError on a mismatch. */
  get(sha256: string): Promise<Buffer | null>;
  /** Whether something is stored at the address (not read, not verified). */
  has(sha256: string): Promise<boolean>;
  /** Where the artifacts live, for logs: never a credential. */
  readonly description: string;
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Throws a RangeError unless `sha256` is a content address (so it is safe in a path or an object key). */
export function checkAddress(sha256: string): void {
  if (!SHA256_HEX.test(sha256))
    throw new RangeError(`Not an artifact address (64 lowercase hex digits): ${JSON.stringify(sha256.slice(0, 80))}`);
}

/** What is stored at an address is not the artifact: altered, truncated, or sealed under another address. */
export class ArtifactIntegrityError extends Error {
  override name = 'ArtifactIntegrityError';
  constructor(
    readonly sha256: string,
    reason: string,
  ) {
    super(`Artifact ${sha256} is corrupt: ${reason}`);
  }
}

/** An encrypted artifact names a key id that is not configured (BUILDSTORY_ENCRYPTION_KEYS). */
export class ArtifactKeyError extends Error {
  override name = 'ArtifactKeyError';
  constructor(
    readonly sha256: string,
    readonly keyId: string,
  ) {
    super(
      `Cannot decrypt artifact ${sha256}: it was encrypted with key id "${keyId}", which is not configured ` +
        '(BUILDSTORY_ENCRYPTION_KEYS). Add the key that encrypted it.',
    );
  }
}
