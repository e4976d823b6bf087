/**
 * The API token stores for real: the JSON file of a single process (in a temp dir) and the
 * PostgreSQL table of the shared store (a private PostgreSQL, devstack/cluster/postgres.ts), through
 * the same checks: a token is shown once and kept as a hash, verifies until revoked, records its
 * last use, belongs to its user only, and survives a restart of the store.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPrivatePostgres, type PostgresTarget } from '../../../devstack/cluster/postgres';
import { FileApiTokens, MAX_TOKENS_PER_USER, TokenLimitError, tokenHash, type ApiTokenStore } from './api-tokens.server';
import { MemoryRevokedSessions, type SharedStore } from './shared-store.server';
import { startPostgresStore } from './postgres-store.server';

function contract(name: string, open: () => Promise<{ store: ApiTokenStore; reopen: () => Promise<ApiTokenStore> }>) {
  describe(name, () => {
    test('a token verifies as its owner until revoked; the text is kept only as its hash', async () => {
      const { store, reopen } = await open();
      const { token, record } = await store.create('alice', 'CI');
      expect(token).toMatch(/^bst_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
      expect(record).toEqual({ id: expect.any(String), user: 'alice', name: 'CI', createdAt: expect.any(Number), lastUsedAt: null });

      const used = await store.verify(token);
      expect(used).toMatchObject({ id: record.id, user: 'alice', name: 'CI' });
      expect(used!.lastUsedAt).toBeGreaterThanOrEqual(record.createdAt);

      // Another store on the same place (a restart, another replica) knows it, with its last use.
      const again = await reopen();
      expect(await again.list('alice')).toEqual([{ ...record, lastUsedAt: used!.lastUsedAt }]);
      expect(await again.verify(token)).toMatchObject({ id: record.id, user: 'alice' });

      // The same id with another secret, a malformed text, a token of nobody: refused.
      const forged = token.slice(0, -4) + (token.endsWith('AAAA') ? 'BBBB' : 'AAAA');
      for (const bad of [forged, 'bst_0000000000000000_' + 'A'.repeat(43), 'not a token', '', token + 'x']) {
        expect(await again.verify(bad)).toBeNull();
      }

      // Bob cannot revoke or see Alice's token.
      expect(await again.revoke('bob', record.id)).toBe(false);
      expect(await again.list('bob')).toEqual([]);
      expect(await again.revoke('alice', record.id)).toBe(true);
      expect(await again.verify(token)).toBeNull();
      expect(await (await reopen()).verify(token)).toBeNull();
      expect(await again.revoke('alice', record.id)).toBe(false);
    });

    test(`a user holds ${MAX_TOKENS_PER_USER} tokens at most; the list is newest first`, async () => {
      const { store } = await open();
      const user = `many-${Date.now()}`;
      for (let i = 0; i < MAX_TOKENS_PER_USER; i++) await store.create(user, `t${i}`);
      await expect(store.create(user, 'one more')).rejects.toBeInstanceOf(TokenLimitError);
      const list = await store.list(user);
      expect(list).toHaveLength(MAX_TOKENS_PER_USER);
      expect(list.map((t) => t.createdAt)).toEqual([...list.map((t) => t.createdAt)].sort((a, b) => b - a));
      // Another user is not affected.
      await expect(store.create(`${user}-other`, 'fine')).resolves.toBeDefined();
    });
  });
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'buildstory-tokens-'));
  chmodSync(dir, 0o755);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
contract('in a file (no shared store)', async () => {
  const file = join(dir, `tokens-${++files}`, 'api-tokens.json');
  return { store: new FileApiTokens(file), reopen: async () => new FileApiTokens(file) };
});

test('the file holds hashes only, is readable by its owner only, and a foreign file is refused rather than overwritten', async () => {
  const file = join(dir, 'hashes', 'api-tokens.json');
  const store = new FileApiTokens(file);
  const { token } = await store.create('alice', 'laptop');
  const text = readFileSync(file, 'utf8');
  expect(text).not.toContain(token);
  expect(text).not.toContain(token.split('_')[2]);
  expect(text).toContain(tokenHash(token));
  expect(statSync(file).mode & 0o777).toBe(0o600);

  const foreign = join(dir, 'foreign.json');
  writeFileSync(foreign, '{"something": "else"}');
  await expect(new FileApiTokens(foreign).list('alice')).rejects.toThrow(/is not a Buildstory token file/);
  expect(readFileSync(foreign, 'utf8')).toBe('{"something": "else"}');
});

describe('in PostgreSQL (the shared store)', () => {
  let pg: PostgresTarget | undefined;
  const opened: SharedStore[] = [];
  beforeAll(async () => {
    pg = await startPrivatePostgres(join(dir, 'postgres'));
  });
  afterAll(async () => {
    for (const s of opened) await s.close();
    await pg?.stop();
  });
  const openStore = async () => {
    const url = `postgres://${pg!.user}@${pg!.host}:${pg!.port}/postgres`;
    const s = await startPostgresStore({ url, display: url }, new MemoryRevokedSessions());
    opened.push(s);
    return s.apiTokens;
  };
  contract('tokens', async () => ({ store: await openStore(), reopen: openStore }));
});
