/**
 * API tokens: what `Authorization: Bearer` carries to /api/v1 (and the CLI sends) when access
 * control is on. A signed-in user creates and revokes their own on /account; the token is shown
 * once and kept only as its SHA-256 (a token is 256 random bits, so a fast hash is enough: there
 * is nothing to guess), with a name, its creation time and its last use.
 *
 * A token reads `bst_<id>_<secret>`: the id (16 hex digits) finds the record, the secret's hash
 * is compared in constant time. It gives its owner exactly what that user sees in the app, as long
 * as the user is still in BUILDSTORY_AUTH_PASSWORDS (auth.server.ts checks that on every use).
 *
 * Where they live: with a shared store (BUILDSTORY_SHARED_STORE_URL), in PostgreSQL, for every
 * replica (postgres-store.server.ts); without one, in a JSON file (BUILDSTORY_API_TOKENS_FILE,
 * default .data/api-tokens.json) that this process alone writes, replaced whole on each change
 * (temp file, fsync, rename): tokens survive a restart either way.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdirSync, openSync, readFileSync, renameSync, fsyncSync, writeSync, closeSync } from 'node:fs';
import { dirname } from 'node:path';
import { z } from 'zod';

/** A token's record, as its owner sees it on /account (never the secret nor its hash). */
export interface ApiToken {
  id: string;
  user: string;
  name: string;
  /** Epoch ms. */
  createdAt: number;
  /** Epoch ms of the last request it authenticated, to the minute; null: never used. */
  lastUsedAt: number | null;
}

export interface ApiTokenStore {
  /** A new token for `user`: the only time its text exists outside the caller's hands. */
  create(user: string, name: string): Promise<{ token: string; record: ApiToken }>;
  /** The user's tokens, newest first. */
  list(user: string): Promise<ApiToken[]>;
  /** Revokes one of the user's tokens; false when the user has no such token. */
  revoke(user: string, id: string): Promise<boolean>;
  /** The token's record when the text is a live token (and notes its use), else null. */
  verify(token: string): Promise<ApiToken | null>;
}

/** A token's name: what its owner calls it ("CI", "laptop"). */
export const TokenName = z
  .string()
  .trim()
  .min(1, 'Give the token a name, e.g. "CI" or "laptop".')
  .max(80, 'A token name has at most 80 characters.')
  .regex(/^[^\p{Cc}]*$/u, 'A token name cannot hold control characters.');

/** Tokens one user may hold at once. */
export const MAX_TOKENS_PER_USER = 50;

/** How often a token's last use is written (a busy CI token would write on every request otherwise). */
export const LAST_USE_RESOLUTION_MS = 60_000;

export class TokenLimitError extends Error {
  override name = 'TokenLimitError';
  constructor() {
    super(`You have ${MAX_TOKENS_PER_USER} tokens already: revoke one you no longer use first.`);
  }
}

const TOKEN_PATTERN = /^bst_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

/** The id of a well-formed token, else null (nothing is looked up for a malformed one). */
export function tokenId(token: string): string | null {
  return TOKEN_PATTERN.exec(token)?.[1] ?? null;
}

export function tokenHash(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** A new token's text and id. */
export function newToken(): { id: string; token: string } {
  const id = randomBytes(8).toString('hex');
  return { id, token: `bst_${id}_${randomBytes(32).toString('base64url')}` };
}

/** Whether `token` hashes to `hash` (hex), in constant time. */
export function hashMatches(token: string, hash: string): boolean {
  const expected = Buffer.from(hash, 'hex');
  const actual = createHash('sha256').update(token).digest();
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

interface StoredToken extends ApiToken {
  hash: string;
}

const StoredFile = z.object({
  version: z.literal(1),
  tokens: z.array(
    z.object({
      id: z.string(),
      user: z.string(),
      name: z.string(),
      createdAt: z.number(),
      lastUsedAt: z.number().nullable(),
      hash: z.string(),
    }),
  ),
});

function publicRecord({ hash: _hash, ...record }: StoredToken): ApiToken {
  return record;
}

/** The tokens of one process, in a JSON file (see the module's comment). */
export class FileApiTokens implements ApiTokenStore {
  private tokens: StoredToken[] | null = null;
  /** Writes one after another, each of the whole list. */
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly file: string) {}

  private load(): StoredToken[] {
    if (this.tokens) return this.tokens;
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      return (this.tokens = []);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    const parsed = StoredFile.safeParse(json);
    // A file we cannot read as ours is not overwritten (it may be someone's).
    if (!parsed.success)
      throw new Error(`${this.file} is not a Buildstory token file (BUILDSTORY_API_TOKENS_FILE): move it away or set another path`);
    return (this.tokens = parsed.data.tokens);
  }

  private save(): Promise<void> {
    const body = JSON.stringify({ version: 1, tokens: this.load() }, null, 1);
    this.writing = this.writing.then(() => {
      mkdirSync(dirname(this.file), { recursive: true });
      const temp = `${this.file}.${process.pid}.tmp`;
      const fd = openSync(temp, 'w', 0o600);
      try {
        writeSync(fd, body);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(temp, this.file);
    });
    return this.writing;
  }

  async create(user: string, name: string): Promise<{ token: string; record: ApiToken }> {
    const tokens = this.load();
    if (tokens.filter((t) => t.user === user).length >= MAX_TOKENS_PER_USER) throw new TokenLimitError();
    const { id, token } = newToken();
    const stored: StoredToken = { id, user, name, createdAt: Date.now(), lastUsedAt: null, hash: tokenHash(token) };
    tokens.push(stored);
    await this.save();
    return { token, record: publicRecord(stored) };
  }

  async list(user: string): Promise<ApiToken[]> {
    await this.writing;
    return this.load()
      .filter((t) => t.user === user)
      .sort((a, b) => b.createdAt - a.createdAt)
      .map(publicRecord);
  }

  async revoke(user: string, id: string): Promise<boolean> {
    const tokens = this.load();
    const index = tokens.findIndex((t) => t.id === id && t.user === user);
    if (index < 0) return false;
    tokens.splice(index, 1);
    await this.save();
    return true;
  }

  async verify(token: string): Promise<ApiToken | null> {
    const id = tokenId(token);
    if (!id) return null;
    const stored = this.load().find((t) => t.id === id);
    if (!stored || !hashMatches(token, stored.hash)) return null;
    const now = Date.now();
    if (stored.lastUsedAt === null || now - stored.lastUsedAt >= LAST_USE_RESOLUTION_MS) {
      stored.lastUsedAt = now;
      await this.save();
    }
    return publicRecord(stored);
  }
}
