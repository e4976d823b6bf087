/**
 * API tokens and the CLI against the real stack: the web server (production build, access control
 * on) and a worker on the run's dev server. A signed-in user makes a token on /account; the API
 * takes it as a bearer (and refuses cookies, no token, a revoked one); the CLI, in a real terminal
 * (tmux), starts and follows a run live to its end, lists and shows it, and answers a plan review.
 * Kill -9 of the web server in the middle of a follow: the CLI reconnects with Last-Event-ID and
 * the story it shows has every event once.
 */
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { unzipSync } from 'fflate';
import type { Worker } from '@temporalio/worker';
import { OfflineProvider } from '../activities/llm/offline';
import { startPart, webPart, type ServedPartSpec, type StartedPart } from '../devstack/parts';
import { freePort } from '../devstack/processes';
import { field, Session } from './setup/session';
import { connectTestEnv, createTestWorker, sharedServer, uniqueTaskQueue } from './setup/temporal';

const run = promisify(execFile);
const ROOT = join(__dirname, '..');
const BIN = join(ROOT, 'cli', 'bin.cjs');
const PASSWORD = 'alice-password-1';

let env: TestWorkflowEnvironment;
let worker: Worker;
let workerRun: Promise<void>;
let web: StartedPart<ServedPartSpec> | undefined;
let webEnv: Record<string, string>;
let port: number;
let dir: string;
let token: string;

async function startWeb(): Promise<void> {
  web = startPart(webPart({ port, env: webEnv }));
  await web.ready();
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'buildstory-cli-'));
  env = await connectTestEnv();
  const taskQueue = uniqueTaskQueue('cli');
  // Slow enough to see a run live: ~40 chunks per step at 60 ms.
  worker = await createTestWorker(env, taskQueue, new OfflineProvider(60));
  workerRun = worker.run();
  port = await freePort();
  webEnv = {
    TEMPORAL_ADDRESS: sharedServer().address,
    TEMPORAL_TASK_QUEUE: taskQueue,
    LOG_LEVEL: 'warn',
    BUILDSTORY_AUTH_PASSWORDS: `alice:${PASSWORD},bob:bob-password-1`,
    BUILDSTORY_SESSION_SECRET: 'test-session-secret-0123456789abcdef-0123456789',
    BUILDSTORY_API_TOKENS_FILE: join(dir, 'api-tokens.json'),
  };
  await startWeb();
});

afterAll(async () => {
  await web?.stop();
  worker?.shutdown();
  await workerRun;
  await env?.teardown();
  rmSync(dir, { recursive: true, force: true });
});

function base(): string {
  return web!.base;
}

/** A token made on /account by a signed-in user, as the page shows it once. */
async function makeToken(user: string, password: string, name: string): Promise<{ session: Session; token: string }> {
  const session = new Session(base());
  expect((await session.signIn(user, password)).status).toBe(302);
  const page = await session.text('/account');
  const res = await session.post('/account', { csrf: field(page, 'csrf'), intent: 'create', name });
  expect(res.status).toBe(200);
  const html = (await res.text()).replace(/<!-- -->/g, '');
  const match = /aria-label="New token"[^>]*value="(bst_[^"]+)"|value="(bst_[^"]+)"[^>]*aria-label="New token"/.exec(html);
  if (!match) throw new Error(`no new token on the page:\n${html.slice(0, 2_000)}`);
  return { session, token: match[1] ?? match[2]! };
}

/** The CLI on a pipe (no terminal): stdout, stderr and its exit code. */
async function cli(args: string[], extra: Record<string, string> = {}): Promise<{ out: string; err: string; code: number }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], {
      env: { ...process.env, BUILDSTORY_URL: base(), BUILDSTORY_TOKEN: token, NO_COLOR: '1', ...extra },
      timeout: 120_000,
    });
    return { out: stdout, err: stderr, code: 0 };
  } catch (err) {
    const e = err as { stdout: string; stderr: string; code: number };
    return { out: e.stdout, err: e.stderr, code: e.code };
  }
}

test('a token made on /account is shown once, listed with its last use, and is what the API takes: not a cookie, not a revoked one', async () => {
  const made = await makeToken('alice', PASSWORD, 'laptop');
  token = made.token;
  const api = (headers: Record<string, string>) => fetch(`${base()}/api/v1/runs?limit=1`, { headers });

  const ok = await api({ Authorization: `Bearer ${token}` });
  expect(ok.status).toBe(200);
  // The page lists it by name with a last use, and never shows the token again.
  const page = await made.session.text('/account');
  expect(page).toContain('laptop');
  expect(page).not.toContain(token);
  expect(page).not.toMatch(/<td[^>]*>never<\/td>\s*<td/);

  // The session cookie alone does not authenticate the API.
  const cookie = await fetch(`${base()}/api/v1/runs?limit=1`, {
    headers: { Cookie: (made.session as unknown as { cookie: string }).cookie },
  });
  expect(cookie.status).toBe(401);
  expect(cookie.headers.get('content-type')).toMatch(/application\/problem\+json/);
  expect((await cookie.json()) as { title: string }).toMatchObject({ title: 'An API token is needed' });
  for (const bad of [`Bearer ${token.slice(0, -2)}xx`, 'Bearer nope', `Basic ${token}`]) {
    expect((await api({ Authorization: bad })).status).toBe(401);
  }

  // Revoked: refused from then on.
  const second = await makeToken('alice', PASSWORD, 'to revoke');
  expect((await api({ Authorization: `Bearer ${second.token}` })).status).toBe(200);
  const list = await made.session.text('/account');
  const id = /name="id" value="([0-9a-f]{16})"/g;
  const ids = [...list.matchAll(id)].map((m) => m[1]!);
  expect(ids).toHaveLength(2);
  // Newest first: the one to revoke.
  const revoke = await made.session.post('/account', { csrf: field(list, 'csrf'), intent: 'revoke', id: ids[0]! });
  expect(revoke.status).toBe(200);
  expect((await api({ Authorization: `Bearer ${second.token}` })).status).toBe(401);
  expect((await api({ Authorization: `Bearer ${token}` })).status).toBe(200);
});

test("a token sees what its user sees: bob's token does not reach alice's runs", async () => {
  const { out, code } = await cli(['run', 'Write a short note about tokens', '--json']);
  expect(code).toBe(0);
  const { workflowId } = JSON.parse(out) as { workflowId: string };
  const bob = await makeToken('bob', 'bob-password-1', 'bob');
  const res = await fetch(`${base()}/api/v1/runs/${workflowId}`, { headers: { Authorization: `Bearer ${bob.token}` } });
  expect(res.status).toBe(404);
  const mine = await fetch(`${base()}/api/v1/runs/${workflowId}`, { headers: { Authorization: `Bearer ${token}` } });
  expect(mine.status).toBe(200);
  const listed = await cli(['list', '--json'], { BUILDSTORY_TOKEN: bob.token });
  expect(listed.code).toBe(0);
  expect(listed.out).not.toContain(workflowId);
});

function tmux(...args: string[]): string {
  try {
    return execFileSync('tmux', ['-L', 'buildstory-cli-test', ...args], { encoding: 'utf8' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT')
      throw new Error('tmux is missing: apt-get install -y tmux (.ci/run installs it)', { cause: err });
    throw err;
  }
}

/** The terminal's screen until `pattern` shows, polled; every distinct screen seen is kept. */
async function screenUntil(session: string, pattern: RegExp, seen: string[], timeoutMs = 90_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let screen = '';
  while (Date.now() < deadline) {
    screen = tmux('capture-pane', '-p', '-t', session);
    if (seen.at(-1) !== screen) seen.push(screen);
    if (pattern.test(screen)) return screen;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the terminal never showed ${pattern}; last screen:\n${screen}`);
}

test('in a terminal: `buildstory run --follow` shows the run live (a spinner on the running step, its output) and ends with the result and exit code 0', async () => {
  const session = `run-${Date.now()}`;
  const command = `node ${BIN} run 'Create a hello world python function' --follow; echo "EXIT=$?"; sleep 600`;
  tmux(
    'new-session',
    '-d',
    '-s',
    session,
    '-x',
    '110',
    '-y',
    '45',
    '-e',
    `BUILDSTORY_URL=${base()}`,
    '-e',
    `BUILDSTORY_TOKEN=${token}`,
    command,
  );
  const seen: string[] = [];
  try {
    await screenUntil(session, /EXIT=\d+/, seen);
    // The whole terminal, scrollback included: the last frame, the result under it, the outcome.
    const end = tmux('capture-pane', '-p', '-S', '-', '-t', session);
    expect(end).toContain('EXIT=0');
    expect(end).toMatch(/^Completed · verified/m);
    expect(end).toMatch(/^✓ Completed · verified · [\d,]+ tokens · \d+\.\d s\nEXIT=0$/m);
    expect(end).toMatch(/✓ 1\. /);
    expect(end).toContain('def hello_world');
    expect(end).not.toContain(token);
    // Live on the way: a frame with a spinner on a running step and output under it.
    const live = seen.filter((s) => /^Running/m.test(s));
    expect(live.length).toBeGreaterThan(2);
    expect(live.some((s) => /[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] \d\. /.test(s) && s.includes('│'))).toBe(true);
    // Redrawn in place: the final screen shows one status line, not a scroll of frames.
    expect(end.match(/^(Running|Completed)/gm)).toHaveLength(1);
  } finally {
    tmux('kill-session', '-t', session);
  }
});

test("a verified run's files: listed and served by the API to their owner only, byte for byte; the CLI saves them", async () => {
  const { workflowId } = JSON.parse(
    (await cli(['run', 'Create a hello world python function', '--follow', '--json'])).out.split('\n')[0]!,
  ) as {
    workflowId: string;
  };
  const auth = { Authorization: `Bearer ${token}` };
  const list = await fetch(`${base()}/api/v1/runs/${workflowId}/files`, { headers: auth });
  expect(list.status).toBe(200);
  const { files, zip } = (await list.json()) as {
    files: Array<{ path: string; sha256: string; bytes: number; href: string }>;
    zip: string;
  };
  expect(files.map((f) => f.path).sort()).toEqual(['hello.py', 'test_hello.py']);
  for (const file of files) {
    const res = await fetch(`${base()}${file.href}`, { headers: auth });
    expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    const bytes = Buffer.from(await res.arrayBuffer());
    expect(bytes.length).toBe(file.bytes);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(file.sha256);
  }
  const archive = await fetch(`${base()}${zip}`, { headers: auth });
  expect(archive.headers.get('content-type')).toBe('application/zip');
  expect(Object.keys(unzipSync(new Uint8Array(await archive.arrayBuffer()))).sort()).toEqual(['hello.py', 'test_hello.py']);
  // Another user, a hash the run never recorded, no token: problems, no bytes.
  const bob = await makeToken('bob', 'bob-password-1', 'files');
  const other = await fetch(`${base()}${files[0]!.href}`, { headers: { Authorization: `Bearer ${bob.token}` } });
  expect(other.status).toBe(404);
  expect(other.headers.get('content-type')).toMatch(/problem\+json/);
  expect((await fetch(`${base()}/api/v1/runs/${workflowId}/files/${'0'.repeat(64)}`, { headers: auth })).status).toBe(404);
  expect((await fetch(`${base()}${files[0]!.href}`)).status).toBe(401);

  const out = join(dir, 'saved');
  const saved = await cli(['files', workflowId, '--out', out]);
  expect(saved.code).toBe(0);
  expect(saved.out).toMatch(/hello\.py\s+\d+\s+[0-9a-f]{16}/);
  for (const file of files)
    expect(
      createHash('sha256')
        .update(readFileSync(join(out, file.path)))
        .digest('hex'),
    ).toBe(file.sha256);
});

test('list and show print the run; --json follow prints every story event once and the end; exit codes follow the outcome', async () => {
  const started = await cli(['run', 'Write a haiku about durable runs', '--json']);
  const { workflowId } = JSON.parse(started.out) as { workflowId: string };
  const followed = await cli(['--json', 'follow', workflowId]);
  expect(followed.code).toBe(0);
  const lines = followed.out
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { type: string; event?: { seq: number }; status?: string });
  const seqs = lines.filter((l) => l.type === 'story').map((l) => l.event!.seq);
  expect(seqs).toEqual(seqs.map((_, i) => i + 1));
  expect(lines.at(-1)).toMatchObject({ type: 'end', status: 'completed' });

  const list = await cli(['list', '--limit', '5']);
  expect(list.code).toBe(0);
  expect(list.out).toMatch(new RegExp(`${workflowId}\\s+completed`));
  const show = await cli(['show', workflowId]);
  expect(show.out).toMatch(/^Completed/m);
  expect(show.out).toContain(`/runs/${workflowId}`);

  // Unknown run: the API's problem, exit 4. Nothing listening: exit 5.
  const missing = await cli(['show', 'task-00000000-0000-0000-0000-000000000000']);
  expect(missing.code).toBe(4);
  expect(missing.err).toMatch(/error: /);
  const away = await cli(['list'], { BUILDSTORY_URL: `http://127.0.0.1:${await freePort()}` });
  expect(away.code).toBe(5);
  const noToken = await cli(['list'], { BUILDSTORY_TOKEN: '' });
  expect(noToken.code).toBe(4);
  expect(noToken.err).toContain('BUILDSTORY_TOKEN');
});

test('review from the CLI: a run started with --review waits; reject ends it and follow exits 3; approve lets another run complete', async () => {
  const waiting = JSON.parse((await cli(['run', 'Create a hello world python function', '--review', '--json'])).out) as {
    workflowId: string;
  };
  const approved = JSON.parse((await cli(['run', 'Create a hello world python function', '--review', '--json'])).out) as {
    workflowId: string;
  };
  // Wait until both wait for their review (the show command says so).
  for (const id of [waiting.workflowId, approved.workflowId]) {
    const deadline = Date.now() + 60_000;
    while (!/Waiting for a review/.test((await cli(['show', id])).out)) {
      if (Date.now() > deadline) throw new Error(`${id} never waited for a review`);
      await new Promise((r) => setTimeout(r, 300));
    }
  }
  const rejected = await cli(['reject', waiting.workflowId, '--reason', 'not now']);
  expect(rejected.code).toBe(0);
  const follow = await cli(['follow', waiting.workflowId]);
  expect(follow.code).toBe(3);
  expect(follow.out).toContain('rejected by alice: not now');

  expect((await cli(['approve', approved.workflowId])).code).toBe(0);
  expect((await cli(['follow', approved.workflowId])).code).toBe(0);
  // Nothing to review any more.
  const again = await cli(['approve', approved.workflowId]);
  expect(again.code).toBe(4);
});

test('kill -9 of the web server during a follow: the CLI reconnects with Last-Event-ID and gets every event once', async () => {
  const started = JSON.parse((await cli(['run', 'Create a hello world python function', '--json'])).out) as { workflowId: string };
  const child = execFile(process.execPath, [BIN, '--json', 'follow', started.workflowId], {
    env: { ...process.env, BUILDSTORY_URL: base(), BUILDSTORY_TOKEN: token, NO_COLOR: '1' },
  });
  let out = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const exited = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? -1)));
  // Some of the story first, then the crash.
  const deadline = Date.now() + 60_000;
  while ((out.match(/"type":"story"/g) ?? []).length < 5) {
    if (Date.now() > deadline) throw new Error(`no story arrived:\n${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  // The server is tsx's child: kill -9 both, as a crash of the machine's process would.
  const gone = new Promise((r) => web!.child.once('exit', r));
  execFileSync('pkill', ['-KILL', '-P', String(web!.child.pid)]);
  web!.child.kill('SIGKILL');
  await gone;
  await new Promise((r) => setTimeout(r, 1_500));
  await startWeb();
  expect(await exited).toBe(0);
  const lines = out
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { type: string; state?: string; event?: { seq: number } });
  expect(lines.some((l) => l.type === 'stream' && l.state === 'reconnecting')).toBe(true);
  const seqs = lines.filter((l) => l.type === 'story').map((l) => l.event!.seq);
  expect(seqs).toEqual(seqs.map((_, i) => i + 1));
  expect(lines.at(-1)).toMatchObject({ type: 'end', status: 'completed' });
});
