/**
 * What both processes read: the Temporal connection and task queue, the log level, the payload
 * encryption keys, where artifacts are stored and where traces go. Each process's loader (worker.ts, web.ts) adds
 * its own settings to these.
 */
import { z } from 'zod';
import type { EncryptionKeys } from '../codec';
import { DEFAULT_TASK_QUEUE } from '../contract/data';
import { ARTIFACTS_ENV, parseArtifacts, type ArtifactSettings } from './artifacts';
import { ENCRYPTION_ENV, parseEncryption } from './encryption';
import { blankToUndefined, type Env } from './env';
import { loadTemporalConnection, type TemporalConnection } from './temporal';
import { TRACING_ENV, parseTracing, type TracingConfig } from './tracing';

/** The variables, for a process's schema. */
export const COMMON_ENV = {
  /** The worker polls it, the web app starts runs on it: they must agree. */
  TEMPORAL_TASK_QUEUE: z.preprocess(blankToUndefined, z.string().min(1).default(DEFAULT_TASK_QUEUE)),
  LOG_LEVEL: z.preprocess(blankToUndefined, z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info')),
  ...ENCRYPTION_ENV,
  ...ARTIFACTS_ENV,
  ...TRACING_ENV,
};

type CommonSettings = z.infer<z.ZodObject<typeof COMMON_ENV>>;
export type LogLevel = CommonSettings['LOG_LEVEL'];

export interface CommonConfig {
  temporal: TemporalConnection & { taskQueue: string };
  logLevel: LogLevel;
  /** Payload encryption keys (worker, web client, codec endpoint); null: payloads are not encrypted. */
  encryption: EncryptionKeys | null;
  /** Where the files runs produce are stored (artifacts/: createArtifactStore), encrypted with `encryption` when set. */
  artifacts: ArtifactSettings;
  /** OpenTelemetry traces over OTLP (telemetry/tracing.ts); null: off. */
  tracing: TracingConfig | null;
}

/** From a process's parsed settings, and `env` for what @temporalio/envconfig reads; throws ConfigError. */
export function commonConfig(settings: CommonSettings, env: Env): CommonConfig {
  const connection = loadTemporalConnection(env);
  const encryption = parseEncryption(settings.BUILDSTORY_ENCRYPTION_KEYS, settings.BUILDSTORY_ENCRYPTION_KEY_ID?.trim());
  return {
    temporal: { ...connection, taskQueue: settings.TEMPORAL_TASK_QUEUE },
    logLevel: settings.LOG_LEVEL,
    encryption,
    artifacts: parseArtifacts(settings),
    tracing: parseTracing(settings),
  };
}
