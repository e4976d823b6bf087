/**
 * The web app's own settings (config/web.ts), and only those: the worker's never stop it, and the
 * LLM key never reaches its configuration. Access control has its own file (auth.test.ts).
 */
import { inspect } from 'node:util';
import { loadWebConfig, type Env } from './web';
import { configErrorOf, testEnv } from './test-env';

const env = testEnv;
const configError = (vars: Env) => configErrorOf(loadWebConfig, env(vars));

describe('defaults', () => {
  test('an empty environment gives port 3000 on all interfaces, the local Temporal UI, no access control', () => {
    const config = loadWebConfig(env());
    expect(config.web).toEqual({ port: 3000, host: '0.0.0.0', submitRateLimitPerMinute: 30, trustProxy: undefined });
    expect(config.temporal).toMatchObject({ uiUrl: 'http://localhost:8233', rpcTimeoutMs: 5_000 });
    expect(config.auth).toBeNull();
    expect(config.sharedStore).toBeNull();
    expect(config.review).toEqual({ byDefault: false, timeoutMs: 7 * 24 * 3600 * 1000 });
    expect(config.dailySpendCap).toBeNull();
    expect(loadWebConfig(env({ BUILDSTORY_DAILY_SPEND_CAP: '12.5' })).dailySpendCap).toBe(12.5);
  });

  test('webhooks: new runs notify when BUILDSTORY_WEBHOOK_URL is set (the secret is read by the worker only)', () => {
    expect(loadWebConfig(env()).webhooks).toBe(false);
    expect(loadWebConfig(env({ BUILDSTORY_WEBHOOK_URL: 'https://hooks.example.com/x' })).webhooks).toBe(true);
    const config = loadWebConfig(env({ BUILDSTORY_WEBHOOK_URL: 'https://hooks.example.com/x', BUILDSTORY_WEBHOOK_SECRET: 'whsec_bad' }));
    expect(JSON.stringify(config)).not.toContain('whsec_');
    expect(configError({ BUILDSTORY_WEBHOOK_URL: 'not a url/token-123' }).message).toMatch(
      /^Invalid configuration: BUILDSTORY_WEBHOOK_URL: is not a URL[^\n]*$/,
    );
    expect(configError({ BUILDSTORY_WEBHOOK_URL: 'not a url/token-123' }).message).not.toContain('token-123');
  });

  test('fair share is off unless a limit is set; one limit alone sets the other', () => {
    expect(loadWebConfig(env()).fairShare).toBeNull();
    const both = { BUILDSTORY_MAX_RUNNING_PER_USER: '2', BUILDSTORY_MAX_RUNNING: '10' };
    expect(loadWebConfig(env(both)).fairShare).toEqual({ perUser: 2, total: 10 });
    expect(loadWebConfig(env({ BUILDSTORY_MAX_RUNNING: '4' })).fairShare).toEqual({ perUser: 4, total: 4 });
    expect(loadWebConfig(env({ BUILDSTORY_MAX_RUNNING_PER_USER: '3' })).fairShare).toEqual({ perUser: 3, total: 100_000 });
    expect(configError({ BUILDSTORY_MAX_RUNNING_PER_USER: '5', BUILDSTORY_MAX_RUNNING: '2' }).message).toMatch(
      /^Invalid configuration: BUILDSTORY_MAX_RUNNING_PER_USER: above BUILDSTORY_MAX_RUNNING \(5 > 2\)/,
    );
  });

  test('blank values count as unset', () => {
    const config = loadWebConfig(env({ PORT: ' ', HOST: '', TEMPORAL_UI_URL: '', OPENAI_API_KEY: '' }));
    expect(config.web).toMatchObject({ port: 3000, host: '0.0.0.0' });
    expect(config.temporal.uiUrl).toBe('http://localhost:8233');
  });

  test('settings are read and converted', () => {
    const config = loadWebConfig(
      env({
        PORT: '8080',
        HOST: '127.0.0.1',
        TEMPORAL_UI_URL: 'http://ui.example:8233///',
        TEMPORAL_RPC_TIMEOUT_MS: '2000',
        SUBMIT_RATE_LIMIT_PER_MINUTE: '5',
        TRUST_PROXY: 'loopback',
      }),
    );
    expect(config.web).toEqual({ port: 8080, host: '127.0.0.1', submitRateLimitPerMinute: 5, trustProxy: 'loopback' });
    expect(config.temporal).toMatchObject({ uiUrl: 'http://ui.example:8233', rpcTimeoutMs: 2_000 });
  });

  test('run limits: the default within the cap; a cap alone is the default too', () => {
    expect(loadWebConfig(env()).budget).toEqual({ default: {}, cap: {} });
    expect(
      loadWebConfig(env({ BUILDSTORY_BUDGET_DEFAULT: 'tokens=20000, time=30m', BUILDSTORY_BUDGET_CAP: 'tokens=100000,cost=2.5,steps=6' }))
        .budget,
    ).toEqual({
      default: { tokens: 20_000, timeMs: 1_800_000, cost: 2.5, steps: 6 },
      cap: { tokens: 100_000, cost: 2.5, steps: 6 },
    });
  });

  test.each([
    ['BUILDSTORY_BUDGET_DEFAULT', 'tokens=many', /tokens must be a whole number/],
    ['BUILDSTORY_BUDGET_DEFAULT', 'dollars=3', /unknown limit "dollars"/],
    ['BUILDSTORY_BUDGET_CAP', 'steps=9', /steps must be at most 8/],
    ['BUILDSTORY_BUDGET_CAP', 'time=0s', /at least 1s/],
  ])('%s=%s is refused, naming the setting', (name, value, message) => {
    const error = configError({ [name]: value });
    expect(error.message).toMatch(new RegExp(`^Invalid configuration: ${name}: `));
    expect(error.message).toMatch(message);
  });

  test('a default above the cap is refused', () => {
    expect(configError({ BUILDSTORY_BUDGET_DEFAULT: 'cost=5', BUILDSTORY_BUDGET_CAP: 'cost=1' }).message).toBe(
      "Invalid configuration: BUILDSTORY_BUDGET_DEFAULT: cost is above BUILDSTORY_BUDGET_CAP's (5 > 1)",
    );
  });

  test('plan review: the form default and the timeout', () => {
    expect(loadWebConfig(env({ BUILDSTORY_REVIEW_PLANS: 'true', BUILDSTORY_REVIEW_TIMEOUT: '90m' })).review).toEqual({
      byDefault: true,
      timeoutMs: 90 * 60_000,
    });
    expect(loadWebConfig(env({ BUILDSTORY_REVIEW_PLANS: 'off', BUILDSTORY_REVIEW_TIMEOUT: '30s' })).review).toEqual({
      byDefault: false,
      timeoutMs: 30_000,
    });
  });
});

describe('a bad setting of its own is one line naming it', () => {
  test.each([
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['TEMPORAL_UI_URL', 'not a url'],
    ['TEMPORAL_RPC_TIMEOUT_MS', '1'],
    ['SUBMIT_RATE_LIMIT_PER_MINUTE', 'many'],
    ['BUILDSTORY_SECURE_COOKIE', 'sometimes'],
    ['BUILDSTORY_REVIEW_PLANS', 'maybe'],
    ['BUILDSTORY_DAILY_SPEND_CAP', '-3'],
    ['BUILDSTORY_DAILY_SPEND_CAP', 'lots'],
    ['BUILDSTORY_MAX_RUNNING', '0'],
    ['BUILDSTORY_MAX_RUNNING_PER_USER', 'two'],
    ['BUILDSTORY_REVIEW_TIMEOUT', '7 weeks'],
    ['BUILDSTORY_REVIEW_TIMEOUT', '0s'],
    ['BUILDSTORY_REVIEW_TIMEOUT', '400d'],
  ])('%s=%s', (name, value) => {
    const error = configError({ [name]: value });
    expect(error.message).toMatch(new RegExp(`^Invalid configuration: ${name}\\b`));
    expect(error.message).toContain(JSON.stringify(value));
  });

  test('a short session secret', () => {
    const error = configError({ BUILDSTORY_AUTH_PASSWORDS: 'alice:long-password', BUILDSTORY_SESSION_SECRET: 'too-short-secret' });
    expect(error.message).toBe('Invalid configuration: BUILDSTORY_SESSION_SECRET must be at least 32 characters long');
  });
});

describe('the shared store (BUILDSTORY_SHARED_STORE_URL)', () => {
  const password = 'pg-secret-NEVER-SHOWN';

  test.each([
    [`postgres://buildstory:${password}@db.internal:5432/buildstory`, 'postgres://buildstory@db.internal:5432/buildstory'],
    [
      `postgresql://buildstory:${password}@db.internal/buildstory?sslmode=require&password=${password}`,
      'postgresql://buildstory@db.internal/buildstory',
    ],
    ['postgres://127.0.0.1:5433/shared', 'postgres://127.0.0.1:5433/shared'],
  ])('%s is kept as given, and shown without its password or query', (url, display) => {
    expect(loadWebConfig(env({ BUILDSTORY_SHARED_STORE_URL: ` ${url} ` })).sharedStore).toEqual({ url, display });
  });

  test('blank is unset: in memory', () => {
    expect(loadWebConfig(env({ BUILDSTORY_SHARED_STORE_URL: ' ' })).sharedStore).toBeNull();
  });

  test.each([
    [`buildstory:${password}@db.internal/buildstory`, 'must be a postgres:// or postgresql:// URL'],
    [`mysql://buildstory:${password}@db.internal/buildstory`, 'must be a postgres:// or postgresql:// URL'],
    ['postgres:///buildstory', 'has no host'],
    [`not a url ${password}`, 'is not a URL'],
  ])('%s: one line naming it, quoting nothing of the value', (url, problem) => {
    const error = configError({ BUILDSTORY_SHARED_STORE_URL: url });
    expect(error.message).toMatch(/^Invalid configuration: BUILDSTORY_SHARED_STORE_URL /);
    expect(error.message).toContain(problem);
    expect(error.message).not.toContain(password);
    expect(error.message).not.toContain('db.internal');
  });
});

describe("the worker's settings are not the web app's", () => {
  const key = 'sk-live-NEVER-IN-WEB-0123456789';

  test('the LLM key and the model settings are nowhere in its configuration', () => {
    const config = loadWebConfig(env({ OPENAI_API_KEY: key, OPENAI_MODEL: 'llama3', OPENAI_BASE_URL: 'http://llm.example/v1' }));
    expect(config).not.toHaveProperty('llm');
    // Anywhere, however deep (Maps, Sets and Buffers included).
    const everything = inspect(config, { depth: null, maxArrayLength: null, maxStringLength: null, showHidden: true });
    expect(everything).not.toContain(key);
    expect(everything).not.toMatch(/llama3|llm\.example/);
  });

  test.each([
    ['OPENAI_BASE_URL', 'not-a-url'],
    ['OPENAI_STRUCTURED_OUTPUT', 'xml'],
    ['OPENAI_TIMEOUT_MS', '1.5'],
    ['OFFLINE_MODEL_DELAY_MS', '-1'],
    ['WORKER_HEALTH_PORT', '70000'],
    ['WORKER_SHUTDOWN_GRACE_MS', 'soon'],
  ])('%s=%s does not stop it', (name, value) => {
    expect(() => loadWebConfig(env({ [name]: value }))).not.toThrow();
  });
});
