/**
 * Where the files a run produces are stored (artifacts/), which both processes read: the worker
 * writes them, the web app serves them, so both must point at the same place.
 *
 * S3 credentials are not ours: the AWS SDK reads AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or a
 * profile, or an instance or task role). They are listed here so that deployment files pass them
 * and a half-set pair stops the start; no message names their values.
 */
import { resolve } from 'node:path';
import { z } from 'zod';
import type { S3Location } from '../artifacts/s3';
import { ConfigError, blankToUndefined, optionalString } from './env';

export const DEFAULT_ARTIFACTS_DIR = '.data/artifacts';

/** The variables, for a process's schema. */
export const ARTIFACTS_ENV = {
  /** `local` (a directory) or `s3` (an S3 bucket or an S3-compatible server). */
  BUILDSTORY_ARTIFACTS: z.preprocess(blankToUndefined, z.enum(['local', 's3']).default('local')),
  /** The local store's directory, relative to the working directory or absolute; ignored with s3 (docker-compose.yml always sets it). */
  BUILDSTORY_ARTIFACTS_DIR: optionalString,
  BUILDSTORY_S3_BUCKET: optionalString,
  BUILDSTORY_S3_PREFIX: optionalString,
  /** An S3-compatible server's URL; unset: AWS S3. Checked below, not by zod, whose message would quote a URL with credentials in it. */
  BUILDSTORY_S3_ENDPOINT: optionalString,
  BUILDSTORY_S3_REGION: optionalString,
  BUILDSTORY_S3_FORCE_PATH_STYLE: z.preprocess(blankToUndefined, z.enum(['true', 'false']).optional()),
  AWS_ACCESS_KEY_ID: optionalString,
  AWS_SECRET_ACCESS_KEY: optionalString,
};

type ArtifactsEnv = z.infer<z.ZodObject<typeof ARTIFACTS_ENV>>;

export type ArtifactSettings = { kind: 'local'; dir: string } | ({ kind: 's3' } & S3Location);

const S3_SETTINGS = [
  'BUILDSTORY_S3_BUCKET',
  'BUILDSTORY_S3_PREFIX',
  'BUILDSTORY_S3_ENDPOINT',
  'BUILDSTORY_S3_REGION',
  'BUILDSTORY_S3_FORCE_PATH_STYLE',
] as const;
/** S3's rule for bucket names (S3-compatible servers accept at least these). */
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** From a process's parsed settings; throws ConfigError naming the bad setting. */
export function parseArtifacts(e: ArtifactsEnv): ArtifactSettings {
  const bad = (name: string, reason: string) => new ConfigError(`Invalid configuration: ${name}: ${reason}`);
  if (!e.AWS_ACCESS_KEY_ID !== !e.AWS_SECRET_ACCESS_KEY) {
    throw bad(e.AWS_ACCESS_KEY_ID ? 'AWS_SECRET_ACCESS_KEY' : 'AWS_ACCESS_KEY_ID', 'required too when the other is set');
  }
  if (e.BUILDSTORY_ARTIFACTS === 'local') {
    const stray = S3_SETTINGS.find((name) => e[name] !== undefined);
    if (stray) throw bad(stray, 'is set but BUILDSTORY_ARTIFACTS is not s3');
    return { kind: 'local', dir: resolve(e.BUILDSTORY_ARTIFACTS_DIR ?? DEFAULT_ARTIFACTS_DIR) };
  }
  const bucket = e.BUILDSTORY_S3_BUCKET?.trim();
  if (!bucket) throw bad('BUILDSTORY_S3_BUCKET', 'required when BUILDSTORY_ARTIFACTS is s3');
  if (!BUCKET.test(bucket))
    throw bad('BUILDSTORY_S3_BUCKET', `${JSON.stringify(bucket)} is not a bucket name (3-63 of a-z, 0-9, '.', '-')`);
  let prefix = e.BUILDSTORY_S3_PREFIX?.trim() ?? '';
  if (prefix.startsWith('/')) throw bad('BUILDSTORY_S3_PREFIX', 'must not start with /');
  if (prefix && !prefix.endsWith('/')) prefix += '/';
  const endpoint = e.BUILDSTORY_S3_ENDPOINT?.trim();
  if (endpoint) {
    let url: URL;
    try {
      url = new URL(endpoint);
    } catch {
      throw bad('BUILDSTORY_S3_ENDPOINT', 'not a URL (expected http://host:port or https://host)');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw bad('BUILDSTORY_S3_ENDPOINT', 'must be an http:// or https:// URL');
    // Said without the URL: it holds the credentials this forbids.
    if (url.username || url.password) {
      throw bad('BUILDSTORY_S3_ENDPOINT', 'must not contain credentials (use AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)');
    }
  }
  return {
    kind: 's3',
    bucket,
    prefix,
    endpoint,
    region: e.BUILDSTORY_S3_REGION?.trim() || 'us-east-1',
    // S3-compatible servers mostly want the bucket in the path; AWS itself, in the host name.
    forcePathStyle: e.BUILDSTORY_S3_FORCE_PATH_STYLE ? e.BUILDSTORY_S3_FORCE_PATH_STYLE === 'true' : Boolean(endpoint),
  };
}
