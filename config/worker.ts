/**
 * The worker's configuration: what both processes read (common.ts), the model it calls, and its
 * health server and shutdown. Nothing of the web app's: a bad session secret, say, cannot stop it.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { WorkerDeploymentVersion } from '@temporalio/common';
import type { Price } from '../contract/data';
import { COMMON_ENV, commonConfig, type CommonConfig } from './common';
import { ConfigError, blankToUndefined, integer, optionalString, parseEnv, type Env } from './env';
import { TEMPORAL_ENV_NAMES } from './temporal';
import { loadWebhookConfig, type WebhookConfig } from './webhooks';

export { ConfigError, type Env } from './env';

/** A Worker Deployment's name or a build id, as Temporal 1.29 accepts them (no leading `__`). */
const versionPart = (rule: RegExp, says: string) => z.preprocess(blankToUndefined, z.string().trim().max(255).regex(rule, says).optional());

const WorkerEnv = z.object({
  ...COMMON_ENV,
  OPENAI_API_KEY: optionalString,
  OPENAI_BASE_URL: z.preprocess(blankToUndefined, z.string().url().optional()),
  OPENAI_MODEL: z.preprocess(blankToUndefined, z.string().min(1).default('gpt-4o-mini')),
  OPENAI_TIMEOUT_MS: integer(120_000, 1_000, 600_000),
  OPENAI_STRUCTURED_OUTPUT: z.preprocess(blankToUndefined, z.enum(['auto', 'json_schema', 'json_object']).default('auto')),
  OFFLINE_MODEL_DELAY_MS: integer(40, 0, 10_000),
  /** The worker's /healthz, /readyz and /metrics; 0 turns them off. */
  WORKER_HEALTH_PORT: integer(9464, 0, 65_535),
  /** Their interface: loopback, so only what runs beside the worker sees them; 0.0.0.0 opens them to probes and scrapers from elsewhere. */
  WORKER_HEALTH_HOST: z.preprocess(blankToUndefined, z.string().min(1).default('127.0.0.1')),
  /** On SIGINT/SIGTERM, how long running activities may take to finish before they are cancelled (and retried elsewhere). */
  WORKER_SHUTDOWN_GRACE_MS: integer(10_000, 0, 3_600_000),
  /** The price table, as JSON: `{"<model>": {"input": <USD per million tokens>, "output": <...>}}`. */
  BUILDSTORY_PRICES: optionalString,
  /** The same table in a file; BUILDSTORY_PRICES entries win over the file's. */
  BUILDSTORY_PRICES_FILE: optionalString,
  /**
   * Worker Versioning (docs/deploy.md, "Rolling deploys"): the Worker Deployment and this build's
   * id. Both or neither; unset, the worker is unversioned.
   */
  BUILDSTORY_DEPLOYMENT_NAME: versionPart(/^(?!__)[^.:\s]+$/, 'no dots, colons or spaces, and not starting with __'),
  BUILDSTORY_BUILD_ID: versionPart(/^(?!__)\S+$/, 'no spaces, and not starting with __'),
  /**
   * Verification (docs/verification.md): on, this process also serves the verification task queue
   * where the sandbox is available here; off, it leaves that queue to a sandbox worker.
   */
  BUILDSTORY_VERIFY: z.preprocess(blankToUndefined, z.enum(['on', 'off']).default('on')),
  /** all: runs and their activities (and verification, see BUILDSTORY_VERIFY); sandbox: the verification queue only. */
  BUILDSTORY_WORKER_ROLE: z.preprocess(blankToUndefined, z.enum(['all', 'sandbox']).default('all')),
  /** Webhooks (config/webhooks.ts, docs/webhooks.md): where runs that notify are delivered, and the secret that signs them. */
  BUILDSTORY_WEBHOOK_URL: optionalString,
  BUILDSTORY_WEBHOOK_SECRET: optionalString,
});

/** One model's prices in the table: US dollars per million input and output tokens. */
const PriceTable = z.record(
  z.string().min(1),
  z
    .object({
      input: z.number().nonnegative().finite(),
      output: z.number().nonnegative().finite(),
    })
    .strict(),
);

/** Prices by model name, US dollars per million tokens. */
export type PriceTable = Record<string, Price>;

/** Read the price table from the file and the variable; a bad one is a ConfigError naming it. */
function loadPrices(inline: string | undefined, file: string | undefined): PriceTable {
  const parse = (name: string, text: string): PriceTable => {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new ConfigError(`Invalid configuration: ${name}: not JSON (${(err as Error).message})`);
    }
    const parsed = PriceTable.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new ConfigError(
        `Invalid configuration: ${name}: ${issue?.path.join('.') || 'the table'}: ${issue?.message} ` +
          '(expected {"<model>": {"input": <USD per million tokens>, "output": <USD per million tokens>}})',
      );
    }
    return Object.fromEntries(
      Object.entries(parsed.data).map(([model, p]) => [model, { inputPerMillion: p.input, outputPerMillion: p.output }]),
    );
  };
  let fromFile: PriceTable = {};
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError(
        `Invalid configuration: BUILDSTORY_PRICES_FILE: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? err})`,
      );
    }
    fromFile = parse('BUILDSTORY_PRICES_FILE', text);
  }
  return { ...fromFile, ...(inline ? parse('BUILDSTORY_PRICES', inline) : {}) };
}

/** Every environment variable the worker reads, for deployment files and their tests (and CONFIG_ENV_PREFIXES). */
export const WORKER_ENV_NAMES: readonly string[] = [...Object.keys(WorkerEnv.shape), ...TEMPORAL_ENV_NAMES];

export type LlmConfig =
  | { kind: 'offline'; delayMs: number }
  | {
      kind: 'openai';
      apiKey: string;
      baseURL: string | undefined;
      model: string;
      timeoutMs: number;
      structuredOutput: 'auto' | 'json_schema' | 'json_object';
      /** From the price table; null when it does not list the model (costs then show "no price"). */
      price?: Price | null;
    };

export interface WorkerConfig extends CommonConfig {
  llm: LlmConfig;
  /** The deployment's price table (the offline model always costs 0). */
  prices: PriceTable;
  /** The health server (port 0: none), on its own host, not the web app's HOST. */
  worker: { healthPort: number; healthHost: string; shutdownGraceMs: number };
  /** This worker's Worker Deployment Version; null: unversioned (takes any run on its task queue). */
  deploymentVersion: WorkerDeploymentVersion | null;
  /** Which queues this process serves: runs (role 'all'), and verification (serve: where the sandbox is available). */
  verification: { role: 'all' | 'sandbox'; serve: boolean };
  /** The deployment's webhook, for the deliverWebhook activity; null: none (runs that ask to notify record a failed delivery). */
  webhook: WebhookConfig | null;
}

/** Load and validate the worker's settings; throws ConfigError with one line naming the bad setting. */
export function loadWorkerConfig(env: Env = process.env): WorkerConfig {
  const e = parseEnv(WorkerEnv, env);
  const common = commonConfig(e, env);
  const prices = loadPrices(e.BUILDSTORY_PRICES, e.BUILDSTORY_PRICES_FILE);
  const [name, buildId] = [e.BUILDSTORY_DEPLOYMENT_NAME, e.BUILDSTORY_BUILD_ID];
  if (!name !== !buildId) {
    const missing = name ? 'BUILDSTORY_BUILD_ID' : 'BUILDSTORY_DEPLOYMENT_NAME';
    throw new ConfigError(`Invalid configuration: ${missing}: required too when the other is set (Worker Versioning needs both)`);
  }
  if (e.BUILDSTORY_WORKER_ROLE === 'sandbox' && e.BUILDSTORY_VERIFY === 'off')
    throw new ConfigError(
      'Invalid configuration: BUILDSTORY_VERIFY: a sandbox worker (BUILDSTORY_WORKER_ROLE=sandbox) only verifies: it cannot be off',
    );
  const webhook = loadWebhookConfig(e);
  const llm: LlmConfig = e.OPENAI_API_KEY
    ? {
        kind: 'openai',
        apiKey: e.OPENAI_API_KEY,
        baseURL: e.OPENAI_BASE_URL,
        model: e.OPENAI_MODEL,
        timeoutMs: e.OPENAI_TIMEOUT_MS,
        structuredOutput: e.OPENAI_STRUCTURED_OUTPUT,
        price: prices[e.OPENAI_MODEL] ?? null,
      }
    : { kind: 'offline', delayMs: e.OFFLINE_MODEL_DELAY_MS };
  return {
    ...common,
    llm,
    prices,
    worker: { healthPort: e.WORKER_HEALTH_PORT, healthHost: e.WORKER_HEALTH_HOST, shutdownGraceMs: e.WORKER_SHUTDOWN_GRACE_MS },
    deploymentVersion: name && buildId ? { deploymentName: name, buildId } : null,
    verification: { role: e.BUILDSTORY_WORKER_ROLE, serve: e.BUILDSTORY_VERIFY === 'on' },
    webhook,
  };
}

/** A short description of the model settings for logs; never includes the key. */
export function describeLlm(llm: LlmConfig): string {
  if (llm.kind === 'offline') return 'offline model (no OPENAI_API_KEY set)';
  const price = llm.price
    ? `$${llm.price.inputPerMillion} in / $${llm.price.outputPerMillion} out per million tokens`
    : 'no price in BUILDSTORY_PRICES: costs show tokens only';
  return `${llm.model} at ${llm.baseURL ?? 'https://api.openai.com/v1'} (${price})`;
}
