/**
 * The web app's configuration: what both processes read (common.ts), where it listens, its limits,
 * its access control (auth.ts) and its links to the Temporal UI. Nothing of the worker's: the model
 * settings stay out, and the LLM key is never kept (only whether it is set, for the home page).
 */
import { resolve } from 'node:path';
import { z } from 'zod';
import { LIMITS, VERIFY_LIMITS, type Budget, type BudgetKind } from '../contract/data';
import { AuthConfigError, parseAuth, type AuthConfig } from './auth';
import { COMMON_ENV, commonConfig, type CommonConfig } from './common';
import { blankToUndefined, ConfigError, integer, optionalString, parseEnv, type Env } from './env';
import { parseSharedStoreUrl, SharedStoreConfigError, type SharedStoreConfig } from './shared-store';
import { TEMPORAL_ENV_NAMES } from './temporal';
import { parseWebhookUrl } from './webhooks';

export { ConfigError, type Env } from './env';

/** Where API tokens are kept without a shared store, under the working directory. */
export const DEFAULT_API_TOKENS_FILE = '.data/api-tokens.json';

const WebEnv = z.object({
  ...COMMON_ENV,
  TEMPORAL_UI_URL: z.preprocess(blankToUndefined, z.string().url().default('http://localhost:8233')),
  /** The app's URL as browsers reach it, for links to a run from the Temporal UI; unset, no links. */
  BUILDSTORY_PUBLIC_URL: z.preprocess(blankToUndefined, z.string().url().optional()),
  /** Deadline for one call from the web app to Temporal. */
  TEMPORAL_RPC_TIMEOUT_MS: integer(5_000, 100, 120_000),
  PORT: integer(3000, 0, 65_535),
  HOST: z.preprocess(blankToUndefined, z.string().min(1).default('0.0.0.0')),
  /** Task submissions one client may make per minute; 0 turns the limit off. */
  SUBMIT_RATE_LIMIT_PER_MINUTE: integer(30, 0, 100_000),
  /** Express's `trust proxy`: set it when a proxy in front sets X-Forwarded-For (e.g. 1, or loopback). */
  TRUST_PROXY: optionalString,
  /** Access control: `user:password,...` or one shared password; unset, the web app is open (see auth.ts). */
  BUILDSTORY_AUTH_PASSWORDS: optionalString,
  /** Signs the session cookie; required with BUILDSTORY_AUTH_PASSWORDS, 32 characters or more. */
  BUILDSTORY_SESSION_SECRET: optionalString,
  /** `always` marks the session cookie Secure on every response; `auto` only on https requests. */
  BUILDSTORY_SECURE_COOKIE: z.preprocess(blankToUndefined, z.enum(['auto', 'always']).default('auto')),
  /** Users (of BUILDSTORY_AUTH_PASSWORDS) who may use the codec endpoint, comma-separated; unset, nobody (with access control on). */
  BUILDSTORY_CODEC_USERS: optionalString,
  /** The replicas' shared store (shared-store.ts): a postgres:// URL; unset, per process in memory. */
  BUILDSTORY_SHARED_STORE_URL: optionalString,
  /** API tokens' file when there is no shared store (with one, they live in PostgreSQL). */
  BUILDSTORY_API_TOKENS_FILE: z.preprocess(blankToUndefined, z.string().default(DEFAULT_API_TOKENS_FILE)),
  /** Whether "Review the plan before it runs" starts checked on the home form (off: runs go straight on). */
  BUILDSTORY_REVIEW_PLANS: z.preprocess(blankToUndefined, z.enum(['true', 'false', '1', '0', 'on', 'off']).default('false')),
  /** How long a run waits for a review before it expires: a number and s, m, h or d (default 7d). */
  BUILDSTORY_REVIEW_TIMEOUT: z.preprocess(
    blankToUndefined,
    z
      .string()
      .regex(/^\d+\s*[smhd]$/, 'a number and s, m, h or d, e.g. 7d or 90m')
      .default('7d'),
  ),
  /** Every run's limits unless the form sets lower (or, up to the cap, higher) ones: `tokens=200000,cost=1.50,time=30m,steps=8`. */
  BUILDSTORY_BUDGET_DEFAULT: optionalString,
  /** The most a person may set on the form; the default must be within it. Same form. */
  BUILDSTORY_BUDGET_CAP: optionalString,
  /**
   * Fair share: runs of one user that may run at once; more wait in a queue in Temporal ("Queued").
   * Unset with BUILDSTORY_MAX_RUNNING set: the same as it. Both unset: no queue, runs start at once.
   */
  BUILDSTORY_MAX_RUNNING_PER_USER: z.preprocess(blankToUndefined, z.coerce.number().int().min(1).max(100_000).optional()),
  /** Fair share: runs that may run at once in the deployment, all users together. Unset: no limit but the per-user one. */
  BUILDSTORY_MAX_RUNNING: z.preprocess(blankToUndefined, z.coerce.number().int().min(1).max(100_000).optional()),
  /** Verification: rounds in all for a code step whose tests fail (the first included); 0 runs no code. Default 2. */
  BUILDSTORY_VERIFY_ROUNDS: z.preprocess(
    blankToUndefined,
    z.coerce.number().int().min(0).max(VERIFY_LIMITS.roundsMax).default(VERIFY_LIMITS.roundsDefault),
  ),
  /** US dollars a user may spend a day (since midnight UTC); a submission over it is refused. Unset: no cap. */
  BUILDSTORY_DAILY_SPEND_CAP: z.preprocess(blankToUndefined, z.coerce.number().positive().finite().optional()),
  /** Webhooks: only whether it is set (new runs then notify: TaskInput.notify); the worker delivers, with the secret. */
  BUILDSTORY_WEBHOOK_URL: optionalString,
});

const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** `tokens=200000,cost=1.50,time=30m,steps=8` (any of them) → a Budget; a bad one names the setting. */
export function parseBudget(name: string, text: string | undefined): Budget {
  const budget: Budget = {};
  if (!text) return budget;
  const bad = (why: string) =>
    new ConfigError(`Invalid configuration: ${name}: ${why} (expected e.g. tokens=200000,cost=1.50,time=30m,steps=8)`);
  for (const part of text
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const [key, value = ''] = part.split('=').map((p) => p.trim());
    if (key === 'tokens' || key === 'steps') {
      if (!/^\d+$/.test(value) || Number(value) < 1) throw bad(`${key} must be a whole number of at least 1`);
      if (key === 'steps' && Number(value) > LIMITS.planMaxSteps) throw bad(`steps must be at most ${LIMITS.planMaxSteps}`);
      budget[key] = Number(value);
    } else if (key === 'cost') {
      if (!/^\d+(\.\d+)?$/.test(value) || Number(value) <= 0) throw bad('cost must be a positive number of US dollars');
      budget.cost = Number(value);
    } else if (key === 'time') {
      if (!/^\d+\s*[smhd]$/.test(value) || durationMs(value) < 1_000) throw bad('time must be a number and s, m, h or d, at least 1s');
      budget.timeMs = durationMs(value);
    } else {
      throw bad(`unknown limit "${key}"`);
    }
  }
  return budget;
}

/** `90m` → 5,400,000. The pattern was checked by the schema. */
function durationMs(text: string): number {
  const unit = text.trim().slice(-1) as keyof typeof UNIT_MS;
  return Number.parseInt(text, 10) * UNIT_MS[unit];
}

/** Every environment variable the web app reads, for deployment files and their tests (and CONFIG_ENV_PREFIXES). */
export const WEB_ENV_NAMES: readonly string[] = [...Object.keys(WebEnv.shape), ...TEMPORAL_ENV_NAMES];

export interface WebConfig extends CommonConfig {
  temporal: CommonConfig['temporal'] & { uiUrl: string; rpcTimeoutMs: number };
  /** The app's public URL, no trailing slash (BUILDSTORY_PUBLIC_URL): runs link to it from the Temporal UI; null: no links. */
  publicUrl: string | null;
  web: { port: number; host: string; submitRateLimitPerMinute: number; trustProxy: string | undefined };
  /** Access control; null: off (everyone sees and does everything). */
  auth: AuthConfig | null;
  /** Where the sign-out list and the rate limits' counters are shared; null: in this process's memory. */
  sharedStore: SharedStoreConfig | null;
  /** API tokens' file (absolute) when sharedStore is null. */
  apiTokensFile: string;
  /** Plan review: the home form's default, and how long a review waits. */
  review: { byDefault: boolean; timeoutMs: number };
  /** Run limits: what a run gets unless the form says otherwise, and the most the form may set. */
  budget: { default: Budget; cap: Budget };
  /** US dollars a user may spend a day; null: no cap. */
  dailySpendCap: number | null;
  /** Fair share's limits; null: off (runs start at once, with the input they always had). */
  fairShare: { perUser: number; total: number } | null;
  /** Verification's rounds for a run's code steps (BUILDSTORY_VERIFY_ROUNDS; 0: code is not run). */
  verifyRounds: number;
  /** Webhooks: BUILDSTORY_WEBHOOK_URL is set, so new runs ask the worker to notify it. */
  webhooks: boolean;
}

/** Load and validate the web app's settings; throws ConfigError with one line naming the bad setting. */
export function loadWebConfig(env: Env = process.env): WebConfig {
  const e = parseEnv(WebEnv, env);
  const common = commonConfig(e, env);
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
  let sharedStore: SharedStoreConfig | null;
  try {
    sharedStore = parseSharedStoreUrl(e.BUILDSTORY_SHARED_STORE_URL);
  } catch (err) {
    if (err instanceof SharedStoreConfigError) throw new ConfigError(err.message);
    throw err;
  }
  return {
    ...common,
    temporal: { ...common.temporal, uiUrl: e.TEMPORAL_UI_URL.replace(/\/+$/, ''), rpcTimeoutMs: e.TEMPORAL_RPC_TIMEOUT_MS },
    publicUrl: e.BUILDSTORY_PUBLIC_URL?.replace(/\/+$/, '') ?? null,
    web: { port: e.PORT, host: e.HOST, submitRateLimitPerMinute: e.SUBMIT_RATE_LIMIT_PER_MINUTE, trustProxy: e.TRUST_PROXY },
    auth,
    sharedStore,
    apiTokensFile: resolve(e.BUILDSTORY_API_TOKENS_FILE),
    review: { byDefault: ['true', '1', 'on'].includes(e.BUILDSTORY_REVIEW_PLANS), timeoutMs: reviewTimeout(e.BUILDSTORY_REVIEW_TIMEOUT) },
    budget: budgets(e.BUILDSTORY_BUDGET_DEFAULT, e.BUILDSTORY_BUDGET_CAP),
    dailySpendCap: e.BUILDSTORY_DAILY_SPEND_CAP ?? null,
    fairShare: fairShare(e.BUILDSTORY_MAX_RUNNING_PER_USER, e.BUILDSTORY_MAX_RUNNING),
    verifyRounds: e.BUILDSTORY_VERIFY_ROUNDS,
    webhooks: parseWebhookUrl(e.BUILDSTORY_WEBHOOK_URL) !== null,
  };
}

/** The default within the cap, limit by limit; a cap with no default makes the cap the default. */
function budgets(defaultText: string | undefined, capText: string | undefined): { default: Budget; cap: Budget } {
  const fallback = parseBudget('BUILDSTORY_BUDGET_DEFAULT', defaultText);
  const cap = parseBudget('BUILDSTORY_BUDGET_CAP', capText);
  for (const kind of Object.keys(cap) as BudgetKind[]) {
    const limit = fallback[kind];
    if (limit === undefined) fallback[kind] = cap[kind];
    else if (limit > cap[kind]!) {
      throw new ConfigError(
        `Invalid configuration: BUILDSTORY_BUDGET_DEFAULT: ${kind} is above BUILDSTORY_BUDGET_CAP's (${limit} > ${cap[kind]})`,
      );
    }
  }
  return { default: fallback, cap };
}

/** Fair share's limits from the two settings (see WebEnv); null when neither is set. */
function fairShare(perUser: number | undefined, total: number | undefined): WebConfig['fairShare'] {
  if (perUser === undefined && total === undefined) return null;
  const all = total ?? 100_000;
  if (perUser !== undefined && perUser > all) {
    throw new ConfigError(
      `Invalid configuration: BUILDSTORY_MAX_RUNNING_PER_USER: above BUILDSTORY_MAX_RUNNING (${perUser} > ${all}), which would never let it be reached`,
    );
  }
  return { perUser: perUser ?? all, total: all };
}

function reviewTimeout(text: string): number {
  const ms = durationMs(text);
  if (ms < 1_000 || ms > 366 * UNIT_MS.d)
    throw new ConfigError(`Invalid configuration: BUILDSTORY_REVIEW_TIMEOUT: between 1s and 366d (got "${text}")`);
  return ms;
}
