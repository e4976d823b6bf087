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
import { DEFAULT_TASK_QUEUE } from '../workflows/shared';

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
  /** The worker's health server listens on HOST too; port 0 means none. */
  worker: { healthPort: number; healthHost: string };
}

function firstIssue(error: z.ZodError, env: Env): string {
  const issue = error.issues[0];
  const name = String(issue.path[0] ?? 'configuration');
  const got = env[name];
  const shown = got === undefined ? '' : ` (got ${JSON.stringify(name.endsWith('_KEY') ? '***' : got)})`;
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
    worker: { healthPort: e.WORKER_HEALTH_PORT, healthHost: e.HOST },
  };
}

/** A short description of the model settings for logs and the UI; never includes the key. */
export function describeLlm(llm: LlmConfig): string {
  return llm.kind === 'offline'
    ? 'offline model (no OPENAI_API_KEY set)'
    : `${llm.model} at ${llm.baseURL ?? 'https://api.openai.com/v1'}`;
}
