/**
 * The sign-out list and the sign-in and submission limits when the web app runs as two replicas
 * (two web processes, one Temporal, one session secret), as a client behind a balancer sees them:
 * the same cookie and the same address (X-Forwarded-For, with TRUST_PROXY) at either replica.
 *
 * - In memory (BUILDSTORY_SHARED_STORE_URL unset): each replica keeps its own. A sign-out holds
 *   on the replica that saw it only, and each replica allows the limits in full.
 * - Shared (the setting pointing at a private PostgreSQL, devstack/cluster/postgres.ts): a
 *   sign-out on replica 1 holds on replica 2, and the limits count across both. Then PostgreSQL
 *   stops: a signed-in request gets 503 rather than pass unchecked, and each replica limits alone.
 * - A shared store that cannot be reached at start stops the web app: one line, no password.
 */
import type { ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPrivatePostgres, type PostgresTarget } from '../devstack/cluster/postgres';
import { startPart, webPart, type ServedPartSpec, type StartedPart } from '../devstack/parts';
import { freePort } from '../devstack/processes';
import { sharedServer, uniqueTaskQueue } from './setup/temporal';

const PASSWORD = 'alice-password-1';
/** What web/app/utils/auth.server.ts allows: failed sign-ins per client per 15 minutes. */
const LOGIN_ATTEMPTS = 10;
const SUBMITS_PER_MINUTE = 3;

function replicaEnv(name: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    TEMPORAL_ADDRESS: sharedServer().address,
    TEMPORAL_TASK_QUEUE: uniqueTaskQueue(name),
    TEMPORAL_UI_URL: 'http://localhost:8233',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
    BUILDSTORY_AUTH_PASSWORDS: `alice:${PASSWORD}`,
    BUILDSTORY_SESSION_SECRET: 'test-session-secret-0123456789abcdef-0123456789',
    TRUST_PROXY: 'loopback',
    SUBMIT_RATE_LIMIT_PER_MINUTE: String(SUBMITS_PER_MINUTE),
    ...extra,
  };
}

let clients = 0;

/** One browser: a cookie jar of one cookie and a client address of its own, at any replica. */
class Browser {
  cookie: string | null = null;
  readonly ip = `198.51.100.${++clients}`;

  async fetch(base: string, path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    headers.set('X-Forwarded-For', this.ip);
    if (this.cookie) headers.set('Cookie', this.cookie);
    const res = await fetch(`${base}${path}`, { ...init, headers, redirect: 'manual' });
    const set = res.headers.getSetCookie().find((c) => c.startsWith('buildstory_session='));
    if (set) this.cookie = /Max-Age=0|Expires=Thu, 01 Jan 1970/i.test(set) ? null : set.split(';')[0];
    return res;
  }

  post(base: string, path: string, fields: Record<string, string>): Promise<Response> {
    return this.fetch(base, path, { method: 'POST', body: new URLSearchParams(fields) });
  }

  async field(base: string, path: string, name: string): Promise<string> {
    const html = await (await this.fetch(base, path)).text();
    const match = new RegExp(`name="${name}" value="([^"]+)"`).exec(html);
    if (!match) throw new Error(`no ${name} field on ${base}${path}:\n${html.slice(0, 1_000)}`);
    return match[1];
  }

  /** A sign-in attempt at `base`; its status (302 signed in, 401 wrong password, 429 limited). */
  async signIn(base: string, password = PASSWORD): Promise<number> {
    const csrf = await this.field(base, '/login', 'csrf');
    return (await this.post(base, '/login', { csrf, user: 'alice', password })).status;
  }

  /**
   * A submission at `base` with an empty task: counted by the limit (checked first), then refused
   * as invalid (400) without starting a run; 429 once limited.
   */
  async submit(base: string): Promise<number> {
    const token = await this.field(base, '/', 'token');
    const csrf = await this.field(base, '/', 'csrf');
    return (await this.post(base, '/?index', { task: '', token, csrf })).status;
  }
}

async function startReplicas(name: string, extra: Record<string, string> = {}): Promise<StartedPart<ServedPartSpec>[]> {
  const env = replicaEnv(name, extra);
  const replicas = [1, 2].map(async (n) => startPart(webPart({ name: `${name}-${n}`, port: await freePort(), env })));
  const started = await Promise.all(replicas);
  await Promise.all(started.map((r) => r.ready()));
  return started;
}

/**
 * The same checks for both kinds of store: `shared` says whether replica 2 sees what replica 1
 * counted and refused.
 */
function acrossReplicas(name: string, shared: boolean, storeEnv: () => Record<string, string>): () => string[] {
  let replicas: StartedPart<ServedPartSpec>[] = [];
  let one: string;
  let two: string;
  beforeAll(async () => {
    replicas = await startReplicas(name, storeEnv());
    [one, two] = replicas.map((r) => r.base);
  });
  afterAll(async () => {
    await Promise.all(replicas.map((r) => r.stop()));
  });

  test(`a sign-out on replica 1 ${shared ? 'holds on replica 2' : 'holds on replica 1 only'}`, async () => {
    const browser = new Browser();
    expect(await browser.signIn(one)).toBe(302);
    const copy = browser.cookie;
    // One session secret: the session started on replica 1 is good on replica 2.
    expect((await browser.fetch(two, '/')).status).toBe(200);
    const csrf = await browser.field(one, '/', 'csrf');
    expect((await browser.post(one, '/logout', { csrf })).status).toBe(302);
    browser.cookie = copy;
    expect((await browser.fetch(one, '/')).status).toBe(302);
    const atTwo = await browser.fetch(two, '/');
    expect(atTwo.status).toBe(shared ? 302 : 200);
    if (shared) expect(atTwo.headers.get('location')).toMatch(/^\/login\?next=/);
  });

  test(`the submission limit counts ${shared ? 'across both replicas' : 'per replica'}`, async () => {
    const browser = new Browser();
    expect(await browser.signIn(one)).toBe(302);
    const statuses: number[] = [];
    // Alternating, as a balancer would send them: replica 1, 2, 1, 2, ...
    for (let i = 0; i < 2 * SUBMITS_PER_MINUTE + 2; i++) statuses.push(await browser.submit(i % 2 === 0 ? one : two));
    const allowed = statuses.filter((s) => s === 400).length;
    expect(statuses.filter((s) => s !== 400 && s !== 429)).toEqual([]);
    expect(allowed).toBe(shared ? SUBMITS_PER_MINUTE : 2 * SUBMITS_PER_MINUTE);
  });

  test(`the sign-in limit counts ${shared ? 'across both replicas' : 'per replica'}`, async () => {
    const browser = new Browser();
    const statuses: number[] = [];
    for (let i = 0; i < 2 * LOGIN_ATTEMPTS + 2; i++) statuses.push(await browser.signIn(i % 2 === 0 ? one : two, 'wrong-password'));
    const counted = statuses.filter((s) => s === 401).length;
    expect(statuses.filter((s) => s !== 401 && s !== 429)).toEqual([]);
    expect(counted).toBe(shared ? LOGIN_ATTEMPTS : 2 * LOGIN_ATTEMPTS);
    // Limited at both now, even with the right password.
    expect([await browser.signIn(one), await browser.signIn(two)]).toEqual([429, 429]);
  });

  return () => [one, two];
}

describe('in memory (BUILDSTORY_SHARED_STORE_URL unset): each replica keeps its own', () => {
  acrossReplicas('memory', false, () => ({}));
});

describe('shared through PostgreSQL (BUILDSTORY_SHARED_STORE_URL)', () => {
  let dir: string;
  let pg: PostgresTarget | undefined;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'buildstory-shared-store-'));
    // The private cluster runs as the postgres user, which must reach its directories.
    chmodSync(dir, 0o755);
    pg = await startPrivatePostgres(join(dir, 'postgres'));
  });
  afterAll(async () => {
    await pg?.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const storeEnv = () => ({ BUILDSTORY_SHARED_STORE_URL: `postgres://${pg!.user}@${pg!.host}:${pg!.port}/postgres` });
  const bases = acrossReplicas('shared', true, storeEnv);

  test('a replica started later knows the sign-outs made before it; on SIGTERM it closes its pool and exits 0', async () => {
    const [one] = bases();
    const browser = new Browser();
    expect(await browser.signIn(one)).toBe(302);
    const copy = browser.cookie;
    const csrf = await browser.field(one, '/', 'csrf');
    expect((await browser.post(one, '/logout', { csrf })).status).toBe(302);

    // Its tables exist already: it starts on them.
    const three = startPart(webPart({ name: 'shared-3', port: await freePort(), env: replicaEnv('shared-3', storeEnv()) }));
    try {
      await three.ready();
      browser.cookie = copy;
      expect((await browser.fetch(three.base, '/')).status).toBe(302);
      const other = new Browser();
      expect(await other.signIn(three.base)).toBe(302);
      expect((await other.fetch(three.base, '/')).status).toBe(200);
    } finally {
      await three.stop();
    }
    // Not killed after the grace (5 s) nor by stopChild's SIGKILL: the pool closed.
    expect({ code: three.child.exitCode, signal: three.child.signalCode }).toEqual({ code: 0, signal: null });
  });

  // Last: it stops PostgreSQL under the running replicas.
  test('when PostgreSQL stops: a signed-in request or a sign-out gets 503, a sign-out already seen still holds, each replica limits sign-ins alone', async () => {
    const [one, two] = bases();
    const signedIn = new Browser();
    expect(await signedIn.signIn(one)).toBe(302);
    const signedOut = new Browser();
    expect(await signedOut.signIn(one)).toBe(302);
    const copy = signedOut.cookie;
    const csrf = await signedOut.field(one, '/', 'csrf');
    expect((await signedOut.post(one, '/logout', { csrf })).status).toBe(302);
    signedOut.cookie = copy;
    // Replica 2 looks it up while PostgreSQL answers, and keeps what it found.
    expect((await signedOut.fetch(two, '/')).status).toBe(302);
    const signedInCsrf = await signedIn.field(two, '/', 'csrf');

    await pg!.stop();

    for (const base of [one, two]) {
      // Not known to be signed out, and the list does not answer: refused, not let through.
      const res = await signedIn.fetch(base, '/');
      expect(res.status).toBe(503);
      expect(await res.text()).toContain('the sign-out list does not answer right now');
      expect((await signedOut.fetch(base, '/')).status).toBe(302);
    }
    // A sign-out that cannot reach the other replicas is 503, and the cookie is kept to try again.
    const kept = signedIn.cookie;
    expect((await signedIn.post(two, '/logout', { csrf: signedInCsrf })).status).toBe(503);
    expect(signedIn.cookie).toBe(kept);
    // The insurance limiters: each replica allows the sign-in limit in full, never more.
    const guesser = new Browser();
    const statuses: number[] = [];
    for (let i = 0; i < 2 * LOGIN_ATTEMPTS + 2; i++) statuses.push(await guesser.signIn(i % 2 === 0 ? one : two, 'wrong-password'));
    expect(statuses.filter((s) => s !== 401 && s !== 429)).toEqual([]);
    expect(statuses.filter((s) => s === 401).length).toBe(2 * LOGIN_ATTEMPTS);
    expect([await guesser.signIn(one), await guesser.signIn(two)]).toEqual([429, 429]);
  });
});

test('a shared store that cannot be reached at start stops the web app: one line, no password', async () => {
  const secret = 'pg-secret-NEVER-SHOWN';
  // A port nothing listens on.
  const closed = await freePort();
  const web = startPart(
    webPart({
      name: 'no-store',
      port: await freePort(),
      env: replicaEnv('no-store', { BUILDSTORY_SHARED_STORE_URL: `postgres://buildstory:${secret}@127.0.0.1:${closed}/buildstory` }),
    }),
  );
  const stderr = collect(web.child);
  const code = await new Promise<number | null>((resolve) => web.child.once('exit', (c) => resolve(c)));
  expect(code).toBe(1);
  const lines = stderr().trim().split('\n');
  expect(lines).toEqual([
    expect.stringMatching(
      new RegExp(
        `^Cannot use the shared store BUILDSTORY_SHARED_STORE_URL \\(postgres://buildstory@127\\.0\\.0\\.1:${closed}/buildstory\\): .*ECONNREFUSED`,
      ),
    ),
  ]);
  expect(stderr()).not.toContain(secret);
});

function collect(child: ChildProcess): () => string {
  let text = '';
  child.stderr?.on('data', (chunk: Buffer) => (text += chunk.toString()));
  return () => text;
}
