/** The access control settings: parsed into users, or one clear line that never quotes a secret. */
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { ConfigError, loadWebConfig, type Env } from './web';

const SECRET = 'a-session-secret-of-at-least-32-characters';

/** No profile file, so the developer's own Temporal profile never leaks in. */
function load(vars: Env) {
  return loadWebConfig({ TEMPORAL_CONFIG_FILE: join(tmpdir(), 'buildstory-no-such-profile.toml'), ...vars });
}

function errorFor(vars: Env): string {
  try {
    load(vars);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('no ConfigError');
}

test('off unless BUILDSTORY_AUTH_PASSWORDS is set (blank is unset)', () => {
  expect(load({}).auth).toBeNull();
  expect(load({ BUILDSTORY_AUTH_PASSWORDS: '  ', BUILDSTORY_SESSION_SECRET: 'short' }).auth).toBeNull();
});

test('user:password pairs; a password may hold colons; spaces around entries are dropped', () => {
  const auth = load({
    BUILDSTORY_AUTH_PASSWORDS: 'alice:pass:word-1, bob@example.com:second-password',
    BUILDSTORY_SESSION_SECRET: SECRET,
  }).auth!;
  expect([...auth.users]).toEqual([
    ['alice', 'pass:word-1'],
    ['bob@example.com', 'second-password'],
  ]);
  expect(auth.shared).toBe(false);
  expect(auth.sessionSecret).toBe(SECRET);
  expect(auth.secureCookie).toBe('auto');
  expect(auth.sessionMaxAgeSeconds).toBe(12 * 60 * 60);
});

test('one password alone is a shared sign-in as "shared"', () => {
  const auth = load({
    BUILDSTORY_AUTH_PASSWORDS: 'one-shared-password',
    BUILDSTORY_SESSION_SECRET: SECRET,
    BUILDSTORY_SECURE_COOKIE: 'always',
  }).auth!;
  expect([...auth.users]).toEqual([['shared', 'one-shared-password']]);
  expect(auth.shared).toBe(true);
  expect(auth.secureCookie).toBe('always');
});

test('BUILDSTORY_CODEC_USERS names who may use the codec endpoint; unset, nobody', () => {
  const pairs = 'alice:long-password,bob:other-password';
  expect(load({ BUILDSTORY_AUTH_PASSWORDS: pairs, BUILDSTORY_SESSION_SECRET: SECRET }).auth!.codecUsers).toEqual(new Set());
  const auth = load({ BUILDSTORY_AUTH_PASSWORDS: pairs, BUILDSTORY_SESSION_SECRET: SECRET, BUILDSTORY_CODEC_USERS: ' alice ' }).auth!;
  expect(auth.codecUsers).toEqual(new Set(['alice']));
  const shared = load({
    BUILDSTORY_AUTH_PASSWORDS: 'one-shared-password',
    BUILDSTORY_SESSION_SECRET: SECRET,
    BUILDSTORY_CODEC_USERS: 'shared',
  }).auth!;
  expect(shared.codecUsers).toEqual(new Set(['shared']));
});

describe('bad settings: one line, naming the setting, never a secret', () => {
  const cases: Array<[string, Env, RegExp]> = [
    ['no secret', { BUILDSTORY_AUTH_PASSWORDS: 'alice:long-password' }, /BUILDSTORY_SESSION_SECRET is required/],
    [
      'a short secret',
      { BUILDSTORY_AUTH_PASSWORDS: 'alice:long-password', BUILDSTORY_SESSION_SECRET: 'too-short-secret' },
      /BUILDSTORY_SESSION_SECRET must be at least 32/,
    ],
    [
      'an entry without a user',
      { BUILDSTORY_AUTH_PASSWORDS: 'alice:long-password,lonely-password', BUILDSTORY_SESSION_SECRET: SECRET },
      /entry 2 is not user:password/,
    ],
    [
      'a bad user name',
      { BUILDSTORY_AUTH_PASSWORDS: "al'ice:long-password", BUILDSTORY_SESSION_SECRET: SECRET },
      /entry 1 has a bad user name/,
    ],
    [
      'a user twice',
      { BUILDSTORY_AUTH_PASSWORDS: 'alice:long-password,alice:other-password', BUILDSTORY_SESSION_SECRET: SECRET },
      /user alice is listed twice/,
    ],
    [
      'a short password',
      { BUILDSTORY_AUTH_PASSWORDS: 'alice:short', BUILDSTORY_SESSION_SECRET: SECRET },
      /password of alice is shorter than 8/,
    ],
    [
      'a short shared password',
      { BUILDSTORY_AUTH_PASSWORDS: 'short', BUILDSTORY_SESSION_SECRET: SECRET },
      /shared password is shorter than 8/,
    ],
    ['an unknown cookie mode', { BUILDSTORY_SECURE_COOKIE: 'sometimes' }, /BUILDSTORY_SECURE_COOKIE/],
    [
      'a codec user who is not a user',
      { BUILDSTORY_AUTH_PASSWORDS: 'alice:long-password', BUILDSTORY_SESSION_SECRET: SECRET, BUILDSTORY_CODEC_USERS: 'alice,carol' },
      /BUILDSTORY_CODEC_USERS: carol is not a user of BUILDSTORY_AUTH_PASSWORDS$/,
    ],
    [
      'a codec user with a shared password',
      { BUILDSTORY_AUTH_PASSWORDS: 'lonely-password', BUILDSTORY_SESSION_SECRET: SECRET, BUILDSTORY_CODEC_USERS: 'alice' },
      /alice is not a user .*the user is shared/,
    ],
    [
      'a password among the codec users',
      {
        BUILDSTORY_AUTH_PASSWORDS: 'alice:long-password',
        BUILDSTORY_SESSION_SECRET: SECRET,
        BUILDSTORY_CODEC_USERS: 'alice:long-password',
      },
      /BUILDSTORY_CODEC_USERS: entry 1 is not a user name/,
    ],
    [
      'an empty codec user entry',
      { BUILDSTORY_AUTH_PASSWORDS: 'alice:long-password', BUILDSTORY_SESSION_SECRET: SECRET, BUILDSTORY_CODEC_USERS: 'alice,,' },
      /BUILDSTORY_CODEC_USERS: entry 2 is not a user name/,
    ],
    [
      'codec users without access control',
      { BUILDSTORY_CODEC_USERS: 'alice' },
      /BUILDSTORY_CODEC_USERS is set but BUILDSTORY_AUTH_PASSWORDS is not/,
    ],
  ];
  test.each(cases)('%s', (_name, vars, expected) => {
    const message = errorFor(vars);
    expect(message).toMatch(expected);
    expect(message).not.toMatch(/[\r\n]/);
    for (const secret of ['long-password', 'other-password', 'lonely-password', 'too-short-secret', SECRET]) {
      expect(message).not.toContain(secret);
    }
    expect(message).not.toMatch(/:short\b|"short"/);
  });
});
