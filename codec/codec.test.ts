/**
 * The encryption codec alone (round trip, rotation, failures). The settings that hold its keys are
 * tested beside their parser (config/encryption.test.ts).
 */
import { randomBytes } from 'node:crypto';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import {
  ENCRYPTED_ENCODING,
  EncryptionCodec,
  KEY_ID_METADATA,
  PayloadDecryptionError,
  UnknownEncryptionKeyError,
  encryptionDataConverter,
} from '.';
import { workerDataConverter } from './worker';

const SECRET_TASK = 'Write the launch plan for project NIGHTJAR-7731';
const oldKey = randomBytes(32);
const newKey = randomBytes(32);

const text = (bytes: Uint8Array | null | undefined) => Buffer.from(bytes ?? new Uint8Array()).toString('utf8');
const payloadOf = (value: unknown): Payload => defaultPayloadConverter.toPayload(value)!;
const codecWith = (keys: Record<string, Buffer>, currentKeyId: string) =>
  new EncryptionCodec({ keys: new Map(Object.entries(keys)), currentKeyId });

/** The error `promise` rejects with; fails the test if it resolves. */
async function rejection(promise: Promise<unknown>): Promise<Error> {
  const outcome = await promise.then(
    () => null,
    (err: unknown) => err,
  );
  expect(outcome).toBeInstanceOf(Error);
  return outcome as Error;
}

describe('EncryptionCodec', () => {
  const codec = codecWith({ k1: oldKey }, 'k1');

  test('a payload round-trips, and what is stored is ciphertext marked with its key id', async () => {
    const original = payloadOf({ task: SECRET_TASK });
    const [encrypted] = await codec.encode([original]);
    expect(text(encrypted.metadata?.encoding)).toBe(ENCRYPTED_ENCODING);
    expect(text(encrypted.metadata?.[KEY_ID_METADATA])).toBe('k1');
    expect(Object.keys(encrypted.metadata ?? {}).sort()).toEqual(['encoding', KEY_ID_METADATA]);
    expect(Buffer.from(encrypted.data!).toString('latin1')).not.toContain('NIGHTJAR');
    // The original encoding (json/plain) is inside the ciphertext too.
    expect(Buffer.from(encrypted.data!).toString('latin1')).not.toContain('json/plain');

    const [decoded] = await codec.decode([encrypted]);
    expect(defaultPayloadConverter.fromPayload(decoded)).toEqual({ task: SECRET_TASK });
    expect(text(decoded.metadata?.encoding)).toBe('json/plain');
  });

  test('each encryption uses a fresh IV: the same payload encrypts differently every time', async () => {
    const original = payloadOf(SECRET_TASK);
    const [a, b] = await codec.encode([original, original]);
    expect(Buffer.from(a.data!).equals(Buffer.from(b.data!))).toBe(false);
  });

  test('payloads without data (null, undefined) round-trip', async () => {
    const [encrypted] = await codec.encode([payloadOf(null)]);
    const [decoded] = await codec.decode([encrypted]);
    expect(defaultPayloadConverter.fromPayload(decoded)).toBeNull();
  });

  test('rotation: after the current key changes, payloads encrypted with the old key still decode', async () => {
    const [written] = await codec.encode([payloadOf(SECRET_TASK)]);
    const rotated = codecWith({ k1: oldKey, k2: newKey }, 'k2');
    const [read] = await rotated.decode([written]);
    expect(defaultPayloadConverter.fromPayload(read)).toBe(SECRET_TASK);

    const [rewritten] = await rotated.encode([payloadOf(SECRET_TASK)]);
    expect(text(rewritten.metadata?.[KEY_ID_METADATA])).toBe('k2');
  });

  test('a payload whose key id is not configured fails with an error naming the key id', async () => {
    const [written] = await codecWith({ k2: newKey }, 'k2').encode([payloadOf(SECRET_TASK)]);
    const err = await rejection(codec.decode([written]));
    expect(err).toBeInstanceOf(UnknownEncryptionKeyError);
    expect((err as UnknownEncryptionKeyError).keyId).toBe('k2');
    expect(err.message).toMatch(/key id "k2"/);
    expect(err.message).toMatch(/BUILDSTORY_ENCRYPTION_KEYS/);
    expect(err.message).not.toContain(newKey.toString('base64'));
  });

  test('a different key under the same id fails clearly, naming the key id', async () => {
    const [written] = await codec.encode([payloadOf(SECRET_TASK)]);
    const err = await rejection(codecWith({ k1: newKey }, 'k1').decode([written]));
    expect(err).toBeInstanceOf(PayloadDecryptionError);
    expect(err.message).toMatch(/key id "k1".*does not match, or the payload was altered/);
  });

  test('tampered ciphertext, tag or key id fails', async () => {
    const [written] = await codec.encode([payloadOf(SECRET_TASK)]);
    const flipped = (at: number) => {
      const data = Buffer.from(written.data!);
      data[at] ^= 0x01;
      return { ...written, data };
    };
    const length = written.data!.length;
    for (const tampered of [
      flipped(12),
      flipped(length - 1),
      flipped(0),
      { ...written, data: Buffer.from(written.data!).subarray(0, 20) },
    ]) {
      const err = await rejection(codec.decode([tampered]));
      expect(err).toBeInstanceOf(PayloadDecryptionError);
    }
    // The key id is authenticated: relabelling the payload with another configured key id fails.
    const both = codecWith({ k1: oldKey, k2: oldKey }, 'k1');
    const relabelled = { ...written, metadata: { ...written.metadata, [KEY_ID_METADATA]: Buffer.from('k2') } };
    expect(await rejection(both.decode([relabelled]))).toBeInstanceOf(PayloadDecryptionError);
  });

  test('unencrypted payloads pass through decode untouched (runs from before encryption still read)', async () => {
    const plain = payloadOf({ task: SECRET_TASK });
    const [decoded] = await codec.decode([plain]);
    expect(decoded).toBe(plain);
  });

  test('refuses keys of the wrong size and a current key id that is not among the keys', () => {
    expect(() => codecWith({ k1: randomBytes(16) }, 'k1')).toThrow(/"k1" must be 32 bytes, not 16/);
    expect(() => codecWith({ k1: oldKey }, 'k9')).toThrow(/No encryption key with id "k9"/);
  });

  test('encryptionDataConverter gives the codec only when keys are configured', () => {
    expect(encryptionDataConverter(null)).toBeUndefined();
    const converter = encryptionDataConverter({ keys: new Map([['k1', oldKey]]), currentKeyId: 'k1' });
    expect(converter?.payloadCodecs?.[0]).toBeInstanceOf(EncryptionCodec);
  });

  test("workerDataConverter adds a failure converter that moves messages and stacks into the codec's reach", () => {
    expect(workerDataConverter(null)).toBeUndefined();
    const converter = workerDataConverter({ keys: new Map([['k1', oldKey]]), currentKeyId: 'k1' })!;
    expect(converter.payloadCodecs?.[0]).toBeInstanceOf(EncryptionCodec);
    // The module the worker loads (and bundles) by that path.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { failureConverter } = require(converter.failureConverterPath!) as typeof import('./failure-converter');
    const failure = failureConverter.errorToFailure(new Error(SECRET_TASK), defaultPayloadConverter);
    expect(failure.message).toBe('Encoded failure');
    expect(JSON.stringify(failure)).not.toContain('NIGHTJAR');
    expect(failureConverter.failureToError(failure, defaultPayloadConverter).message).toBe(SECRET_TASK);
  });
});
