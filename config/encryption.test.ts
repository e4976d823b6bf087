/**
 * BUILDSTORY_ENCRYPTION_KEYS and BUILDSTORY_ENCRYPTION_KEY_ID (config/encryption.ts), as each
 * process reads them: the worker and the web app must hold the same keys.
 */
import { randomBytes } from 'node:crypto';
import type { Env } from '.';
import type { CommonConfig } from './common';
import { loadWebConfig } from './web';
import { loadWorkerConfig } from './worker';
import { configErrorOf, testEnv } from './test-env';

const oldKey = randomBytes(32);
const newKey = randomBytes(32);
const b64 = (key: Buffer) => key.toString('base64');

const env = testEnv;

describe.each<[string, (env: Env) => CommonConfig]>([
  ['worker', loadWorkerConfig],
  ['web app', loadWebConfig],
])('the %s', (_process, load) => {
  const configError = (vars: Env) => configErrorOf(load, env(vars)).message;

  test('unset or blank: no encryption', () => {
    expect(load(env({})).encryption).toBeNull();
    expect(load(env({ BUILDSTORY_ENCRYPTION_KEYS: ' ', BUILDSTORY_ENCRYPTION_KEY_ID: '' })).encryption).toBeNull();
  });

  test('keys by id; the first listed encrypts unless BUILDSTORY_ENCRYPTION_KEY_ID names another', () => {
    const keys = `k2024:${b64(oldKey)}, k2025:${b64(newKey)}`;
    const { encryption } = load(env({ BUILDSTORY_ENCRYPTION_KEYS: keys }));
    expect(encryption?.currentKeyId).toBe('k2024');
    expect([...(encryption?.keys.keys() ?? [])]).toEqual(['k2024', 'k2025']);
    expect(encryption?.keys.get('k2025')?.equals(newKey)).toBe(true);
    expect(load(env({ BUILDSTORY_ENCRYPTION_KEYS: keys, BUILDSTORY_ENCRYPTION_KEY_ID: 'k2025' })).encryption?.currentKeyId).toBe('k2025');
  });

  test('bad settings stop the start with one line that never shows key material', () => {
    const short = b64(randomBytes(16));
    const cases: Array<[Env, RegExp]> = [
      [
        { BUILDSTORY_ENCRYPTION_KEYS: `k1:${short}` },
        /BUILDSTORY_ENCRYPTION_KEYS: the key of "k1" must be 32 bytes in base64.*not 16 bytes/,
      ],
      [{ BUILDSTORY_ENCRYPTION_KEYS: `k1:not base64!${short}` }, /the key of "k1" must be 32 bytes in base64/],
      [{ BUILDSTORY_ENCRYPTION_KEYS: `k1:${b64(oldKey)},k1:${b64(newKey)}` }, /key id "k1" is listed twice/],
      [{ BUILDSTORY_ENCRYPTION_KEYS: b64(oldKey) }, /entry 1 must be keyId:base64key/],
      [{ BUILDSTORY_ENCRYPTION_KEYS: `k1:${b64(oldKey)},` }, /entry 2 is empty/],
      [{ BUILDSTORY_ENCRYPTION_KEYS: `bad id:${b64(oldKey)}` }, /entry 1: the key id must be/],
      [
        { BUILDSTORY_ENCRYPTION_KEYS: `k1:${b64(oldKey)}`, BUILDSTORY_ENCRYPTION_KEY_ID: 'k2' },
        /BUILDSTORY_ENCRYPTION_KEY_ID: no key with id "k2"/,
      ],
      [{ BUILDSTORY_ENCRYPTION_KEY_ID: 'k1' }, /BUILDSTORY_ENCRYPTION_KEY_ID is set but BUILDSTORY_ENCRYPTION_KEYS is not/],
    ];
    for (const [vars, expected] of cases) {
      const message = configError(vars);
      expect(message).toMatch(expected);
      for (const secret of [short, b64(oldKey), b64(newKey)]) expect(message).not.toContain(secret);
    }
  });
});
