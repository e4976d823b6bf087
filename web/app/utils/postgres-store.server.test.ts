/**
 * The shared store's start against a real PostgreSQL (devstack/cluster/postgres.ts): replicas that
 * start together on an empty database all come up, and find the same tables. Before the schema
 * lock, two replicas at once could fail with `type "buildstory_api_tokens" already exists` (CI,
 * tests/shared-store.test.ts), because CREATE TABLE IF NOT EXISTS is not atomic.
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startPrivatePostgres, type PrivatePostgres } from '../../../devstack/cluster/postgres';
import { MemoryRevokedSessions, type SharedStore } from './shared-store.server';
import { startPostgresStore } from './postgres-store.server';

const REPLICAS = 16;
const ROUNDS = 6;

let dir: string;
let server: PrivatePostgres | undefined;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'buildstory-pgstore-'));
  chmodSync(dir, 0o755); // initdb runs as the postgres user when we are root
  server = await startPrivatePostgres(join(dir, 'postgres'));
});
afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function admin<T>(database: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ host: server!.host, port: server!.port, user: server!.user, password: server!.password, database });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

test(`${REPLICAS} replicas starting at once on an empty database all start, ${ROUNDS} times over`, async () => {
  for (let round = 0; round < ROUNDS; round++) {
    const database = `fresh_${round}`;
    await admin('postgres', (c) => c.query(`CREATE DATABASE ${database}`));
    const url = `postgres://${server!.user}@${server!.host}:${server!.port}/${database}`;
    const started = await Promise.allSettled(
      Array.from({ length: REPLICAS }, () => startPostgresStore({ url, display: url }, new MemoryRevokedSessions())),
    );
    const stores = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    const failures = started.flatMap((s) => (s.status === 'rejected' ? [String((s.reason as Error).message)] : []));
    try {
      expect(failures).toEqual([]);
      const tables = await admin(database, (c) =>
        c.query<{ name: string }>(`SELECT tablename AS name FROM pg_tables WHERE tablename LIKE 'buildstory_%' ORDER BY 1`),
      );
      expect(tables.rows.map((r) => r.name)).toEqual(['buildstory_api_tokens', 'buildstory_rate_limits', 'buildstory_signed_out_sessions']);
      // Each works: a token made through one replica verifies through another.
      const { token } = await stores[0]!.apiTokens.create('alice', 'ci');
      expect((await stores[REPLICAS - 1]!.apiTokens.verify(token))?.user).toBe('alice');
      // No replica kept the lock: a new one starts at once.
      const late: SharedStore = await startPostgresStore({ url, display: url }, new MemoryRevokedSessions());
      stores.push(late);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  }
});
