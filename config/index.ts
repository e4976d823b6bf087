/**
 * One configuration module for the worker and the web app, validated with zod at start.
 *
 * Temporal connection settings follow @temporalio/envconfig (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
 * TEMPORAL_API_KEY, TEMPORAL_TLS_*, TEMPORAL_PROFILE and the TOML profile file) and are loaded by
 * that package itself; we only check the result and add defaults.
 */
import { existsSync } from 'node:fs';
import { loadClientConfigProfile, toClientOptions, type ClientConfigProfile } from '@temporalio/envconfig';
import type { NativeConnectionOptions } from '@temporalio/worker';
import { z } from 'zod';
import type { EncryptionKeys } from '../codec';
import { DEFAULT_TASK_QUEUE } from '../workflows/shared';
import { AuthConfigError, parseAuth, type AuthConfig } from './auth';

export { OWNER_SEARCH_ATTRIBUTE, SHARED_USER, type AuthConfig } from './auth';

export type Env = Record<string, string | undefined>;

/** A bad setting: the message is one line that names it. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

const blankToUndefined = (value: unknown) => (typeof value === 'string' && value.trim() === '' ? undefined : value);
const optionalString = z.preprocess(blankToUndefined, z.string().optional());
const integer = (fallback: number, min: number, max: number) =>
  z.preprocess(blankToUndefined, z.coerce.number().int().min(min).max(max).default(fallback));

const EnvSchema = z.object({
  TEMPORAL_TASK_QUEUE: z.preprocess(blankToUndefined, z.string().min(1).default(DEFAULT_TASK_QUEUE)),
  TEMPORAL_UI_URL: z.preprocess(blankToUndefined, z.string().url().default('http://localhost:8233')),
  /** Deadline for one call from the web app to Temporal. */
  TEMPORAL_RPC_TIMEOUT_MS: integer(5_000, 100, 120_000),

  OPENAI_API_KEY: optionalString,
  OPENAI_BASE_URL: z.preprocess(blankToUndefined, z.string().url().optional()),
  OPENAI_MODEL: z.preprocess(blankToUndefined, z.string().min(1).default('gpt-4o-mini')),
  OPENAI_TIMEOUT_MS: integer(120_000, 1_000, 600_000),
  OPENAI_STRUCTURED_OUTPUT: z.preprocess(
    blankToUndefined,
    z.enum(['auto', 'json_schema', 'json_object']).default('auto'),
  ),
  OFFLINE_MODEL_DELAY_MS: integer(40, 0, 10_000),

  LOG_LEVEL: z.preprocess(
    blankToUndefined,
    z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  ),
  PORT: integer(3000, 0, 65_535),
  /** Task submissions one client may make per minute; 0 turns the limit off. */
  SUBMIT_RATE_LIMIT_PER_MINUTE: integer(30, 0, 100_000),
  /** Express's `trust proxy`: set it when a proxy in front sets X-Forwarded-For (e.g. 1, or loopback). */
  TRUST_PROXY: optionalString,
  HOST: z.preprocess(blankToUndefined, z.string().min(1).default('0.0.0.0')),
  /** The worker's /healthz, /readyz and /metrics; 0 turns them off. */
  WORKER_HEALTH_PORT: integer(9464, 0, 65_535),
  /** Their interface: loopback, so only what runs beside the worker sees them; 0.0.0.0 opens them to probes and scrapers from elsewhere. */
  WORKER_HEALTH_HOST: z.preprocess(blankToUndefined, z.string().min(1).default('127.0.0.1')),
  /** On SIGINT/SIGTERM, how long running activities may take to finish before they are cancelled (and retried elsewhere). */
  WORKER_SHUTDOWN_GRACE_MS: integer(10_000, 0, 3_600_000),
  /** Access control: `user:password,...` or one shared password; unset, the web app is open (see config/auth.ts). */
  BUILDSTORY_AUTH_PASSWORDS: optionalString,
  /** Signs the session cookie; required with BUILDSTORY_AUTH_PASSWORDS, 32 characters or more. */
  BUILDSTORY_SESSION_SECRET: optionalString,
  /** `always` marks the session cookie Secure on every response; `auto` only on https requests. */
  BUILDSTORY_SECURE_COOKIE: z.preprocess(blankToUndefined, z.enum(['auto', 'always']).default('auto')),
  /** Users (of BUILDSTORY_AUTH_PASSWORDS) who may use the codec endpoint, comma-separated; unset, nobody (with access control on). */
  BUILDSTORY_CODEC_USERS: optionalString,
  /** Payload encryption: `keyId:base64key,...` (32-byte keys); unset, payloads are not encrypted. */
  BUILDSTORY_ENCRYPTION_KEYS: optionalString,
  /** The key that encrypts new payloads; the first listed by default. */
  BUILDSTORY_ENCRYPTION_KEY_ID: optionalString,
});

/** What @temporalio/envconfig reads for the connection (see loadTemporalProfile). */
const TEMPORAL_ENV_NAMES = [
  'TEMPORAL_ADDRESS',
  'TEMPORAL_NAMESPACE',
  'TEMPORAL_API_KEY',
  'TEMPORAL_TLS',
  'TEMPORAL_TLS_CLIENT_CERT_PATH',
  'TEMPORAL_TLS_CLIENT_CERT_DATA',
  'TEMPORAL_TLS_CLIENT_KEY_PATH',
  'TEMPORAL_TLS_CLIENT_KEY_DATA',
  'TEMPORAL_TLS_SERVER_CA_CERT_PATH',
  'TEMPORAL_TLS_SERVER_CA_CERT_DATA',
  'TEMPORAL_TLS_SERVER_NAME',
  'TEMPORAL_TLS_DISABLE_HOST_VERIFICATION',
  'TEMPORAL_PROFILE',
  'TEMPORAL_CONFIG_FILE',
] as const;

/**
 * Every environment variable the worker and the web app read, for deployment files and their
 * tests. Names starting with one of CONFIG_ENV_PREFIXES are accepted too.
 */
export const CONFIG_ENV_NAMES: readonly string[] = [...Object.keys(EnvSchema.shape), ...TEMPORAL_ENV_NAMES];
/** gRPC metadata headers, one variable each: TEMPORAL_GRPC_META_<HEADER>. */
export const CONFIG_ENV_PREFIXES: readonly string[] = ['TEMPORAL_GRPC_META_'];

export interface TemporalConfig {
  address: string;
  namespace: string;
  taskQueue: string;
  uiUrl: string;
  rpcTimeoutMs: number;
  connectionOptions: NativeConnectionOptions;
  /** How we connect, for logs: never includes secrets. */
  describe: string;
}

export type LlmConfig =
  | { kind: 'offline'; delayMs: number }
  | {
      kind: 'openai';
      apiKey: string;
      baseURL: string | undefined;
      model: string;
      timeoutMs: number;
      structuredOutput: 'auto' | 'json_schema' | 'json_object';
    };

export interface Config {
  temporal: TemporalConfig;
  llm: LlmConfig;
  logLevel: z.infer<typeof EnvSchema>['LOG_LEVEL'];
  web: { port: number; host: string; submitRateLimitPerMinute: number; trustProxy: string | undefined };
  /** The worker's health server (port 0: none), on its own host, not the web app's HOST. */
  worker: { healthPort: number; healthHost: string; shutdownGraceMs: number };
  /** Access control of the web app; null: off (everyone sees and does everything). */
  auth: AuthConfig | null;
  /** Payload encryption keys (worker, web client, codec endpoint); null: payloads are not encrypted. */
  encryption: EncryptionKeys | null;
}

function firstIssue(error: z.ZodError, env: Env): string {
  const issue = error.issues[0];
  const name = String(issue.path[0] ?? 'configuration');
  const got = env[name];
  const shown = got === undefined ? '' : ` (got ${JSON.stringify(/_KEYS?$/.test(name) ? '***' : got)})`;
  // zod quotes a bad enum value raw: keep the message on one line even if the value has newlines.
  return `Invalid configuration: ${name}: ${issue.message.replace(/\s*\n\s*/g, ' ')}${shown}`;
}

function loadTemporalProfile(env: Env): ClientConfigProfile {
  try {
    const overrideEnvVars = Object.fromEntries(
      Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined),
    );
    return loadClientConfigProfile({ overrideEnvVars });
  } catch (err) {
    // First line only: the TOML parser's message goes on to quote the file's lines around the
    // error, which may hold an api_key.
    const reason = (err as Error).message.split('\n')[0];
    throw new ConfigError(`Invalid configuration: Temporal profile (TEMPORAL_CONFIG_FILE, TEMPORAL_PROFILE): ${reason}`);
  }
}

function checkTemporalProfile(profile: ClientConfigProfile): void {
  const address = profile.address?.trim() ?? '';
  // host:port, or [ipv6]:port
  if (address && !/^([^\s:/[\]]+|\[[0-9a-fA-F:.]+\])(:\d{1,5})?$/.test(address)) {
    throw new ConfigError(`Invalid configuration: TEMPORAL_ADDRESS must be host:port (got ${JSON.stringify(address)})`);
  }
  const files: Array<[string, { path?: string } | undefined]> = [
    ['TEMPORAL_TLS_CLIENT_CERT_PATH', profile.tls?.clientCert as { path?: string } | undefined],
    ['TEMPORAL_TLS_CLIENT_KEY_PATH', profile.tls?.clientKey as { path?: string } | undefined],
    ['TEMPORAL_TLS_SERVER_CA_CERT_PATH', profile.tls?.serverCACert as { path?: string } | undefined],
  ];
  for (const [name, source] of files) {
    if (source?.path && !existsSync(source.path)) {
      throw new ConfigError(`Invalid configuration: ${name}: file not found (${source.path})`);
    }
  }
  const hasCert = Boolean(profile.tls?.clientCert);
  const hasKey = Boolean(profile.tls?.clientKey);
  if (hasCert !== hasKey) {
    throw new ConfigError(
      'Invalid configuration: TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH must be set together',
    );
  }
}

const KEY_ID = /^[A-Za-z0-9._-]{1,64}$/;
const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;

/**
 * BUILDSTORY_ENCRYPTION_KEYS (`keyId:base64key,...`) and BUILDSTORY_ENCRYPTION_KEY_ID. Messages name
 * the entry by position and key id, never by its key.
 */
function parseEncryption(keysSetting: string | undefined, keyIdSetting: string | undefined): EncryptionKeys | null {
  const bad = (reason: string) => new ConfigError(`Invalid configuration: BUILDSTORY_ENCRYPTION_KEYS: ${reason}`);
  if (keysSetting === undefined) {
    if (keyIdSetting !== undefined) {
      throw new ConfigError('Invalid configuration: BUILDSTORY_ENCRYPTION_KEY_ID is set but BUILDSTORY_ENCRYPTION_KEYS is not');
    }
    return null;
  }
  const keys = new Map<string, Buffer>();
  const entries = keysSetting.split(',').map((entry) => entry.trim());
  entries.forEach((entry, index) => {
    const position = `entry ${index + 1}`;
    if (entry === '') throw bad(`${position} is empty (expected keyId:base64key, comma-separated)`);
    const colon = entry.indexOf(':');
    if (colon < 0) throw bad(`${position} must be keyId:base64key`);
    const id = entry.slice(0, colon).trim();
    const encoded = entry.slice(colon + 1).trim();
    if (!KEY_ID.test(id)) throw bad(`${position}: the key id must be 1-64 letters, digits, '.', '_' or '-'`);
    if (keys.has(id)) throw bad(`key id "${id}" is listed twice`);
    const key = BASE64.test(encoded) ? Buffer.from(encoded, 'base64') : null;
    if (!key || key.length !== 32) {
      throw bad(`the key of "${id}" must be 32 bytes in base64 (openssl rand -base64 32)${key ? `, not ${key.length} bytes` : ''}`);
    }
    keys.set(id, key);
  });
  const currentKeyId = keyIdSetting ?? entries[0].slice(0, entries[0].indexOf(':')).trim();
  if (!keys.has(currentKeyId)) {
    throw new ConfigError(
      `Invalid configuration: BUILDSTORY_ENCRYPTION_KEY_ID: no key with id ${JSON.stringify(currentKeyId)} in BUILDSTORY_ENCRYPTION_KEYS`,
    );
  }
  return { keys, currentKeyId };
}

/** Load and validate the whole configuration; throws ConfigError with one line naming the bad setting. */
export function loadConfig(env: Env = process.env): Config {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) throw new ConfigError(firstIssue(parsed.error, env));
  const e = parsed.data;

  const profile = loadTemporalProfile(env);
  checkTemporalProfile(profile);
  // A blank TEMPORAL_ADDRESS means unset, like every other setting.
  const address = profile.address?.trim() || 'localhost:7233';
  const namespace = profile.namespace ?? 'default';
  let connectionOptions: NativeConnectionOptions;
  try {
    connectionOptions = toClientOptions({ ...profile, address }).connectionOptions;
  } catch (err) {
    throw new ConfigError(`Invalid configuration: Temporal TLS: ${(err as Error).message}`);
  }
  const security = profile.apiKey ? 'API key' : profile.tls && !profile.tls.disabled ? 'TLS' : 'plaintext';

  const encryption = parseEncryption(e.BUILDSTORY_ENCRYPTION_KEYS, e.BUILDSTORY_ENCRYPTION_KEY_ID?.trim());

  let auth: AuthConfig | null;
  try {
    auth = parseAuth({
      passwords: e.BUILDSTORY_AUTH_PASSWORDS,
      sessionSecret: e.BUILDSTORY_SESSION_SECRET,
      secureCookie: e.BUILDSTORY_SECURE_COOKIE,
      codecUsers: e.BUILDSTORY_CODEC_USERS,
    });
  } catch (err) {
    if (err instanceof AuthConfigError) throw new ConfigError(err.message);
    throw err;
  }

  const llm: LlmConfig = e.OPENAI_API_KEY
    ? {
        kind: 'openai',
        apiKey: e.OPENAI_API_KEY,
        baseURL: e.OPENAI_BASE_URL,
        model: e.OPENAI_MODEL,
        timeoutMs: e.OPENAI_TIMEOUT_MS,
        structuredOutput: e.OPENAI_STRUCTURED_OUTPUT,
      }
    : { kind: 'offline', delayMs: e.OFFLINE_MODEL_DELAY_MS };

  return {
    temporal: {
      address,
      namespace,
      taskQueue: e.TEMPORAL_TASK_QUEUE,
      uiUrl: e.TEMPORAL_UI_URL.replace(/\/+$/, ''),
      rpcTimeoutMs: e.TEMPORAL_RPC_TIMEOUT_MS,
      connectionOptions,
      describe: `${address} namespace=${namespace} (${security})`,
    },
    llm,
    logLevel: e.LOG_LEVEL,
    web: { port: e.PORT, host: e.HOST, submitRateLimitPerMinute: e.SUBMIT_RATE_LIMIT_PER_MINUTE, trustProxy: e.TRUST_PROXY },
    worker: { healthPort: e.WORKER_HEALTH_PORT, healthHost: e.WORKER_HEALTH_HOST, shutdownGraceMs: e.WORKER_SHUTDOWN_GRACE_MS },
    auth,
    encryption,
  };
}

/** A short description of the model settings for logs and the UI; never includes the key. */
export function describeLlm(llm: LlmConfig): string {
  return llm.kind === 'offline'
    ? 'offline model (no OPENAI_API_KEY set)'
    : `${llm.model} at ${llm.baseURL ?? 'https://api.openai.com/v1'}`;
}
