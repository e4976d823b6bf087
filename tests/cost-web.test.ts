/**
 * Cost in the web app, over HTTP against the real web process and a worker whose model has a
 * price: the run list and the home page show what a user's runs spent, from their memos, and a
 * daily spend cap refuses a submission that would pass it, starting nothing. Signed in as a user
 * of its own, so that the other tests' runs on the shared server are not counted.
 */
import { randomUUID } from 'node:crypto';
import type { ProgressSnapshot } from '../contract/data';
import { Session } from './setup/session';
import { startStack, type Stack } from './setup/stack';

const USER = `spender-${randomUUID().slice(0, 8)}`;
const PASSWORD = 'a-password-for-the-cost-test';

let stack: Stack;
let session: Session;
beforeAll(async () => {
  stack = await startStack({
    name: 'cost-web',
    // A tenth of a cent a token: a run costs about a dollar.
    price: { inputPerMillion: 1_000, outputPerMillion: 1_000 },
    webEnv: {
      BUILDSTORY_DAILY_SPEND_CAP: '0.5',
      SUBMIT_RATE_LIMIT_PER_MINUTE: '0',
      BUILDSTORY_AUTH_PASSWORDS: `${USER}:${PASSWORD}`,
      BUILDSTORY_SESSION_SECRET: 'cost-test-session-secret-0123456789abcdef',
    },
  });
  session = new Session(stack.base);
  expect((await session.signIn(USER, PASSWORD)).status).toBe(302);
});
afterAll(async () => {
  await stack?.close();
});

const text = (path: string) => session.text(path);
const submit = (task: string) => session.submit(task);

test("a run's cost shows on its page, in the list and in today's total; past the daily cap a submission starts nothing", async () => {
  const home = await text('/');
  expect(home).toContain('Your runs today: 0 tokens · $0.0000 of $0.50 a day');

  const started = await submit('Create a hello world python function');
  expect(started.status).toBe(302);
  const first = started.headers.get('location')!.replace(/^\/runs\//, '');
  const final = (await stack.env.client.workflow.getHandle(first!).result()) as ProgressSnapshot;
  expect(final.spend.unpriced).toBe(0);
  expect(final.spend.cost).toBeGreaterThan(0.5);
  const cost = `$${final.spend.cost.toFixed(2)}`;
  expect(await text(`/runs/${first}`)).toContain(`tokens · ${cost}`);

  // Visibility catches up with the memo: the list and the total show the run's cost.
  const deadline = Date.now() + 20_000;
  let page: string;
  while (!(page = await text('/')).includes(`Your runs today: ${final.spend.tokens.toLocaleString('en-US')} tokens · ${cost}`)) {
    if (Date.now() > deadline) throw new Error(`the home page never showed the run's cost:\n${page.slice(0, 3_000)}`);
    await new Promise((r) => setTimeout(r, 300));
  }
  // The list's row for the run says what it cost.
  expect(page).toMatch(new RegExp(`href="/runs/${first}"[^]*?· \\${cost}`));

  const refused = await submit('Another task');
  expect(refused.status).toBe(429);
  expect((await refused.text()).replace(/&#x27;|&#39;/g, "'")).toContain(
    `Today's spend is ${cost}, and the daily cap is $0.50: nothing was started.`,
  );
  const runs: string[] = [];
  for await (const run of stack.env.client.workflow.list({ query: `BuildstoryOwner = '${USER}'` })) runs.push(run.workflowId);
  expect(runs).toEqual([first]);
});
