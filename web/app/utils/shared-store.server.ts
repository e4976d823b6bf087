/**
 * What the web app's replicas agree on: the sign-out list (session ids refused until they would
 * have expired anyway), the counters of the sign-in and submission limits, and the API tokens.
 *
 * Both are reached through this module only. With BUILDSTORY_SHARED_STORE_URL unset they live in
 * this process's memory (another replica, or a restart, has its own); set, in PostgreSQL
 * (postgres-store.server.ts), shared by every replica.
 *
 * One store per process, kept on globalThis: web/server.ts starts it before it listens (a store
 * that cannot be reached stops the process there) and closes it on shutdown; the Vite build's own
 * copy of this module finds it there. Started lazily when nothing started it (the dev server).
 */
import { RateLimiterMemory, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { FileApiTokens, type ApiTokenStore } from './api-tokens.server';
import { getConfig } from './env.server';
import { startPostgresStore } from './postgres-store.server';

/** Signed-out sessions, refused until they would have expired anyway. */
export interface RevokedSessions {
  /** Refuse this session id from now until `expiresAt` (epoch ms). */
  revoke(sid: string, expiresAt: number): Promise<void>;
  /** Whether this session id was signed out; rejects when that cannot be known (the caller refuses the request). */
  isRevoked(sid: string): Promise<boolean>;
}

/** A limit: `points` per `duration` seconds per key, counted under `keyPrefix`. */
export interface LimitOptions {
  keyPrefix: string;
  points: number;
  duration: number;
}

export interface SharedStore {
  /** For logs: `memory`, or the PostgreSQL URL without its password. */
  readonly describe: string;
  readonly revokedSessions: RevokedSessions;
  /** API tokens (api-tokens.server.ts): in PostgreSQL with a shared store, else in a file of this process. */
  readonly apiTokens: ApiTokenStore;
  /** A rate limiter with these options, counted in this store. */
  rateLimiter(options: LimitOptions): RateLimiterAbstract;
  close(): Promise<void>;
}

/** Signed-out session ids → when they would have expired anyway, pruned from the oldest sign-out. */
export class MemoryRevokedSessions implements RevokedSessions {
  private readonly revoked = new Map<string, number>();

  constructor(private readonly max = 100_000) {}

  revoke(sid: string, expiresAt: number): Promise<void> {
    const now = Date.now();
    for (const [id, until] of this.revoked) {
      if (until > now && this.revoked.size < this.max) break;
      this.revoked.delete(id);
    }
    this.revoked.set(sid, expiresAt);
    return Promise.resolve();
  }

  isRevoked(sid: string): Promise<boolean> {
    return Promise.resolve(this.revoked.has(sid));
  }
}

function memoryStore(apiTokensFile: string): SharedStore {
  return {
    describe: 'memory',
    revokedSessions: new MemoryRevokedSessions(),
    apiTokens: new FileApiTokens(apiTokensFile),
    rateLimiter: (options) => new RateLimiterMemory(options),
    close: () => Promise.resolve(),
  };
}

type SharedStoreGlobal = { __buildstorySharedStore?: Promise<SharedStore> };
const global = globalThis as SharedStoreGlobal;

/**
 * This process's store, opened on first use: PostgreSQL when BUILDSTORY_SHARED_STORE_URL is set
 * (rejects with one line, without the password, when it cannot be used), else memory.
 */
export function startSharedStore(): Promise<SharedStore> {
  global.__buildstorySharedStore ??= (async () => {
    const { sharedStore: config, apiTokensFile } = getConfig();
    // The local copy of PostgreSQL's list holds sign-outs only: a sid found revoked stays so.
    return config ? startPostgresStore(config, new MemoryRevokedSessions(10_000)) : memoryStore(apiTokensFile);
  })().catch((err: unknown) => {
    // Not kept: the next request tries again (web/server.ts exits instead).
    global.__buildstorySharedStore = undefined;
    throw err;
  });
  return global.__buildstorySharedStore;
}

/** Closes the store, if one was opened; later use opens it again. */
export async function closeSharedStore(): Promise<void> {
  const store = global.__buildstorySharedStore;
  global.__buildstorySharedStore = undefined;
  const opened = await store?.catch(() => null);
  await opened?.close();
}

/** The sign-out list of this web app. */
export async function revokedSessions(): Promise<RevokedSessions> {
  return (await startSharedStore()).revokedSessions;
}

/** A rate limiter with these options, counted where the web app keeps its counters. */
export async function rateLimiter(options: LimitOptions): Promise<RateLimiterAbstract> {
  return (await startSharedStore()).rateLimiter(options);
}

/** The API tokens of this web app. */
export async function apiTokens(): Promise<ApiTokenStore> {
  return (await startSharedStore()).apiTokens;
}
