/**
 * Fair share survives kill -9: the queue lives in Temporal, not in the web app or a worker. The web
 * app and a worker run as processes of their own (as the fault harness runs them) against the
 * shared dev server; alice's runs fill the slots and the line, both processes are killed with
 * SIGKILL and started again, then bob submits one run. Bob's run still takes the next free slot,
 * alice's queued runs still start in the order she sent them, and every run completes once.
 */
import { join } from 'node:path';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { freePort } from '../devstack/processes';
import { webPart, workerPart } from '../devstack/parts';
import { NodePart } from '../faults/supervisor';
import { positionQuery, progressQuery, schedulerStatusQuery } from '../contract/messages';
import { schedulerWorkflowId, type ProgressSnapshot, type SchedulerStatus, type StoryEvent } from '../contract/data';
import { startTestLlmServer, type TestLlmServer } from './fixtures/llm-server';
import { connectTestEnv, sharedServer, uniqueTaskQueue } from './setup/temporal';
import type { TestWorkflowEnvironment } from '@temporalio/testing';

const PASSWORD = 'a-password-for-the-crash-test';
const SECRET = 'crash-test-session-secret-0123456789abcdef';

let env: TestWorkflowEnvironment;
let llm: TestLlmServer;
let worker: NodePart;
let web: NodePart;
let base = '';
const taskQueue = uniqueTaskQueue('fair-crash');

beforeAll(async () => {
  env = await connectTestEnv();
  llm = await startTestLlmServer({ steps: 1 });
  // Each step streams for a while, so alice's runs hold their slots across the crash.
  llm.program({ kind: 'step', content: 'Done.', delayMs: 1_500, times: Infinity });
  const dir = mkdtempSync(join(tmpdir(), 'bs-fair-crash-'));
  const common = { TEMPORAL_ADDRESS: sharedServer().address, TEMPORAL_TASK_QUEUE: taskQueue, HOST: '127.0.0.1', LOG_LEVEL: 'warn' };
  const unexpected = (part: NodePart) => {
    throw new Error(`${part.name} exited by itself`);
  };
  worker = new NodePart(
    'worker',
    join(dir, 'worker.log'),
    async () =>
      workerPart({
        healthPort: await freePort(),
        env: { ...common, OPENAI_API_KEY: 'test', OPENAI_BASE_URL: llm.baseURL, OPENAI_MODEL: 'test-model', OPENAI_TIMEOUT_MS: '10000' },
      }),
    120_000,
    unexpected,
  );
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  web = new NodePart(
    'web',
    join(dir, 'web.log'),
    async () =>
      webPart({
        port,
        env: {
          ...common,
          SUBMIT_RATE_LIMIT_PER_MINUTE: '0',
          BUILDSTORY_MAX_RUNNING_PER_USER: '2',
          BUILDSTORY_MAX_RUNNING: '2',
          BUILDSTORY_AUTH_PASSWORDS: `alice:${PASSWORD},bob:${PASSWORD}`,
          BUILDSTORY_SESSION_SECRET: SECRET,
        },
      }),
    60_000,
    unexpected,
  );
  await Promise.all([worker.start(), web.start()]);
}, 180_000);

afterAll(async () => {
  await Promise.all([web?.stop(), worker?.stop()]);
  await llm?.close();
  await env?.teardown();
});

/** A browser signed in as `user`: its one session cookie. */
function browser(user: string) {
  let cookie = '';
  const keep = (res: Response) => {
    const set = res.headers.getSetCookie().find((c) => c.startsWith('buildstory_session='));
    if (set) cookie = set.split(';')[0]!;
    return res;
  };
  const text = async (path: string) =>
    (await keep(await fetch(`${base}${path}`, { headers: { Cookie: cookie } })).text()).replace(/<!-- -->/g, '');
  const post = async (path: string, fields: Record<string, string>) =>
    keep(
      await fetch(`${base}${path}`, { method: 'POST', body: new URLSearchParams(fields), headers: { Cookie: cookie }, redirect: 'manual' }),
    );
  return {
    text,
    async signIn() {
      const res = await post('/login', { csrf: field(await text('/login'), 'csrf'), user, password: PASSWORD });
      expect(res.status).toBe(302);
    },
    async submit(task: string): Promise<string> {
      const home = await text('/');
      const res = await post('/?index', { task, token: field(home, 'token'), csrf: field(home, 'csrf') });
      expect(res.status).toBe(302);
      return res.headers.get('location')!.replace(/^\/runs\//, '');
    },
  };
}

function field(html: string, name: string): string {
  const match = new RegExp(`name="${name}" value="([^"]+)"`).exec(html);
  if (!match) throw new Error(`no ${name} field`);
  return match[1]!;
}

async function until<T>(read: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read().catch(() => undefined);
    if (value !== undefined && ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out; last value: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const dequeued = (events: StoryEvent[]) => events.find((e) => e.type === 'run.dequeued') as Extract<StoryEvent, { type: 'run.dequeued' }>;

test('after kill -9 of the web app and the worker, the line is intact: B still takes the next free slot, A keeps her order', async () => {
  const scheduler = env.client.workflow.getHandle(schedulerWorkflowId(taskQueue));
  const status = () => scheduler.query(schedulerStatusQuery);
  const alice = browser('alice');
  await alice.signIn();
  const aliceRuns: string[] = [];
  for (let i = 1; i <= 8; i++) aliceRuns.push(await alice.submit(`Task ${i} of alice`));
  const before = await until<SchedulerStatus>(status, (s) => s.queued + s.grants === 8);
  expect(before.running).toBe(2);

  // A power cut for both: no shutdown hook runs.
  await Promise.all([web.kill9(), worker.kill9()]);
  await Promise.all([web.start(), worker.start()]);

  // The page of alice's last run, served by the new web process, says where it stands.
  expect(
    await until(
      () => alice.text(`/runs/${aliceRuns[7]}`),
      (page) => /Queued \(\d+ ahead\)/.test(page),
    ),
  ).toMatch(/Queued \(\d+ ahead\)/);
  const bob = browser('bob');
  await bob.signIn();
  const bobRun = await bob.submit('The one task of bob');
  await until(
    () => scheduler.query(positionQuery, bobRun),
    (p) => p !== null,
  );

  // Everything completes, each run once.
  const finals = new Map<string, ProgressSnapshot>();
  for (const id of [...aliceRuns, bobRun]) {
    const final = (await env.client.workflow.getHandle(id).result()) as ProgressSnapshot;
    expect(final.status).toBe('completed');
    finals.set(id, final);
  }
  const bobStart = dequeued(finals.get(bobRun)!.events);
  expect(bobStart.passedBy).toBeLessThanOrEqual(1);
  // Alice's runs that were in line at the crash started in the order she sent them.
  const orders = aliceRuns.map((id) => dequeued(finals.get(id)!.events).order).filter((order) => order > before.grants);
  expect(orders).toEqual([...orders].sort((x, y) => x - y));
  expect(await until(status, (s) => s.running === 0)).toMatchObject({ running: 0, queued: 0, grants: 9 });
  // Still answerable from the run itself (the query reads a closed run by replay).
  expect((await env.client.workflow.getHandle(bobRun).query(progressQuery, {})).queue).toBeNull();
}, 240_000);
