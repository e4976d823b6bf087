/**
 * Fair share in the web app, over HTTP against the real web process and worker: with
 * BUILDSTORY_MAX_RUNNING_PER_USER=1 a user's second submission is accepted and queued, its page
 * says "Queued (0 ahead)", the list shows it Queued (and filters to it), and cancelling it from its
 * page takes it out of the line, never planned.
 */
import { randomUUID } from 'node:crypto';
import { positionQuery } from '../contract/messages';
import { schedulerWorkflowId, type ProgressSnapshot } from '../contract/data';
import { Session, field } from './setup/session';
import { startStack, type Stack } from './setup/stack';

const USER = `queued-${randomUUID().slice(0, 8)}`;
const PASSWORD = 'a-password-for-the-queue-test';

let stack: Stack;
let session: Session;
beforeAll(async () => {
  stack = await startStack({
    name: 'fair-web',
    webEnv: {
      BUILDSTORY_MAX_RUNNING_PER_USER: '1',
      BUILDSTORY_MAX_RUNNING: '4',
      SUBMIT_RATE_LIMIT_PER_MINUTE: '0',
      BUILDSTORY_AUTH_PASSWORDS: `${USER}:${PASSWORD}`,
      BUILDSTORY_SESSION_SECRET: 'queue-test-session-secret-0123456789abcdef',
    },
  });
  session = new Session(stack.base);
  expect((await session.signIn(USER, PASSWORD)).status).toBe(302);
});
afterAll(async () => {
  await stack?.close();
});

const text = (path: string) => session.text(path);
const post = (path: string, fields: Record<string, string>) => session.post(path, fields);

async function submit(task: string): Promise<string> {
  const res = await session.submit(task);
  expect(res.status).toBe(302);
  return res.headers.get('location')!.replace(/^\/runs\//, '');
}
async function until(read: () => Promise<string>, pattern: RegExp, timeoutMs = 20_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const page = await read();
    if (pattern.test(page)) return page;
    if (Date.now() > deadline) throw new Error(`never matched ${pattern}:\n${page.slice(0, 3_000)}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

test('a second run of one user waits as "Queued (0 ahead)", shows in the list as Queued, and cancelling it takes it out of the line', async () => {
  // The first run's steps take long: it holds the user's one slot.
  stack.llm.program({ kind: 'step', delayMs: 30_000, times: 1 });
  const first = await submit('Write a long essay');
  const scheduler = stack.env.client.workflow.getHandle(schedulerWorkflowId(stack.taskQueue));
  // The first holds the slot before the second is sent: two runs sent at the same instant may
  // reach the scheduler in either order (a known limit: README, Fair share).
  const deadline = Date.now() + 30_000;
  while ((await scheduler.query(positionQuery, first).catch(() => null))?.state !== 'running') {
    if (Date.now() > deadline) throw new Error('the first run never got its slot');
    await new Promise((r) => setTimeout(r, 100));
  }
  const second = await submit('Write a haiku');

  const page = await until(() => text(`/runs/${second}`), /Queued \(0 ahead\)/);
  expect(await text('/')).toContain('At most 1 of your runs at once, 4 in all; more wait in line · now 1 running, 1 in line');
  expect(page).toContain('This run waits for a free slot: 0 runs are ahead of it.');
  await until(() => text('/?status=Queued'), new RegExp(second));
  expect(await text('/?status=Queued')).not.toContain(first);
  expect(await scheduler.query(positionQuery, first)).toEqual({ state: 'running' });

  // Cancel it from its page, as a person would.
  const cancel = await post(`/runs/${second}`, { intent: 'cancel', csrf: field(page, 'csrf') });
  expect(cancel.status).toBeLessThan(400);
  const final = await stack.env.client.workflow
    .getHandle(second)
    .result()
    .catch((err: { cause?: { details?: ProgressSnapshot[] } }) => err);
  expect(final).toBeDefined();
  const story = await stack.env.client.workflow.getHandle(second).query('progress', {});
  expect((story as ProgressSnapshot).events.map((e) => e.type)).toEqual(['run.started', 'run.queued', 'run.cancelled']);
  expect(await scheduler.query(positionQuery, second)).toBeNull();

  await stack.env.client.workflow.getHandle(first).cancel();
});
