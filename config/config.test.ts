/**
 * loadConfig with an explicit env object. TEMPORAL_CONFIG_FILE always points into a temp folder,
 * so the developer's own ~/.config/temporalio/temporal.toml never leaks into a test.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, describeLlm, loadConfig, type Env } from '.';

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'buildstory-config-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** An env with no profile file (envconfig treats a missing file as "no profiles"). */
function env(vars: Env = {}): Env {
  return { TEMPORAL_CONFIG_FILE: join(dir, 'does-not-exist.toml'), ...vars };
}

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** The ConfigError loadConfig throws for `vars`; fails the test if it does not throw one. */
function configError(vars: Env): ConfigError {
  let thrown: unknown;
  try {
    loadConfig(vars);
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(ConfigError);
  const error = thrown as ConfigError;
  expect(error.message).not.toMatch(/[\r\n]/);
  return error;
}

describe('defaults', () => {
  test('an empty environment gives the offline model, the local dev server and port 3000', () => {
    const config = loadConfig(env());
    expect(config.llm).toEqual({ kind: 'offline', delayMs: 40 });
    expect(config.temporal).toMatchObject({
      address: 'localhost:7233',
      namespace: 'default',
      taskQueue: 'buildstory',
      uiUrl: 'http://localhost:8233',
      rpcTimeoutMs: 5_000,
    });
    expect(config.temporal.connectionOptions).toMatchObject({ address: 'localhost:7233' });
    expect(config.temporal.connectionOptions.tls).toBeUndefined();
    expect(config.temporal.connectionOptions.apiKey).toBeUndefined();
    expect(config.temporal.describe).toBe('localhost:7233 namespace=default (plaintext)');
    expect(config.web).toMatchObject({ port: 3000, host: '0.0.0.0', submitRateLimitPerMinute: 30, trustProxy: undefined });
    expect(config.worker).toEqual({ healthPort: 9464, healthHost: '127.0.0.1', shutdownGraceMs: 10_000 });
    expect(config.logLevel).toBe('info');
    expect(describeLlm(config.llm)).toContain('offline');
  });

  test('blank values count as unset', () => {
    const config = loadConfig(env({ OPENAI_API_KEY: '', PORT: ' ', LOG_LEVEL: '', TEMPORAL_TASK_QUEUE: '', TEMPORAL_ADDRESS: ' ' }));
    expect(config.temporal.address).toBe('localhost:7233');
    expect(config.llm.kind).toBe('offline');
    expect(config.web.port).toBe(3000);
    expect(config.logLevel).toBe('info');
    expect(config.temporal.taskQueue).toBe('buildstory');
  });

  test('settings are read and converted', () => {
    const config = loadConfig(
      env({
        PORT: '8080',
        HOST: '127.0.0.1',
        LOG_LEVEL: 'debug',
        TEMPORAL_TASK_QUEUE: 'other-queue',
        TEMPORAL_UI_URL: 'http://ui.example:8233///',
        OFFLINE_MODEL_DELAY_MS: '0',
        SUBMIT_RATE_LIMIT_PER_MINUTE: '5',
        TRUST_PROXY: 'loopback',
        WORKER_SHUTDOWN_GRACE_MS: '2500',
      }),
    );
    expect(config.worker.shutdownGraceMs).toBe(2500);
    expect(config.web).toMatchObject({ port: 8080, host: '127.0.0.1', submitRateLimitPerMinute: 5, trustProxy: 'loopback' });
    expect(config.logLevel).toBe('debug');
    expect(config.temporal.taskQueue).toBe('other-queue');
    expect(config.temporal.uiUrl).toBe('http://ui.example:8233');
    expect(config.llm).toEqual({ kind: 'offline', delayMs: 0 });
  });

  test("the worker's health server stays on loopback whatever HOST says; WORKER_HEALTH_HOST opens it", () => {
    expect(loadConfig(env({ HOST: '0.0.0.0' })).worker.healthHost).toBe('127.0.0.1');
    expect(loadConfig(env({ WORKER_HEALTH_HOST: ' ' })).worker.healthHost).toBe('127.0.0.1');
    expect(loadConfig(env({ WORKER_HEALTH_HOST: '0.0.0.0' })).worker.healthHost).toBe('0.0.0.0');
  });
});

describe('the LLM', () => {
  test('OPENAI_API_KEY switches to the OpenAI-compatible model with its settings', () => {
    const config = loadConfig(
      env({
        OPENAI_API_KEY: 'sk-test-123',
        OPENAI_BASE_URL: 'http://localhost:11434/v1',
        OPENAI_MODEL: 'llama3',
        OPENAI_TIMEOUT_MS: '30000',
        OPENAI_STRUCTURED_OUTPUT: 'json_object',
      }),
    );
    expect(config.llm).toEqual({
      kind: 'openai',
      apiKey: 'sk-test-123',
      baseURL: 'http://localhost:11434/v1',
      model: 'llama3',
      timeoutMs: 30_000,
      structuredOutput: 'json_object',
    });
    expect(describeLlm(config.llm)).toBe('llama3 at http://localhost:11434/v1');
  });

  test('with only the key, the model settings take their defaults', () => {
    const { llm } = loadConfig(env({ OPENAI_API_KEY: 'sk-test-123' }));
    expect(llm).toEqual({
      kind: 'openai',
      apiKey: 'sk-test-123',
      baseURL: undefined,
      model: 'gpt-4o-mini',
      timeoutMs: 120_000,
      structuredOutput: 'auto',
    });
    expect(describeLlm(llm)).not.toContain('sk-test-123');
  });
});

describe('a bad setting is one line naming it', () => {
  test.each([
    ['OPENAI_BASE_URL', 'not-a-url'],
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['LOG_LEVEL', 'loud'],
    ['OPENAI_STRUCTURED_OUTPUT', 'xml'],
    ['OPENAI_TIMEOUT_MS', '1.5'],
    ['TEMPORAL_UI_URL', 'not a url'],
  ])('%s=%s', (name, value) => {
    const error = configError(env({ [name]: value }));
    expect(error.name).toBe('ConfigError');
    expect(error.message).toMatch(new RegExp(`^Invalid configuration: ${name}\\b`));
    expect(error.message).toContain(JSON.stringify(value));
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
    for (const address of ['temporal.example.com:7233', '127.0.0.1:7233', 'my-namespace.a1b2c.tmprl.cloud:7233', 'temporal', '[::1]:7233']) {
      expect(loadConfig(env({ TEMPORAL_ADDRESS: address })).temporal.address).toBe(address);
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
    const config = loadConfig(env({ TEMPORAL_TLS_CLIENT_CERT_PATH: cert, TEMPORAL_TLS_CLIENT_KEY_PATH: key }));
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

  test('OPENAI_API_KEY is not echoed when another setting is bad', () => {
    const error = configError(env({ OPENAI_API_KEY: secret, OPENAI_BASE_URL: 'not-a-url' }));
    expect(error.message).toContain('OPENAI_BASE_URL');
    expect(error.message).not.toContain(secret);
  });

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
    const config = loadConfig({ TEMPORAL_CONFIG_FILE: file('profiles.toml', toml) });
    expect(config.temporal.address).toBe('file-default.example:7233');
    expect(config.temporal.namespace).toBe('file-ns');
    expect(config.temporal.connectionOptions.address).toBe('file-default.example:7233');
    expect(config.temporal.describe).toBe('file-default.example:7233 namespace=file-ns (plaintext)');
  });

  test('TEMPORAL_PROFILE selects a profile, with its api key', () => {
    const config = loadConfig({ TEMPORAL_CONFIG_FILE: file('profiles.toml', toml), TEMPORAL_PROFILE: 'staging' });
    expect(config.temporal.address).toBe('staging.example:7233');
    expect(config.temporal.namespace).toBe('staging-ns');
    expect(config.temporal.connectionOptions).toMatchObject({ apiKey: 'file-api-key', tls: true });
    expect(config.temporal.describe).not.toContain('file-api-key');
  });

  test('environment variables override the file', () => {
    const config = loadConfig({
      TEMPORAL_CONFIG_FILE: file('profiles.toml', toml),
      TEMPORAL_ADDRESS: 'env.example:7233',
      TEMPORAL_NAMESPACE: 'env-ns',
    });
    expect(config.temporal.address).toBe('env.example:7233');
    expect(config.temporal.namespace).toBe('env-ns');
    expect(config.temporal.connectionOptions.address).toBe('env.example:7233');

    const partly = loadConfig({ TEMPORAL_CONFIG_FILE: file('profiles.toml', toml), TEMPORAL_NAMESPACE: 'env-ns' });
    expect(partly.temporal.address).toBe('file-default.example:7233');
    expect(partly.temporal.namespace).toBe('env-ns');
  });
});

describe('TEMPORAL_API_KEY', () => {
  const key = 'tmprl-api-key-abcdef0123456789';

  test('is passed to the connection with TLS enabled, and never described', () => {
    const config = loadConfig(env({ TEMPORAL_API_KEY: key, TEMPORAL_ADDRESS: 'ns.a1b2c.tmprl.cloud:7233', TEMPORAL_NAMESPACE: 'ns.a1b2c' }));
    expect(config.temporal.connectionOptions).toMatchObject({ address: 'ns.a1b2c.tmprl.cloud:7233', apiKey: key, tls: true });
    expect(config.temporal.describe).toBe('ns.a1b2c.tmprl.cloud:7233 namespace=ns.a1b2c (API key)');
    expect(config.temporal.describe).not.toContain(key);
  });

  test('TEMPORAL_TLS=false turns TLS off even with a key', () => {
    const config = loadConfig(env({ TEMPORAL_API_KEY: key, TEMPORAL_TLS: 'false' }));
    expect(config.temporal.connectionOptions.apiKey).toBe(key);
    expect(config.temporal.connectionOptions.tls).toBe(false);
  });
});
