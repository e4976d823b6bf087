/**
 * The shared store in PostgreSQL (BUILDSTORY_SHARED_STORE_URL), one `pg` Pool for both tables:
 *
 * - `buildstory_rate_limits`: rate-limiter-flexible's RateLimiterPostgres, one row per limit and
 *   client. Each limiter has an in-memory insurance limiter of the same size: while PostgreSQL
 *   does not answer, each replica counts alone, so a limit is never lifted. Expiry is each
 *   replica's clock (keep them in sync); rows expired an hour ago are deleted every 5 minutes.
 * - `buildstory_signed_out_sessions` (sid, expires_at in epoch ms): a sign-out inserts, every
 *   signed-in request looks its sid up. When PostgreSQL cannot answer, the lookup rejects and the
 *   request gets 503 (auth.server.ts): a signed-out cookie must not pass because the list is down.
 *   Sids found revoked are kept in a bounded local cache (a revoked sid never comes back); absent
 *   ones are not, so a sign-out elsewhere counts at once.
 *
 * - `buildstory_api_tokens`: the API tokens (api-tokens.server.ts): id, owner, name, the token's
 *   SHA-256, creation and last use (epoch ms). A revoked token's row is deleted.
 *
 * The tables are created when missing, before the store is handed out, one replica at a time (an
 * advisory lock: replicas started together raced in CREATE TABLE IF NOT EXISTS). The library would create
 * its own in the background and throw from a promise if that failed, ending the process: it is
 * given a callback here and awaited.
 */
import pg from 'pg';
import { RateLimiterMemory, RateLimiterPostgres } from 'rate-limiter-flexible';
import type { SharedStoreConfig } from '../../../config/shared-store';
import { log } from './log.server';
import {
  hashMatches,
  LAST_USE_RESOLUTION_MS,
  MAX_TOKENS_PER_USER,
  newToken,
  TokenLimitError,
  tokenHash,
  tokenId,
  type ApiToken,
  type ApiTokenStore,
} from './api-tokens.server';
import type { LimitOptions, RevokedSessions, SharedStore } from './shared-store.server';

const RATE_LIMITS = 'buildstory_rate_limits';
const SIGNED_OUT = 'buildstory_signed_out_sessions';
const API_TOKENS = 'buildstory_api_tokens';
/** Longest wait for a connection or an answer: a request waits this long at most before 503 (or the insurance limiter). */
const TIMEOUT_MS = 2_000;
const PRUNE_EVERY_MS = 5 * 60_000;

/**
 * Another process created the table at the same moment: PostgreSQL's IF NOT EXISTS is not atomic,
 * the loser gets 42P07, 23505 (pg_type's index) or 42710 ("type ... already exists"). Only a
 * replica of an older version, which takes no lock, can race one that does.
 */
function createdConcurrently(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return code === '23505' || code === '42P07' || code === '42710';
}

/** The advisory lock the replicas take to create the tables one at a time (any fixed bigint). */
const SCHEMA_LOCK = 7_390_241_118;
/** How long a replica waits for another to finish creating them. */
const SCHEMA_LOCK_WAIT_MS = 30_000;

/**
 * Creates the three tables when missing, one replica at a time: replicas started together would
 * otherwise race in CREATE TABLE IF NOT EXISTS. The lock is held on its own connection (released
 * with it, should the process die) while the tables, the library's included, are created.
 */
async function createTables(pool: pg.Pool): Promise<void> {
  const holder = await pool.connect();
  try {
    // pg reads query_timeout per query (longer than the pool's 2 s); its types do not list it.
    await holder.query({
      text: 'SELECT pg_advisory_lock($1)',
      values: [SCHEMA_LOCK],
      query_timeout: SCHEMA_LOCK_WAIT_MS,
    } as pg.QueryConfig);
    const create = (sql: string) =>
      holder.query(sql).catch((err: unknown) => {
        if (!createdConcurrently(err)) throw err;
      });
    await create(`CREATE TABLE IF NOT EXISTS ${SIGNED_OUT} (sid text PRIMARY KEY, expires_at bigint NOT NULL)`);
    await create(
      `CREATE TABLE IF NOT EXISTS ${API_TOKENS} (id text PRIMARY KEY, user_name text NOT NULL, name text NOT NULL, ` +
        `hash text NOT NULL, created_at bigint NOT NULL, last_used_at bigint)`,
    );
    // Kept by its own timer (unref'd; after close its deletes fail quietly).
    await rateLimitTable(pool);
    await holder.query('SELECT pg_advisory_unlock($1)', [SCHEMA_LOCK]);
    holder.release();
  } catch (err) {
    // Destroyed, not returned: the lock goes with the connection.
    holder.release(err as Error);
    throw err;
  }
}

/** The rate-limit table, created by the library (as it wants it); resolves with a limiter that sweeps expired rows. */
function rateLimitTable(pool: pg.Pool): Promise<RateLimiterPostgres> {
  return new Promise((resolve, reject) => {
    const sweeper: RateLimiterPostgres = new RateLimiterPostgres(
      { storeClient: pool, storeType: 'pool', tableName: RATE_LIMITS, keyPrefix: 'sweeper', points: 1, duration: 1 },
      (err?: Error) => (err ? reject(err) : resolve(sweeper)),
    );
  });
}

class PostgresRevokedSessions implements RevokedSessions {
  constructor(
    private readonly pool: pg.Pool,
    private readonly known: RevokedSessions,
  ) {}

  async revoke(sid: string, expiresAt: number): Promise<void> {
    // Here at once, whatever PostgreSQL says; the other replicas once the insert is done.
    await this.known.revoke(sid, expiresAt);
    await this.pool.query(`INSERT INTO ${SIGNED_OUT} (sid, expires_at) VALUES ($1, $2) ON CONFLICT (sid) DO NOTHING`, [sid, expiresAt]);
  }

  async isRevoked(sid: string): Promise<boolean> {
    if (await this.known.isRevoked(sid)) return true;
    const { rows } = await this.pool.query<{ expires_at: string }>(`SELECT expires_at FROM ${SIGNED_OUT} WHERE sid = $1`, [sid]);
    if (rows.length === 0) return false;
    await this.known.revoke(sid, Number(rows[0].expires_at));
    return true;
  }

  async prune(): Promise<void> {
    await this.pool.query(`DELETE FROM ${SIGNED_OUT} WHERE expires_at < $1`, [Date.now()]);
  }
}

interface TokenRow {
  id: string;
  user_name: string;
  name: string;
  hash: string;
  created_at: string;
  last_used_at: string | null;
}

function tokenRecord(row: TokenRow): ApiToken {
  return {
    id: row.id,
    user: row.user_name,
    name: row.name,
    createdAt: Number(row.created_at),
    lastUsedAt: row.last_used_at === null ? null : Number(row.last_used_at),
  };
}

class PostgresApiTokens implements ApiTokenStore {
  constructor(private readonly pool: pg.Pool) {}

  async create(user: string, name: string): Promise<{ token: string; record: ApiToken }> {
    const { id, token } = newToken();
    const createdAt = Date.now();
    // One statement: the count and the insert see the same rows.
    const { rowCount } = await this.pool.query(
      `INSERT INTO ${API_TOKENS} (id, user_name, name, hash, created_at)
       SELECT $1, $2, $3, $4, $5 WHERE (SELECT count(*) FROM ${API_TOKENS} WHERE user_name = $2) < $6`,
      [id, user, name, tokenHash(token), createdAt, MAX_TOKENS_PER_USER],
    );
    if (rowCount === 0) throw new TokenLimitError();
    return { token, record: { id, user, name, createdAt, lastUsedAt: null } };
  }

  async list(user: string): Promise<ApiToken[]> {
    const { rows } = await this.pool.query<TokenRow>(`SELECT * FROM ${API_TOKENS} WHERE user_name = $1 ORDER BY created_at DESC`, [user]);
    return rows.map(tokenRecord);
  }

  async revoke(user: string, id: string): Promise<boolean> {
    const { rowCount } = await this.pool.query(`DELETE FROM ${API_TOKENS} WHERE id = $1 AND user_name = $2`, [id, user]);
    return (rowCount ?? 0) > 0;
  }

  async verify(token: string): Promise<ApiToken | null> {
    const id = tokenId(token);
    if (!id) return null;
    const { rows } = await this.pool.query<TokenRow>(`SELECT * FROM ${API_TOKENS} WHERE id = $1`, [id]);
    const row = rows[0];
    if (!row || !hashMatches(token, row.hash)) return null;
    const record = tokenRecord(row);
    const now = Date.now();
    if (record.lastUsedAt === null || now - record.lastUsedAt >= LAST_USE_RESOLUTION_MS) {
      await this.pool.query(`UPDATE ${API_TOKENS} SET last_used_at = $2 WHERE id = $1`, [id, now]);
      record.lastUsedAt = now;
    }
    return record;
  }
}

/** `message` without the URL's password, on one line. */
function redacted(message: string, url: string): string {
  let password = '';
  try {
    password = decodeURIComponent(new URL(url).password);
  } catch {
    // config/shared-store.ts validated it; nothing to remove otherwise.
  }
  const line = message.replace(/\s+/g, ' ').trim();
  return password ? line.split(password).join('***') : line;
}

/**
 * Connects, creates the tables when missing, and returns the store. Rejects with one line naming
 * the setting (and the URL without its password) when PostgreSQL cannot be used.
 */
export async function startPostgresStore(config: SharedStoreConfig, known: RevokedSessions): Promise<SharedStore> {
  const pool = new pg.Pool({
    connectionString: config.url,
    max: 10,
    connectionTimeoutMillis: TIMEOUT_MS,
    query_timeout: TIMEOUT_MS,
    idleTimeoutMillis: 30_000,
  });
  // An idle connection that breaks (PostgreSQL restarting) reports here; unheard, it would end the process.
  pool.on('error', (err) => log.warn(`shared store (${config.display}): ${redacted(err.message, config.url)}`));

  try {
    await createTables(pool);
  } catch (err) {
    await pool.end().catch(() => {});
    throw new Error(
      `Cannot use the shared store BUILDSTORY_SHARED_STORE_URL (${config.display}): ${redacted((err as Error).message || String(err), config.url)}`,
      // web/server.ts prints the message only; pg's errors do not quote the password anyway.
      { cause: err },
    );
  }

  const revoked = new PostgresRevokedSessions(pool, known);
  const pruning = setInterval(() => {
    revoked.prune().catch((err: Error) => log.warn(`shared store: pruning expired sign-outs failed: ${redacted(err.message, config.url)}`));
  }, PRUNE_EVERY_MS);
  pruning.unref();

  let closed: Promise<void> | undefined;
  return {
    describe: `PostgreSQL at ${config.display}`,
    revokedSessions: revoked,
    apiTokens: new PostgresApiTokens(pool),
    rateLimiter: (options: LimitOptions) =>
      new RateLimiterPostgres({
        ...options,
        storeClient: pool,
        storeType: 'pool',
        tableName: RATE_LIMITS,
        // Created above; the sweeper alone deletes expired rows.
        tableCreated: true,
        clearExpiredByTimeout: false,
        insuranceLimiter: new RateLimiterMemory(options),
      }),
    close: () => {
      closed ??= (async () => {
        clearInterval(pruning);
        await pool.end();
      })();
      return closed;
    },
  };
}
