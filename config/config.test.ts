/**
 * What both processes read (common.ts, temporal.ts), through each process's loader: they connect
 * to Temporal the same way and report a bad shared setting the same way. An explicit env object
 * each time; TEMPORAL_CONFIG_FILE always points into a temp folder, so the developer's own
 * ~/.config/temporalio/temporal.toml never leaks into a test.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Env } from '.';
import type { CommonConfig } from './common';
import { loadWebConfig } from './web';
import { loadWorkerConfig } from './worker';
import { configErrorOf, testEnv } from './test-env';

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'buildstory-config-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const env = (vars: Env = {}) => testEnv(vars, join(dir, 'does-not-exist.toml'));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe.each<[string, (env: Env) => CommonConfig]>([
  ['worker', loadWorkerConfig],
  ['web app', loadWebConfig],
])('the %s', (_process, load) => {
  const configError = (vars: Env) => configErrorOf(load, vars);

  describe('defaults', () => {
    test('an empty environment gives the local dev server, the default task queue and log level', () => {
      const config = load(env());
      expect(config.temporal).toMatchObject({ address: 'localhost:7233', namespace: 'default', taskQueue: 'buildstory' });
      expect(config.temporal.connectionOptions).toMatchObject({ address: 'localhost:7233' });
      expect(config.temporal.connectionOptions.tls).toBeUndefined();
      expect(config.temporal.connectionOptions.apiKey).toBeUndefined();
      expect(config.temporal.describe).toBe('localhost:7233 namespace=default (plaintext)');
      expect(config.logLevel).toBe('info');
      expect(config.encryption).toBeNull();
    });

    test('blank values count as unset', () => {
      const config = load(env({ LOG_LEVEL: '', TEMPORAL_TASK_QUEUE: '', TEMPORAL_ADDRESS: ' ' }));
      expect(config.temporal.address).toBe('localhost:7233');
      expect(config.logLevel).toBe('info');
      expect(config.temporal.taskQueue).toBe('buildstory');
    });

    test('settings are read', () => {
      const config = load(env({ LOG_LEVEL: 'debug', TEMPORAL_TASK_QUEUE: 'other-queue' }));
      expect(config.logLevel).toBe('debug');
      expect(config.temporal.taskQueue).toBe('other-queue');
    });
  });

  describe('a bad setting is one line naming it', () => {
    test('LOG_LEVEL=loud', () => {
      const error = configError(env({ LOG_LEVEL: 'loud' }));
      expect(error.name).toBe('ConfigError');
      expect(error.message).toMatch(/^Invalid configuration: LOG_LEVEL\b/);
      expect(error.message).toContain('"loud"');
    });

    test('a value with a newline is still shown on one line', () => {
      const error = configError(env({ LOG_LEVEL: 'info\nverbose' }));
      expect(error.message).toContain('LOG_LEVEL');
    });

    test.each(['http://temporal.example:7233', 'two words:7233', 'host:port', 'a:1:2'])('TEMPORAL_ADDRESS=%s', (address) => {
      const error = configError(env({ TEMPORAL_ADDRESS: address }));
      expect(error.message).toContain('TEMPORAL_ADDRESS');
    });

    test('well-formed addresses pass', () => {
      for (const address of [
        'temporal.example.com:7233',
        '127.0.0.1:7233',
        'my-namespace.a1b2c.tmprl.cloud:7233',
        'temporal',
        '[::1]:7233',
      ]) {
        expect(load(env({ TEMPORAL_ADDRESS: address })).temporal.address).toBe(address);
      }
    });

    test('a TLS file that does not exist', () => {
      const key = file('client.key', 'not really a key');
      const missing = join(dir, 'missing.pem');
      const error = configError(env({ TEMPORAL_TLS_CLIENT_CERT_PATH: missing, TEMPORAL_TLS_CLIENT_KEY_PATH: key }));
      expect(error.message).toContain('TEMPORAL_TLS_CLIENT_CERT_PATH');
      expect(error.message).toContain(missing);

      const caError = configError(env({ TEMPORAL_TLS_SERVER_CA_CERT_PATH: missing }));
      expect(caError.message).toContain('TEMPORAL_TLS_SERVER_CA_CERT_PATH');
    });

    test('a client certificate without its key, and a key without its certificate', () => {
      const cert = file('client.pem', 'not really a cert');
      const key = file('client.key', 'not really a key');
      expect(configError(env({ TEMPORAL_TLS_CLIENT_CERT_PATH: cert })).message).toContain('TEMPORAL_TLS_CLIENT_KEY_PATH');
      expect(configError(env({ TEMPORAL_TLS_CLIENT_KEY_PATH: key })).message).toContain('TEMPORAL_TLS_CLIENT_CERT_PATH');
    });

    test('a certificate pair that exists is loaded into the connection options', () => {
      const cert = file('pair.pem', 'CERT BYTES');
      const key = file('pair.key', 'KEY BYTES');
      const config = load(env({ TEMPORAL_TLS_CLIENT_CERT_PATH: cert, TEMPORAL_TLS_CLIENT_KEY_PATH: key }));
      const tls = config.temporal.connectionOptions.tls;
      expect(tls).toBeTruthy();
      const pair = (tls as { clientCertPair?: { crt: Uint8Array; key: Uint8Array } }).clientCertPair;
      expect(Buffer.from(pair!.crt).toString()).toBe('CERT BYTES');
      expect(Buffer.from(pair!.key).toString()).toBe('KEY BYTES');
      expect(config.temporal.describe).toContain('(TLS)');
    });

    test('TEMPORAL_PROFILE naming a profile that is not in the file', () => {
      const path = file('one-profile.toml', '[profile.default]\naddress = "a.example:7233"\n');
      const error = configError({ TEMPORAL_CONFIG_FILE: path, TEMPORAL_PROFILE: 'staging' });
      expect(error.message).toContain('TEMPORAL_PROFILE');
      expect(error.message).toContain('staging');
    });

    test('a malformed profile file', () => {
      const path = file('broken.toml', '[profile.default]\naddress = "a.example:7233"\nnamespace = \n');
      const error = configError({ TEMPORAL_CONFIG_FILE: path });
      expect(error.message).toContain('TEMPORAL_CONFIG_FILE');
    });
  });

  describe('secrets never appear in messages', () => {
    const secret = 'sk-live-0123456789abcdef';

    test('TEMPORAL_API_KEY is not echoed when the address is bad', () => {
      const error = configError(env({ TEMPORAL_API_KEY: secret, TEMPORAL_ADDRESS: 'https://cloud.example:7233' }));
      expect(error.message).not.toContain(secret);
    });

    test('an api_key in a malformed profile file is not echoed', () => {
      // The TOML parser's message quotes the lines around the error, the api_key line among them.
      const path = file('leaky.toml', `[profile.default]\naddress = "a.example:7233"\napi_key = "${secret}"\nnamespace = \n`);
      const error = configError({ TEMPORAL_CONFIG_FILE: path });
      expect(error.message).not.toContain(secret);
    });
  });

  describe('the Temporal profile file', () => {
    const toml = [
      '[profile.default]',
      'address = "file-default.example:7233"',
      'namespace = "file-ns"',
      '',
      '[profile.staging]',
      'address = "staging.example:7233"',
      'namespace = "staging-ns"',
      'api_key = "file-api-key"',
      '',
    ].join('\n');

    test('the default profile gives address and namespace', () => {
      const config = load({ TEMPORAL_CONFIG_FILE: file('profiles.toml', toml) });
      expect(config.temporal.address).toBe('file-default.example:7233');
      expect(config.temporal.namespace).toBe('file-ns');
      expect(config.temporal.connectionOptions.address).toBe('file-default.example:7233');
      expect(config.temporal.describe).toBe('file-default.example:7233 namespace=file-ns (plaintext)');
    });

    test('TEMPORAL_PROFILE selects a profile, with its api key', () => {
      const config = load({ TEMPORAL_CONFIG_FILE: file('profiles.toml', toml), TEMPORAL_PROFILE: 'staging' });
      expect(config.temporal.address).toBe('staging.example:7233');
      expect(config.temporal.namespace).toBe('staging-ns');
      expect(config.temporal.connectionOptions).toMatchObject({ apiKey: 'file-api-key', tls: true });
      expect(config.temporal.describe).not.toContain('file-api-key');
    });

    test('environment variables override the file', () => {
      const config = load({
        TEMPORAL_CONFIG_FILE: file('profiles.toml', toml),
        TEMPORAL_ADDRESS: 'env.example:7233',
        TEMPORAL_NAMESPACE: 'env-ns',
      });
      expect(config.temporal.address).toBe('env.example:7233');
      expect(config.temporal.namespace).toBe('env-ns');
      expect(config.temporal.connectionOptions.address).toBe('env.example:7233');

      const partly = load({ TEMPORAL_CONFIG_FILE: file('profiles.toml', toml), TEMPORAL_NAMESPACE: 'env-ns' });
      expect(partly.temporal.address).toBe('file-default.example:7233');
      expect(partly.temporal.namespace).toBe('env-ns');
    });
  });

  describe('TEMPORAL_API_KEY', () => {
    const key = 'tmprl-api-key-abcdef0123456789';

    test('is passed to the connection with TLS enabled, and never described', () => {
      const config = load(env({ TEMPORAL_API_KEY: key, TEMPORAL_ADDRESS: 'ns.a1b2c.tmprl.cloud:7233', TEMPORAL_NAMESPACE: 'ns.a1b2c' }));
      expect(config.temporal.connectionOptions).toMatchObject({ address: 'ns.a1b2c.tmprl.cloud:7233', apiKey: key, tls: true });
      expect(config.temporal.describe).toBe('ns.a1b2c.tmprl.cloud:7233 namespace=ns.a1b2c (API key)');
      expect(config.temporal.describe).not.toContain(key);
    });

    test('TEMPORAL_TLS=false turns TLS off even with a key', () => {
      const config = load(env({ TEMPORAL_API_KEY: key, TEMPORAL_TLS: 'false' }));
      expect(config.temporal.connectionOptions.apiKey).toBe(key);
      expect(config.temporal.connectionOptions.tls).toBe(false);
    });
  });
});
