/**
 * The S3 store against a real S3-compatible server (gofakes3, installed once per user by
 * devstack/s3-server.ts through go-binary.ts; the first install builds for about 10 s): the shared
 * contract, the object layout, HEAD before PUT, and the store the settings make.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { loadWorkerConfig } from '../config/worker';
import { testEnv } from '../config/test-env';
import { startS3Server, type S3Server } from '../devstack/s3-server';
import { createArtifactStore } from '.';
import { S3ArtifactStore, s3ClientFor, type S3Location } from './s3';
import { describeStoreContract } from './testing/store-suite';

const BUCKET = 'buildstory-test';
let server: S3Server;
let client: S3Client;
let location: S3Location;

beforeAll(async () => {
  server = await startS3Server(mkdtempSync(join(tmpdir(), 'buildstory-s3-')));
  // The SDK's default chain reads these, as in a deployment; gofakes3 accepts any.
  process.env.AWS_ACCESS_KEY_ID = 'buildstory-test';
  process.env.AWS_SECRET_ACCESS_KEY = 'buildstory-test-secret';
  location = { bucket: BUCKET, prefix: '', region: 'us-east-1', endpoint: server.endpoint, forcePathStyle: true };
  client = s3ClientFor(location);
  await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
}, 600_000);

afterAll(async () => {
  client?.destroy();
  await server?.stop();
});

/** Each store under a prefix of its own in the one bucket. */
const freshLocation = (): S3Location => ({ ...location, prefix: `run-${randomBytes(4).toString('hex')}/` });

describeStoreContract('S3-compatible server', () => {
  const where = freshLocation();
  const keyOf = (sha256: string) => new S3ArtifactStore({ ...where, client, encryption: null }).keyOf(sha256);
  return {
    store: (encryption) => new S3ArtifactStore({ ...where, client, encryption }),
    readStored: async (sha256) => {
      const object = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: keyOf(sha256) }));
      return Buffer.from(await object.Body!.transformToByteArray());
    },
    writeStored: async (sha256, bytes) => {
      await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: keyOf(sha256), Body: bytes }));
    },
  };
});

describe('S3 store', () => {
  test('objects are <prefix>ab/cdef...; a second put of the same content only asks (HEAD), it uploads nothing', async () => {
    const where = freshLocation();
    const store = new S3ArtifactStore({ ...where, client: s3ClientFor(where), encryption: null });
    const sent: string[] = [];
    store.client.middlewareStack.add(
      (next, context) => (args) => {
        sent.push(String(context.commandName));
        return next(args);
      },
      { step: 'initialize' },
    );
    const { sha256 } = await store.put(Buffer.from('verification report\n'));
    expect(store.keyOf(sha256)).toBe(`${where.prefix}${sha256.slice(0, 2)}/${sha256.slice(2)}`);
    expect(sent).toEqual(['HeadObjectCommand', 'PutObjectCommand']);
    sent.length = 0;
    await store.put(Buffer.from('verification report\n'));
    expect(sent).toEqual(['HeadObjectCommand']);
    store.client.destroy();
  });

  test('a bucket that does not exist fails the put with the server saying so', async () => {
    const store = new S3ArtifactStore({ ...location, bucket: 'no-such-bucket', client, encryption: null });
    await expect(store.put(Buffer.from('x'))).rejects.toThrow(/bucket/i);
  });

  test('the settings make this store: BUILDSTORY_ARTIFACTS=s3 with bucket, prefix and endpoint, encrypted with the payload keys', async () => {
    const config = loadWorkerConfig(
      testEnv({
        BUILDSTORY_ARTIFACTS: 's3',
        BUILDSTORY_S3_BUCKET: BUCKET,
        BUILDSTORY_S3_PREFIX: 'from-settings',
        BUILDSTORY_S3_ENDPOINT: server.endpoint,
        BUILDSTORY_ENCRYPTION_KEYS: `k1:${randomBytes(32).toString('base64')}`,
      }),
    );
    const store = createArtifactStore(config.artifacts, config.encryption);
    expect(store).toBeInstanceOf(S3ArtifactStore);
    expect(store.description).toBe(`S3 bucket s3://${BUCKET}/from-settings/ at ${server.endpoint}`);
    const bytes = Buffer.from(`test file ${randomBytes(4).toString('hex')}\n`);
    const { sha256 } = await store.put(bytes);
    expect((await store.get(sha256))?.equals(bytes)).toBe(true);
    const raw = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: `from-settings/${sha256.slice(0, 2)}/${sha256.slice(2)}` }));
    expect(Buffer.from(await raw.Body!.transformToByteArray()).includes(bytes)).toBe(false);
    (store as S3ArtifactStore).client.destroy();
  });
});
