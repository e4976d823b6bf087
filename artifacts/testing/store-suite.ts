/**
 * The ArtifactStore contract, run against each store (local.test.ts, s3.test.ts): round trips,
 * idempotent puts, verified reads, and encryption at rest with the payload codec's keys.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { EncryptionKeys } from '../../codec';
import { ArtifactIntegrityError, ArtifactKeyError, type ArtifactStore } from '../store';

export interface StoreBackend {
  /** A store over the backend's one location (the same objects whatever the keys). */
  store(encryption: EncryptionKeys | null): ArtifactStore;
  /** What is stored at an address, as the backend holds it. */
  readStored(sha256: string): Promise<Buffer>;
  /** Replace what is stored at an address, behind the store's back (damage, tampering). */
  writeStored(sha256: string, bytes: Buffer): Promise<void>;
}

const SECRET = 'export const launchCode = "NIGHTJAR-7731";\n';
const keyA = randomBytes(32);
const keyB = randomBytes(32);
export const keysOf = (keys: Record<string, Buffer>, currentKeyId: string): EncryptionKeys => ({
  keys: new Map(Object.entries(keys)),
  currentKeyId,
});
const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
/** A file that no other test stores, so tests sharing one location never see each other's objects. */
const unique = (text = SECRET) => Buffer.from(`${text}// ${randomBytes(8).toString('hex')}\n`);

async function rejection(promise: Promise<unknown>): Promise<Error> {
  const outcome = await promise.then(
    () => null,
    (err: unknown) => err,
  );
  expect(outcome).toBeInstanceOf(Error);
  return outcome as Error;
}

export function describeStoreContract(name: string, backend: () => StoreBackend): void {
  describe(`${name}: the ArtifactStore contract`, () => {
    test('put returns the SHA-256 of the content and its size; get returns the same bytes; has knows it', async () => {
      const store = backend().store(null);
      const bytes = unique();
      const stored = await store.put(bytes);
      expect(stored).toEqual({ sha256: sha(bytes), bytes: bytes.length });
      expect(await store.has(stored.sha256)).toBe(true);
      expect((await store.get(stored.sha256))?.equals(bytes)).toBe(true);
      // Binary content and the empty file too.
      for (const other of [randomBytes(100_000), Buffer.alloc(0)]) {
        const { sha256 } = await store.put(other);
        expect((await store.get(sha256))?.equals(other)).toBe(true);
      }
    });

    test('an address with nothing stored: get is null, has is false; a malformed address is refused', async () => {
      const store = backend().store(null);
      const absent = sha(unique());
      expect(await store.get(absent)).toBeNull();
      expect(await store.has(absent)).toBe(false);
      for (const bad of ['../../etc/passwd', absent.toUpperCase(), absent.slice(1)]) {
        await expect(store.get(bad)).rejects.toThrow(RangeError);
      }
    });

    test('putting the same content again is the same artifact, and leaves what is stored untouched', async () => {
      const b = backend();
      const store = b.store(keysOf({ a: keyA }, 'a'));
      const bytes = unique();
      const first = await store.put(bytes);
      const stored = await b.readStored(first.sha256);
      expect(await store.put(Buffer.from(bytes))).toEqual(first);
      // Encrypted with a fresh IV each time: equal bytes prove the second put wrote nothing.
      expect((await b.readStored(first.sha256)).equals(stored)).toBe(true);
    });

    test('altered or truncated stored bytes fail the read clearly, never returned', async () => {
      for (const encryption of [null, keysOf({ a: keyA }, 'a')]) {
        const b = backend();
        const store = b.store(encryption);
        const { sha256 } = await store.put(unique());
        const stored = await b.readStored(sha256);
        const flipped = Buffer.from(stored);
        flipped[flipped.length - 20] ^= 0x01;
        for (const damaged of [flipped, stored.subarray(0, stored.length - 1), Buffer.alloc(0)]) {
          await b.writeStored(sha256, damaged);
          const err = await rejection(store.get(sha256));
          expect(err).toBeInstanceOf(ArtifactIntegrityError);
          expect(err.message).toContain(`Artifact ${sha256} is corrupt`);
        }
      }
    });

    test('with encryption on, what is stored is ciphertext naming its key; the keys read it back', async () => {
      const b = backend();
      const store = b.store(keysOf({ a: keyA }, 'a'));
      const bytes = unique();
      const { sha256 } = await store.put(bytes);
      expect(sha256).toBe(sha(bytes)); // The address is the plaintext's, encryption or not.
      const stored = await b.readStored(sha256);
      expect(stored.toString('latin1')).not.toContain('NIGHTJAR');
      expect(stored.equals(bytes)).toBe(false);
      expect((await store.get(sha256))?.equals(bytes)).toBe(true);

      // Without the key: an error naming the key id, never ciphertext.
      for (const keyless of [b.store(null), b.store(keysOf({ b: keyB }, 'b'))]) {
        const err = await rejection(keyless.get(sha256));
        expect(err).toBeInstanceOf(ArtifactKeyError);
        expect((err as ArtifactKeyError).keyId).toBe('a');
      }
      // A different key under the same id does not open it.
      expect(await rejection(b.store(keysOf({ a: keyB }, 'a')).get(sha256))).toBeInstanceOf(ArtifactIntegrityError);
    });

    test('rotation: with a new current key, old artifacts still read and new ones are sealed with the new key', async () => {
      const b = backend();
      const old = await b.store(keysOf({ a: keyA }, 'a')).put(unique());
      const rotated = b.store(keysOf({ a: keyA, b: keyB }, 'b'));
      expect(await rotated.get(old.sha256)).not.toBeNull();
      const fresh = await rotated.put(unique());
      expect(await rotated.get(fresh.sha256)).not.toBeNull();
      // Only key b opens the new one.
      expect(await rejection(b.store(keysOf({ a: keyA }, 'a')).get(fresh.sha256))).toBeInstanceOf(ArtifactKeyError);
    });

    test('artifacts stored before encryption was turned on still read; an envelope moved to another address does not', async () => {
      const b = backend();
      const plain = await b.store(null).put(unique());
      const encrypted = b.store(keysOf({ a: keyA }, 'a'));
      expect(await encrypted.get(plain.sha256)).not.toBeNull();

      const other = await encrypted.put(unique());
      await b.writeStored(plain.sha256, await b.readStored(other.sha256));
      expect(await rejection(encrypted.get(plain.sha256))).toBeInstanceOf(ArtifactIntegrityError);
    });
  });
}
