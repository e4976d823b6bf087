/** The worker's own settings (config/worker.ts), and only those: the web app's never stop it. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeLlm, loadWorkerConfig, type Env } from './worker';
import { configErrorOf, testEnv } from './test-env';

const env = testEnv;
const configError = (vars: Env) => configErrorOf(loadWorkerConfig, env(vars));

describe('defaults', () => {
  test('an empty environment gives the offline model and the health server on loopback', () => {
    const config = loadWorkerConfig(env());
    expect(config.llm).toEqual({ kind: 'offline', delayMs: 40 });
    expect(config.worker).toEqual({ healthPort: 9464, healthHost: '127.0.0.1', shutdownGraceMs: 10_000 });
    expect(describeLlm(config.llm)).toContain('offline');
  });

  test('blank values count as unset', () => {
    const config = loadWorkerConfig(env({ OPENAI_API_KEY: '', WORKER_HEALTH_PORT: ' ', WORKER_SHUTDOWN_GRACE_MS: '' }));
    expect(config.llm.kind).toBe('offline');
    expect(config.worker).toEqual({ healthPort: 9464, healthHost: '127.0.0.1', shutdownGraceMs: 10_000 });
  });

  test('settings are read and converted', () => {
    const config = loadWorkerConfig(env({ OFFLINE_MODEL_DELAY_MS: '0', WORKER_SHUTDOWN_GRACE_MS: '2500', WORKER_HEALTH_PORT: '0' }));
    expect(config.llm).toEqual({ kind: 'offline', delayMs: 0 });
    expect(config.worker).toMatchObject({ healthPort: 0, shutdownGraceMs: 2500 });
  });

  test('the health server stays on loopback whatever HOST says; WORKER_HEALTH_HOST opens it', () => {
    expect(loadWorkerConfig(env({ HOST: '0.0.0.0' })).worker.healthHost).toBe('127.0.0.1');
    expect(loadWorkerConfig(env({ WORKER_HEALTH_HOST: ' ' })).worker.healthHost).toBe('127.0.0.1');
    expect(loadWorkerConfig(env({ WORKER_HEALTH_HOST: '0.0.0.0' })).worker.healthHost).toBe('0.0.0.0');
  });
});

describe('the LLM', () => {
  test('OPENAI_API_KEY switches to the OpenAI-compatible model with its settings', () => {
    const config = loadWorkerConfig(
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
      price: null,
    });
    expect(describeLlm(config.llm)).toBe('llama3 at http://localhost:11434/v1 (no price in BUILDSTORY_PRICES: costs show tokens only)');
  });

  test('with only the key, the model settings take their defaults', () => {
    const { llm } = loadWorkerConfig(env({ OPENAI_API_KEY: 'sk-test-123' }));
    expect(llm).toEqual({
      kind: 'openai',
      apiKey: 'sk-test-123',
      baseURL: undefined,
      model: 'gpt-4o-mini',
      timeoutMs: 120_000,
      structuredOutput: 'auto',
      price: null,
    });
    expect(describeLlm(llm)).not.toContain('sk-test-123');
  });
});

describe('the price table', () => {
  const TABLE = { 'gpt-4o-mini': { input: 0.15, output: 0.6 }, llama3: { input: 0, output: 0 } };

  test("the model's price comes from BUILDSTORY_PRICES, in dollars per million tokens", () => {
    const config = loadWorkerConfig(env({ OPENAI_API_KEY: 'k', BUILDSTORY_PRICES: JSON.stringify(TABLE) }));
    expect(config.llm).toMatchObject({ model: 'gpt-4o-mini', price: { inputPerMillion: 0.15, outputPerMillion: 0.6 } });
    expect(describeLlm(config.llm)).toContain('$0.15 in / $0.6 out per million tokens');
    expect(Object.keys(config.prices)).toEqual(['gpt-4o-mini', 'llama3']);
  });

  test('from a file too; the variable wins over the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'prices-'));
    const file = join(dir, 'prices.json');
    writeFileSync(file, JSON.stringify(TABLE));
    const config = loadWorkerConfig(
      env({ OPENAI_API_KEY: 'k', BUILDSTORY_PRICES_FILE: file, BUILDSTORY_PRICES: '{"gpt-4o-mini": {"input": 1, "output": 2}}' }),
    );
    expect(config.llm).toMatchObject({ price: { inputPerMillion: 1, outputPerMillion: 2 } });
    expect(config.prices.llama3).toEqual({ inputPerMillion: 0, outputPerMillion: 0 });
  });

  test('a model not in the table has no price (never a made-up one)', () => {
    const config = loadWorkerConfig(env({ OPENAI_API_KEY: 'k', OPENAI_MODEL: 'mystery', BUILDSTORY_PRICES: JSON.stringify(TABLE) }));
    expect(config.llm).toMatchObject({ price: null });
  });

  test.each([
    ['BUILDSTORY_PRICES', '{not json', /BUILDSTORY_PRICES: not JSON/],
    ['BUILDSTORY_PRICES', '{"m": {"input": -1, "output": 1}}', /BUILDSTORY_PRICES: m\.input: .*greater than or equal to 0/],
    ['BUILDSTORY_PRICES', '{"m": {"input": 1}}', /BUILDSTORY_PRICES: m\.output: Required/],
    ['BUILDSTORY_PRICES', '{"m": {"input": 1, "output": 1, "currency": "EUR"}}', /BUILDSTORY_PRICES: m: Unrecognized key/],
    ['BUILDSTORY_PRICES_FILE', '/nonexistent/prices.json', /BUILDSTORY_PRICES_FILE: cannot read \/nonexistent\/prices\.json \(ENOENT\)/],
  ])('%s=%s is refused at start, naming the setting', (name, value, message) => {
    expect(configError({ [name]: value }).message).toMatch(message);
  });
});

describe('Worker Versioning', () => {
  test('unset (or blank): the worker is unversioned, as before', () => {
    expect(loadWorkerConfig(env()).deploymentVersion).toBeNull();
    expect(loadWorkerConfig(env({ BUILDSTORY_DEPLOYMENT_NAME: ' ', BUILDSTORY_BUILD_ID: '' })).deploymentVersion).toBeNull();
  });

  test('both set: its Worker Deployment Version', () => {
    const config = loadWorkerConfig(env({ BUILDSTORY_DEPLOYMENT_NAME: 'buildstory', BUILDSTORY_BUILD_ID: ' 2026.12.01-3f9a2c1 ' }));
    expect(config.deploymentVersion).toEqual({ deploymentName: 'buildstory', buildId: '2026.12.01-3f9a2c1' });
  });

  test.each([
    [{ BUILDSTORY_DEPLOYMENT_NAME: 'buildstory' }, 'BUILDSTORY_BUILD_ID'],
    [{ BUILDSTORY_BUILD_ID: 'abc123' }, 'BUILDSTORY_DEPLOYMENT_NAME'],
  ])('one without the other is an error naming the missing one (%j)', (vars, missing) => {
    expect(configError(vars).message).toMatch(new RegExp(`^Invalid configuration: ${missing}: required`));
  });

  test.each([
    ['BUILDSTORY_DEPLOYMENT_NAME', 'build.story'],
    ['BUILDSTORY_DEPLOYMENT_NAME', 'build:story'],
    ['BUILDSTORY_DEPLOYMENT_NAME', '__buildstory'],
    ['BUILDSTORY_BUILD_ID', 'a b'],
    ['BUILDSTORY_BUILD_ID', '__a'],
  ])('%s=%s: Temporal would refuse it', (name, value) => {
    const other = name === 'BUILDSTORY_BUILD_ID' ? { BUILDSTORY_DEPLOYMENT_NAME: 'buildstory' } : { BUILDSTORY_BUILD_ID: 'abc' };
    expect(configError({ ...other, [name]: value }).message).toMatch(new RegExp(`^Invalid configuration: ${name}\\b`));
  });
});

describe('verification', () => {
  test('by default the worker runs everything, verification included where it has a sandbox', () => {
    expect(loadWorkerConfig(env()).verification).toEqual({ role: 'all', serve: true });
    expect(loadWorkerConfig(env({ BUILDSTORY_VERIFY: ' ', BUILDSTORY_WORKER_ROLE: '' })).verification).toEqual({
      role: 'all',
      serve: true,
    });
  });

  test('BUILDSTORY_VERIFY=off leaves it to a sandbox worker; BUILDSTORY_WORKER_ROLE=sandbox is one', () => {
    expect(loadWorkerConfig(env({ BUILDSTORY_VERIFY: 'off' })).verification).toEqual({ role: 'all', serve: false });
    expect(loadWorkerConfig(env({ BUILDSTORY_WORKER_ROLE: 'sandbox' })).verification).toEqual({ role: 'sandbox', serve: true });
  });

  test('a sandbox worker with verification off would do nothing: an error', () => {
    expect(configError({ BUILDSTORY_WORKER_ROLE: 'sandbox', BUILDSTORY_VERIFY: 'off' }).message).toMatch(
      /^Invalid configuration: BUILDSTORY_VERIFY: a sandbox worker/,
    );
  });
});

describe('webhooks', () => {
  const SECRET = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;

  test('unset: none; the URL and the secret together: the webhook, shown by its host only', () => {
    expect(loadWorkerConfig(env()).webhook).toBeNull();
    const config = loadWorkerConfig(
      env({ BUILDSTORY_WEBHOOK_URL: 'https://hooks.example.com/x?token=abc', BUILDSTORY_WEBHOOK_SECRET: SECRET }),
    );
    expect(config.webhook).toEqual({ url: 'https://hooks.example.com/x?token=abc', secret: SECRET, display: 'https://hooks.example.com' });
  });

  test.each<[string, Env, RegExp]>([
    [
      'a URL without a secret',
      { BUILDSTORY_WEBHOOK_URL: 'https://hooks.example.com/x' },
      /^Invalid configuration: BUILDSTORY_WEBHOOK_SECRET: required/,
    ],
    ['a secret without a URL', { BUILDSTORY_WEBHOOK_SECRET: SECRET }, /^Invalid configuration: BUILDSTORY_WEBHOOK_URL: required/],
    [
      'not a URL',
      { BUILDSTORY_WEBHOOK_URL: 'hooks.example.com/token-123', BUILDSTORY_WEBHOOK_SECRET: SECRET },
      /^Invalid configuration: BUILDSTORY_WEBHOOK_URL: is not a URL/,
    ],
    [
      'not http',
      { BUILDSTORY_WEBHOOK_URL: 'ftp://hooks.example.com/token-123', BUILDSTORY_WEBHOOK_SECRET: SECRET },
      /^Invalid configuration: BUILDSTORY_WEBHOOK_URL: must be/,
    ],
    [
      'a secret without whsec_',
      { BUILDSTORY_WEBHOOK_URL: 'https://h.example', BUILDSTORY_WEBHOOK_SECRET: SECRET.slice(6) },
      /BUILDSTORY_WEBHOOK_SECRET: must start with whsec_/,
    ],
    [
      'a secret that is not base64',
      { BUILDSTORY_WEBHOOK_URL: 'https://h.example', BUILDSTORY_WEBHOOK_SECRET: 'whsec_not*base64*token-123' },
      /BUILDSTORY_WEBHOOK_SECRET: is not base64/,
    ],
    [
      'a short secret',
      { BUILDSTORY_WEBHOOK_URL: 'https://h.example', BUILDSTORY_WEBHOOK_SECRET: 'whsec_dG9rZW4tMTIz' },
      /BUILDSTORY_WEBHOOK_SECRET: must encode 24 to 64 bytes, not 9/,
    ],
  ])('%s: one line naming the setting, quoting neither value', (_case, vars, message) => {
    const error = configError(vars);
    expect(error.message).toMatch(message);
    expect(error.message).not.toContain('\n');
    expect(error.message).not.toMatch(/token-123|dG9rZW4tMTIz/);
    expect(error.message).not.toContain(SECRET.slice(6));
  });
});

describe('a bad setting of its own is one line naming it', () => {
  test.each([
    ['OPENAI_BASE_URL', 'not-a-url'],
    ['OPENAI_STRUCTURED_OUTPUT', 'xml'],
    ['OPENAI_TIMEOUT_MS', '1.5'],
    ['OFFLINE_MODEL_DELAY_MS', '-1'],
    ['WORKER_HEALTH_PORT', '70000'],
    ['WORKER_SHUTDOWN_GRACE_MS', 'soon'],
    ['BUILDSTORY_VERIFY', 'yes'],
    ['BUILDSTORY_WORKER_ROLE', 'verifier'],
  ])('%s=%s', (name, value) => {
    const error = configError({ [name]: value });
    expect(error.message).toMatch(new RegExp(`^Invalid configuration: ${name}\\b`));
    expect(error.message).toContain(JSON.stringify(value));
  });

  test('OPENAI_API_KEY is not echoed when another setting is bad', () => {
    const secret = 'sk-live-0123456789abcdef';
    const error = configError({ OPENAI_API_KEY: secret, OPENAI_BASE_URL: 'not-a-url' });
    expect(error.message).toContain('OPENAI_BASE_URL');
    expect(error.message).not.toContain(secret);
  });
});

describe("the web app's settings are not the worker's", () => {
  test.each<[string, Env]>([
    ['a session secret too short', { BUILDSTORY_AUTH_PASSWORDS: 'alice:long-password', BUILDSTORY_SESSION_SECRET: 'too-short-secret' }],
    ['passwords without a session secret', { BUILDSTORY_AUTH_PASSWORDS: 'alice:long-password' }],
    ['an unknown cookie mode', { BUILDSTORY_SECURE_COOKIE: 'sometimes' }],
    ['codec users without access control', { BUILDSTORY_CODEC_USERS: 'carol' }],
  ])('%s does not stop it, and it keeps no access control setting', (_case, vars) => {
    const config = loadWorkerConfig(env(vars));
    expect(config.llm.kind).toBe('offline');
    expect(Object.keys(config).sort()).toEqual([
      'artifacts',
      'deploymentVersion',
      'encryption',
      'llm',
      'logLevel',
      'prices',
      'temporal',
      'tracing',
      'verification',
      'webhook',
      'worker',
    ]);
    expect(JSON.stringify(config)).not.toMatch(/long-password|too-short-secret|carol/);
  });

  test.each([
    ['PORT', 'abc'],
    ['TEMPORAL_UI_URL', 'not a url'],
    ['TEMPORAL_RPC_TIMEOUT_MS', '1'],
    ['SUBMIT_RATE_LIMIT_PER_MINUTE', 'many'],
  ])('%s=%s does not stop it', (name, value) => {
    expect(() => loadWorkerConfig(env({ [name]: value }))).not.toThrow();
  });
});
