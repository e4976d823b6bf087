/**
 * Artifacts in an S3 bucket, or any S3-compatible store (path-style addressing and a custom
 * endpoint for those), with the AWS SDK's S3 client. Objects are `<prefix>ab/cdef...`, the local
 * store's layout, so a local directory can be copied into a bucket as it is.
 *
 * A put first asks whether the address is taken (HEAD) and uploads only when it is not; an upload
 * carries Content-MD5, so the store refuses bytes damaged on the way. A PUT either creates the
 * whole object or nothing: a worker killed mid-upload leaves no object. Two puts of the same
 * content write the same plaintext to the same key, so a race between them is harmless.
 * Credentials come from the SDK's default chain (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a
 * profile, an instance or task role): never from our settings, and never in a message.
 */
import { createHash } from 'node:crypto';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { EncryptionKeys } from '../codec';
import { fromStored, toStored } from './sealing';
import { checkAddress, sha256Hex, type ArtifactStore, type StoredArtifact } from './store';

export interface S3Location {
  bucket: string;
  /** Prepended to every key as it is (`buildstory/artifacts/`); empty: keys start at the bucket's root. */
  prefix: string;
  region: string;
  /** An S3-compatible server's URL; unset: AWS S3 in `region`. */
  endpoint?: string;
  /** `bucket` in the path rather than in the host name: what most S3-compatible servers need. */
  forcePathStyle: boolean;
}

export interface S3StoreOptions extends S3Location {
  /** The payload encryption keys; null: artifacts are stored as they are. */
  encryption: EncryptionKeys | null;
  /** A client of your own (tests, or shared connection settings); by default one made from the location. */
  client?: S3Client;
}

/** An S3 client for the location, with deadlines; checksums only where the API requires them, which S3-compatible servers accept. */
export function s3ClientFor(location: Omit<S3Location, 'bucket' | 'prefix'>): S3Client {
  return new S3Client({
    region: location.region,
    endpoint: location.endpoint,
    forcePathStyle: location.forcePathStyle,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: { connectionTimeout: 5_000, requestTimeout: 60_000 },
  });
}

const statusOf = (err: unknown) => (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;

export class S3ArtifactStore implements ArtifactStore {
  readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly encryption: EncryptionKeys | null;
  readonly description: string;

  constructor(options: S3StoreOptions) {
    this.client = options.client ?? s3ClientFor(options);
    this.bucket = options.bucket;
    this.prefix = options.prefix;
    this.encryption = options.encryption;
    const where = options.endpoint ? `at ${options.endpoint}` : `in AWS region ${options.region}`;
    this.description = `S3 bucket s3://${options.bucket}/${options.prefix} ${where}`;
  }

  /** The object key of the artifact at `sha256`. */
  keyOf(sha256: string): string {
    checkAddress(sha256);
    return `${this.prefix}${sha256.slice(0, 2)}/${sha256.slice(2)}`;
  }

  async put(bytes: Uint8Array): Promise<StoredArtifact> {
    const sha256 = sha256Hex(bytes);
    const stored = { sha256, bytes: bytes.byteLength };
    if (await this.has(sha256)) return stored;
    const body = toStored(bytes, sha256, this.encryption);
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: this.keyOf(sha256),
        Body: body,
        ContentLength: body.length,
        ContentMD5: createHash('md5').update(body).digest('base64'),
        ContentType: 'application/octet-stream',
      }),
    );
    return stored;
  }

  async get(sha256: string): Promise<Buffer | null> {
    let stored: Buffer;
    try {
      const object = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.keyOf(sha256) }));
      stored = Buffer.from(await object.Body!.transformToByteArray());
    } catch (err) {
      if (statusOf(err) === 404 && (err as Error).name === 'NoSuchKey') return null;
      throw err;
    }
    return fromStored(stored, sha256, this.encryption);
  }

  async has(sha256: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.keyOf(sha256) }));
      return true;
    } catch (err) {
      // A missing bucket is a 404 too, without a body to tell: the PUT that follows names it.
      if (statusOf(err) === 404) return false;
      throw err;
    }
  }
}
