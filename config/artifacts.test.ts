/**
 * Where artifacts are stored (config/artifacts.ts), as each process reads it: the worker writes
 * them and the web app serves them, so both read the same settings.
 */
import { resolve } from 'node:path';
import type { Env } from '.';
import type { CommonConfig } from './common';
import { loadWebConfig } from './web';
import { loadWorkerConfig } from './worker';
import { configErrorOf, testEnv } from './test-env';

const env = testEnv;

describe.each<[string, (env: Env) => CommonConfig]>([
  ['worker', loadWorkerConfig],
  ['web app', loadWebConfig],
])('the %s', (_process, load) => {
  const configError = (vars: Env) => configErrorOf(load, env(vars)).message;

  test('unset or blank: a local directory, .data/artifacts under the working directory', () => {
    expect(load(env({})).artifacts).toEqual({ kind: 'local', dir: resolve('.data/artifacts') });
    expect(load(env({ BUILDSTORY_ARTIFACTS: ' ', BUILDSTORY_S3_BUCKET: '' })).artifacts).toEqual({
      kind: 'local',
      dir: resolve('.data/artifacts'),
    });
    expect(load(env({ BUILDSTORY_ARTIFACTS_DIR: '/var/lib/buildstory/artifacts' })).artifacts).toEqual({
      kind: 'local',
      dir: '/var/lib/buildstory/artifacts',
    });
  });

  test('s3: bucket, prefix (made a folder), region, and path-style addressing by default with an endpoint', () => {
    expect(load(env({ BUILDSTORY_ARTIFACTS: 's3', BUILDSTORY_S3_BUCKET: 'runs' })).artifacts).toEqual({
      kind: 's3',
      bucket: 'runs',
      prefix: '',
      endpoint: undefined,
      region: 'us-east-1',
      forcePathStyle: false,
    });
    const compatible = {
      BUILDSTORY_ARTIFACTS: 's3',
      BUILDSTORY_S3_BUCKET: 'runs',
      BUILDSTORY_S3_PREFIX: 'buildstory/artifacts',
      BUILDSTORY_S3_ENDPOINT: 'http://objects.internal:8333',
      BUILDSTORY_S3_REGION: 'eu-west-3',
    };
    expect(load(env(compatible)).artifacts).toEqual({
      kind: 's3',
      bucket: 'runs',
      prefix: 'buildstory/artifacts/',
      endpoint: 'http://objects.internal:8333',
      region: 'eu-west-3',
      forcePathStyle: true,
    });
    expect(load(env({ ...compatible, BUILDSTORY_S3_FORCE_PATH_STYLE: 'false' })).artifacts).toMatchObject({ forcePathStyle: false });
    // docker-compose.yml sets the directory whatever the store: with s3 it is ignored.
    expect(load(env({ ...compatible, BUILDSTORY_ARTIFACTS_DIR: '/app/.data/artifacts' })).artifacts.kind).toBe('s3');
  });

  test('bad settings stop the start with one line naming the setting, never a secret', () => {
    const secret = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
    const cases: Array<[Env, RegExp]> = [
      [{ BUILDSTORY_ARTIFACTS: 'ftp' }, /BUILDSTORY_ARTIFACTS: .*'local' \| 's3'/],
      [{ BUILDSTORY_ARTIFACTS: 's3' }, /BUILDSTORY_S3_BUCKET: required when BUILDSTORY_ARTIFACTS is s3/],
      [{ BUILDSTORY_ARTIFACTS: 's3', BUILDSTORY_S3_BUCKET: 'My_Bucket' }, /BUILDSTORY_S3_BUCKET: "My_Bucket" is not a bucket name/],
      [{ BUILDSTORY_S3_BUCKET: 'runs' }, /BUILDSTORY_S3_BUCKET: is set but BUILDSTORY_ARTIFACTS is not s3/],
      [
        { BUILDSTORY_ARTIFACTS: 's3', BUILDSTORY_S3_BUCKET: 'runs', BUILDSTORY_S3_ENDPOINT: 'not a url' },
        /BUILDSTORY_S3_ENDPOINT: not a URL/,
      ],
      [
        { BUILDSTORY_ARTIFACTS: 's3', BUILDSTORY_S3_BUCKET: 'runs', BUILDSTORY_S3_ENDPOINT: `https://AKID:${secret}@objects.internal` },
        /BUILDSTORY_S3_ENDPOINT: (must not contain credentials|not a URL)/,
      ],
      [
        {
          BUILDSTORY_ARTIFACTS: 's3',
          BUILDSTORY_S3_BUCKET: 'runs',
          BUILDSTORY_S3_ENDPOINT: `https://AKID:${encodeURIComponent(secret)}@objects.internal`,
        },
        /BUILDSTORY_S3_ENDPOINT: must not contain credentials/,
      ],
      [{ BUILDSTORY_ARTIFACTS: 's3', BUILDSTORY_S3_BUCKET: 'runs', BUILDSTORY_S3_PREFIX: '/abs' }, /BUILDSTORY_S3_PREFIX: must not start/],
      [{ AWS_SECRET_ACCESS_KEY: secret }, /AWS_ACCESS_KEY_ID: required too when the other is set/],
      [{ AWS_ACCESS_KEY_ID: 'AKID' }, /AWS_SECRET_ACCESS_KEY: required too when the other is set/],
    ];
    for (const [vars, expected] of cases) {
      const message = configError(vars);
      expect(message).toMatch(expected);
      expect(message).not.toContain(secret);
    }
  });
});
