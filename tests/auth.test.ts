/**
 * Access control, over HTTP against the real web process with BUILDSTORY_AUTH_PASSWORDS set:
 * sign-in, the session cookie, every protected route, owners, CSRF, the sign-in limit, sign-out.
 *
 * TRUST_PROXY=loopback lets each test speak for a client address of its own (X-Forwarded-For),
 * so the sign-in limit of one test does not lock out the others.
 */
import { randomUUID } from 'node:crypto';
import { WorkflowNotFoundError } from '@temporalio/client';
import { SearchAttributeType, defineSearchAttributeKey } from '@temporalio/common';
import { OWNER_SEARCH_ATTRIBUTE } from '../config';
import { workflowIdFor } from '../web/app/utils/run-id';
import { connectSse } from '../devstack/sse';
import { progressQuery } from '../contract/messages';
import type { TaskWorkflow } from '../contract/data';
import { startStack, type Stack } from './setup/stack';

const PASSWORDS = { alice: 'alice-password-1', bob: 'bob-password-22' };
const OWNER = defineSearchAttributeKey(OWNER_SEARCH_ATTRIBUTE, SearchAttributeType.KEYWORD);
const CSRF_MESSAGE = /security token is missing or out of date/;

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({
    name: 'auth',
    webEnv: {
      BUILDSTORY_AUTH_PASSWORDS: `alice:${PASSWORDS.alice},bob:${PASSWORDS.bob}`,
      BUILDSTORY_SESSION_SECRET: 'test-session-secret-0123456789abcdef-0123456789',
      TRUST_PROXY: 'loopback',
      SUBMIT_RATE_LIMIT_PER_MINUTE: '0',
    },
  });
});
afterAll(async () => {
  await stack?.close();
});
beforeEach(() => {
  stack.llm.reset();
  // Runs stay open long enough to cancel, and to be seen running.
  stack.llm.program({ kind: 'step', delayMs: 200, times: Infinity });
});

let clients = 0;

/** One browser: a cookie jar of one cookie, and a client address of its own. */
class Browser {
  cookie: string | null = null;
  constructor(readonly ip = `198.51.100.${++clients}`) {}

  async fetch(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    headers.set('X-Forwarded-For', this.ip);
    if (this.cookie) headers.set('Cookie', this.cookie);
    const res = await fetch(`${stack.base}${path}`, { ...init, headers, redirect: 'manual' });
    const set = res.headers.getSetCookie().find((c) => c.startsWith('buildstory_session='));
    if (set) {
      const value = set.split(';')[0];
      this.cookie = /Max-Age=0|Expires=Thu, 01 Jan 1970/i.test(set) ? null : value;
    }
    return res;
  }

  post(path: string, fields: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
    return this.fetch(path, { method: 'POST', body: new URLSearchParams(fields), headers });
  }

  /** A page's hidden field. */
  async field(path: string, name: string): Promise<string> {
    const html = await (await this.fetch(path)).text();
    const match = new RegExp(`name="${name}" value="([^"]+)"`).exec(html);
    if (!match) throw new Error(`no ${name} field on ${path}:\n${html.slice(0, 1_000)}`);
    return match[1];
  }

  async signIn(user: keyof typeof PASSWORDS, next?: string): Promise<Response> {
    const path = next ? `/login?next=${encodeURIComponent(next)}` : '/login';
    const csrf = await this.field(path, 'csrf');
    return this.post(path, { csrf, user, password: PASSWORDS[user] });
  }

  /** Start a run from the home form, as the signed-in user; returns its workflow id. */
  async startRun(task = 'Create a hello world python function'): Promise<string> {
    const token = await this.field('/', 'token');
    const res = await this.post('/?index', { task, token, csrf: await this.field('/', 'csrf') });
    expect(res.status).toBe(302);
    return res.headers.get('location')!.replace(/^\/runs\//, '');
  }
}

async function signedIn(user: keyof typeof PASSWORDS): Promise<Browser> {
  const browser = new Browser();
  expect((await browser.signIn(user)).status).toBe(302);
  return browser;
}

const describeRun = (workflowId: string) => stack.env.client.workflow.getHandle(workflowId).describe();

describe('without a session', () => {
  const someRun = `task-${randomUUID()}`;

  test('pages and actions redirect to the sign-in page, back to where you were', async () => {
    const anonymous = new Browser();
    for (const path of ['/', '/?status=Running', `/runs/${someRun}`]) {
      const res = await anonymous.fetch(path);
      expect({ path, status: res.status }).toEqual({ path, status: 302 });
      expect(res.headers.get('location')).toBe(`/login?next=${encodeURIComponent(path)}`);
    }
    const start = await anonymous.post('/?index', { task: 'Sneaky', token: randomUUID() });
    expect(start.status).toBe(302);
    expect(start.headers.get('location')).toBe('/login?next=%2F');
    const cancel = await anonymous.post(`/runs/${someRun}`, { intent: 'cancel' });
    expect(cancel.status).toBe(302);
    expect(cancel.headers.get('location')).toMatch(/^\/login\?next=/);
  });

  test('the data requests of client-side navigation are sent to sign in too', async () => {
    const res = await new Browser().fetch(`/runs/${someRun}.data`);
    expect(res.status).toBe(202);
    expect(res.headers.get('x-remix-response')).toBe('yes');
    expect(await res.text()).toContain('/login?next=');
  });

  test('the event stream answers 401', async () => {
    const sse = await connectSse(`${stack.base}/runs/${someRun}/events`);
    expect(sse.status).toBe(401);
  });

  test('the codec endpoint answers 401, readable by the Temporal UI (CORS); signed in, 403 unless listed', async () => {
    const body = JSON.stringify({ payloads: [] });
    const headers = { 'Content-Type': 'application/json', Origin: 'http://localhost:8233' };
    const res = await new Browser().fetch('/codec/decode', { method: 'POST', body, headers });
    expect(res.status).toBe(401);
    expect(res.headers.get('access-control-allow-origin')).toBe('http://localhost:8233');
    expect(res.headers.get('access-control-allow-credentials')).toBe('true');
    // Signed in is not enough: BUILDSTORY_CODEC_USERS is unset here, so nobody may use the codec.
    const alice = await signedIn('alice');
    for (const op of ['decode', 'encode']) {
      const refused = await alice.fetch(`/codec/${op}`, { method: 'POST', body, headers });
      expect(refused.status).toBe(403);
      expect(refused.headers.get('access-control-allow-origin')).toBe('http://localhost:8233');
      expect(await refused.text()).toBe('The codec endpoint is for operators: alice is not in BUILDSTORY_CODEC_USERS.\n');
    }
  });

  test('health, readiness and metrics stay public; the sign-in page is there', async () => {
    const anonymous = new Browser();
    for (const path of ['/healthz', '/readyz', '/metrics', '/login']) {
      expect({ path, status: (await anonymous.fetch(path)).status }).toEqual({ path, status: 200 });
    }
  });
});

describe('signing in', () => {
  test('the right password sets a signed, HttpOnly, SameSite=Lax cookie and goes back to `next`', async () => {
    const browser = new Browser();
    const res = await browser.signIn('alice', '/?status=Running');
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('/?status=Running');
    const cookie = res.headers.getSetCookie().find((c) => c.startsWith('buildstory_session='))!;
    expect(cookie).toMatch(/; HttpOnly/i);
    expect(cookie).toMatch(/; SameSite=Lax/i);
    expect(cookie).toMatch(/; Path=\//);
    expect(cookie).toMatch(/; Max-Age=43200/);
    // Over plain http the cookie cannot be Secure, or the browser would never send it back.
    expect(cookie).not.toMatch(/; Secure/i);
    const home = await browser.fetch('/');
    expect(home.status).toBe(200);
    expect(await home.text()).toContain('Signed in as <span class="font-medium text-slate-200">alice</span>');
  });

  test('behind a TLS proxy the cookie is Secure', async () => {
    const browser = new Browser();
    const csrf = await browser.field('/login', 'csrf');
    const res = await browser.post('/login', { csrf, user: 'bob', password: PASSWORDS.bob }, { 'X-Forwarded-Proto': 'https' });
    expect(res.status).toBe(302);
    expect(res.headers.getSetCookie().find((c) => c.startsWith('buildstory_session='))).toMatch(/; Secure/i);
  });

  test('a wrong password or an unknown user is refused, and nothing is signed in', async () => {
    const browser = new Browser();
    for (const [user, password] of [
      ['alice', PASSWORDS.bob],
      ['mallory', PASSWORDS.alice],
      ['alice', ''],
    ]) {
      const csrf = await browser.field('/login', 'csrf');
      const res = await browser.post('/login', { csrf, user, password });
      expect(res.status).toBe(401);
      expect(await res.text()).toContain('Wrong user name or password.');
    }
    expect((await browser.fetch('/')).status).toBe(302);
  });

  test('a sign-in without the form token, or from a browser without the form cookie, is refused', async () => {
    const browser = new Browser();
    const csrf = await browser.field('/login', 'csrf');
    const noToken = await browser.post('/login', { user: 'alice', password: PASSWORDS.alice });
    expect(noToken.status).toBe(403);
    const stranger = new Browser(); // another site's form: no cookie goes with it (SameSite=Lax)
    const noCookie = await stranger.post('/login', { csrf, user: 'alice', password: PASSWORDS.alice });
    expect(noCookie.status).toBe(403);
    expect(await noCookie.text()).toContain('This sign-in form has expired');
    expect((await stranger.fetch('/')).status).toBe(302);
  });

  test('`next` cannot send you to another site, however it is spelled', async () => {
    const tricks = [
      '//evil.example/',
      'https://evil.example/',
      '/\\evil.example',
      // Browsers drop tabs and newlines from URLs, and read a backslash as a slash.
      '/\t/evil.example',
      '/\n/evil.example',
      '/./\\evil.example',
      '/.//evil.example',
      '/%2e/%2fevil.example/..',
      '/\r\nSet-Cookie: x=1',
      'javascript:alert(1)',
    ];
    for (const next of tricks) {
      const res = await new Browser().signIn('alice', next);
      expect({ next, status: res.status, location: res.headers.get('location') }).toEqual({ next, status: 302, location: '/' });
    }
    // Already signed in, the sign-in page sends you on at once: the same check.
    const alice = await signedIn('alice');
    for (const next of tricks) {
      const res = await alice.fetch(`/login?next=${encodeURIComponent(next)}`);
      expect({ next, status: res.status, location: res.headers.get('location') }).toEqual({ next, status: 302, location: '/' });
    }
  });

  test('`next` on this site is kept, normalized', async () => {
    for (const [next, location] of [
      ['/?status=Running', '/?status=Running'],
      ['/runs/../?status=Failed', '/?status=Failed'],
      ['/runs/task-x#story', '/runs/task-x#story'],
    ]) {
      const res = await new Browser().signIn('alice', next);
      expect({ next, location: res.headers.get('location') }).toEqual({ next, location });
    }
  });

  test('a user name is compared exactly: `alice ` is not alice', async () => {
    const browser = new Browser();
    for (const user of ['alice ', ' alice', 'Alice']) {
      const csrf = await browser.field('/login', 'csrf');
      const res = await browser.post('/login', { csrf, user, password: PASSWORDS.alice });
      expect({ user, status: res.status }).toEqual({ user, status: 401 });
    }
  });

  test('a tampered cookie is no session', async () => {
    const browser = await signedIn('alice');
    const [name, value] = browser.cookie!.split('=');
    const decoded = Buffer.from(decodeURIComponent(value).split('.')[0], 'base64').toString();
    // Claim to be bob with alice's signature.
    const forged = Buffer.from(decoded.replace('"alice"', '"bob"')).toString('base64');
    browser.cookie = `${name}=${encodeURIComponent(`${forged}.${decodeURIComponent(value).split('.')[1]}`)}`;
    expect((await browser.fetch('/')).status).toBe(302);
  });

  test('after 10 failed attempts from one address: 429 with Retry-After, even for the right password', async () => {
    const browser = new Browser();
    for (let i = 0; i < 10; i++) {
      const csrf = await browser.field('/login', 'csrf');
      expect((await browser.post('/login', { csrf, user: 'alice', password: `wrong-${i}-password` })).status).toBe(401);
    }
    const csrf = await browser.field('/login', 'csrf');
    const res = await browser.post('/login', { csrf, user: 'alice', password: PASSWORDS.alice });
    expect(res.status).toBe(429);
    const retryAfter = Number(res.headers.get('Retry-After'));
    expect(retryAfter).toBeGreaterThan(800);
    expect(retryAfter).toBeLessThanOrEqual(900);
    expect(await res.text()).toMatch(/Too many sign-in attempts from your address: try again in 15 minutes\./);
    // Another address is not affected.
    expect((await new Browser().signIn('alice')).status).toBe(302);
  });

  test('successful sign-ins do not count against the limit', async () => {
    const ip = new Browser().ip;
    for (let i = 0; i < 12; i++) expect((await new Browser(ip).signIn('bob')).status).toBe(302);
  });
});

describe('owners', () => {
  test("a run is its starter's: recorded on the workflow, listed for them only", async () => {
    const alice = await signedIn('alice');
    const bob = await signedIn('bob');
    const workflowId = await alice.startRun('A task of Alice');
    expect((await describeRun(workflowId)).typedSearchAttributes.get(OWNER)).toBe('alice');

    // Visibility is eventually consistent: wait for the run to show up in Alice's list.
    const deadline = Date.now() + 10_000;
    while (!(await (await alice.fetch('/')).text()).includes(workflowId)) {
      if (Date.now() > deadline) throw new Error("the run never showed in Alice's list");
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(await (await bob.fetch('/')).text()).not.toContain(workflowId);
    expect(await (await bob.fetch('/?status=Running')).text()).not.toContain(workflowId);

    expect((await alice.fetch(`/runs/${workflowId}`)).status).toBe(200);
    const page = await bob.fetch(`/runs/${workflowId}`);
    expect(page.status).toBe(404);
    // The same answer as for an id that does not exist.
    expect(await page.text()).toContain('No run with this id');
  });

  test("someone else's run is 404 on its stream and every action, and the actions do nothing", async () => {
    const alice = await signedIn('alice');
    const bob = await signedIn('bob');
    const workflowId = await alice.startRun('Another task of Alice');

    const stream = await connectSse(`${stack.base}/runs/${workflowId}/events`, { Cookie: bob.cookie! });
    expect(stream.status).toBe(404);
    const own = await connectSse(`${stack.base}/runs/${workflowId}/events`, { Cookie: alice.cookie! });
    expect(own.status).toBe(200);
    own.close();

    const bobCsrf = await bob.field('/', 'csrf');
    for (const intent of ['cancel', 'run-again', 'retry-failed-step']) {
      const res = await bob.post(`/runs/${workflowId}`, { intent, csrf: bobCsrf, token: randomUUID() });
      expect({ intent, status: res.status }).toEqual({ intent, status: 404 });
    }
    expect((await describeRun(workflowId)).status.name).toBe('RUNNING');

    // Alice can: cancel, then resume from the cancelled step; the new run is still hers.
    const aliceCsrf = await alice.field(`/runs/${workflowId}`, 'csrf');
    expect((await alice.post(`/runs/${workflowId}`, { intent: 'cancel', csrf: aliceCsrf })).status).toBe(302);
    // The run ends once its step notices the cancellation.
    await expect(stack.env.client.workflow.getHandle(workflowId).result()).rejects.toThrow();
    const { runId: cancelledRun, status } = await describeRun(workflowId);
    expect(status.name).toBe('CANCELLED');
    expect((await alice.post(`/runs/${workflowId}`, { intent: 'retry-failed-step', csrf: aliceCsrf })).status).toBe(302);
    const reset = await describeRun(workflowId);
    expect(reset.runId).not.toBe(cancelledRun);
    expect(reset.typedSearchAttributes.get(OWNER)).toBe('alice');
    expect((await bob.fetch(`/runs/${workflowId}`)).status).toBe(404);

    const token = randomUUID();
    const again = await alice.post(`/runs/${workflowId}`, { intent: 'run-again', csrf: aliceCsrf, token });
    expect(again.status).toBe(302);
    expect(again.headers.get('location')).toBe(`/runs/${workflowIdFor(token, 'alice')}`);
    expect((await describeRun(workflowIdFor(token, 'alice'))).typedSearchAttributes.get(OWNER)).toBe('alice');
  });
});

describe('reviews', () => {
  test("only the run's owner can answer its review, and the story records who did", async () => {
    const alice = await signedIn('alice');
    const bob = await signedIn('bob');
    const res = await alice.post('/?index', {
      task: 'A reviewed task of Alice',
      token: await alice.field('/', 'token'),
      csrf: await alice.field('/', 'csrf'),
      review: 'on',
    });
    expect(res.status).toBe(302);
    const workflowId = res.headers.get('location')!.replace(/^\/runs\//, '');
    const handle = stack.env.client.workflow.getHandle<TaskWorkflow>(workflowId);
    const deadline = Date.now() + 30_000;
    while ((await handle.query(progressQuery)).review === null) {
      if (Date.now() > deadline) throw new Error('the run never waited for review');
      await new Promise((r) => setTimeout(r, 100));
    }
    const answer = (browser: Browser, csrf: string) =>
      browser.post(`/runs/${workflowId}`, { intent: 'review-approve', csrf, token: randomUUID(), revision: '1' });
    expect((await answer(bob, await bob.field('/', 'csrf'))).status).toBe(404);
    expect((await answer(alice, 'not-the-token')).status).toBe(403);
    expect((await handle.query(progressQuery)).review).not.toBeNull();
    expect((await answer(alice, await alice.field('/', 'csrf'))).status).toBe(302);
    const final = await handle.result();
    expect(final.events.find((e) => e.type === 'review.approved')).toMatchObject({ by: 'alice' });
  });
});

describe('re-runs', () => {
  test("someone else's run cannot be re-run (404, nothing starts); one's own re-run is one's own, listed on its parent for its owner", async () => {
    const alice = await signedIn('alice');
    const bob = await signedIn('bob');
    const parentId = await alice.startRun('A task of Alice to re-run');
    const parent = (await stack.env.client.workflow.getHandle(parentId).result()) as { plan: { steps: unknown[] } };
    const edit = JSON.stringify({
      steps: parent.plan.steps.slice(1).map((_, i) => ({ from: i + 1, title: `Step ${i + 2} again`, instructions: '' })),
    });

    expect((await bob.fetch(`/runs/${parentId}/rerun?from=2`)).status).toBe(404);
    const bobTry = await bob.post(`/runs/${parentId}/rerun`, { from: '2', edit, token: randomUUID(), csrf: await bob.field('/', 'csrf') });
    expect(bobTry.status).toBe(404);

    const token = await alice.field(`/runs/${parentId}/rerun?from=2`, 'token');
    const started = await alice.post(`/runs/${parentId}/rerun`, { from: '2', edit, token, csrf: await alice.field('/', 'csrf') });
    expect(started.status).toBe(302);
    const childId = started.headers.get('location')!.replace(/^\/runs\//, '');
    expect(childId).toBe(workflowIdFor(token, 'alice'));
    expect((await describeRun(childId)).typedSearchAttributes.get(OWNER)).toBe('alice');
    // Bob's attempt started nothing: the only re-run of the parent is Alice's.
    const reruns = await stack.env.client.workflow.list({ query: `BuildstoryParent = '${parentId}'` });
    const ids: string[] = [];
    for await (const run of reruns) ids.push(run.workflowId);
    expect(ids).toEqual([childId]);
    expect(await (await alice.fetch(`/runs/${parentId}`)).text()).toContain(`/runs/${childId}`);
  });
});

describe('run ids', () => {
  test("another user's form token starts a run of one's own: it tells nothing about theirs", async () => {
    const alice = await signedIn('alice');
    const bob = await signedIn('bob');
    const token = await alice.field('/', 'token');
    const started = await alice.post('/?index', { task: 'Alice with her token', token, csrf: await alice.field('/', 'csrf') });
    const aliceRun = started.headers.get('location')!.replace(/^\/runs\//, '');
    const bobPost = await bob.post('/?index', { task: 'Bob with the same token', token, csrf: await bob.field('/', 'csrf') });
    expect(bobPost.status).toBe(302);
    const bobRun = bobPost.headers.get('location')!.replace(/^\/runs\//, '');
    expect(bobRun).not.toBe(aliceRun);
    expect((await describeRun(bobRun)).typedSearchAttributes.get(OWNER)).toBe('bob');
    expect((await describeRun(aliceRun)).typedSearchAttributes.get(OWNER)).toBe('alice');
    // The same as a token nobody used: a new run, the poster's own.
    const fresh = await bob.post('/?index', { task: 'Bob with a new token', token: randomUUID(), csrf: await bob.field('/', 'csrf') });
    expect(fresh.status).toBe(302);
    // And the same token again from Bob is his run again, not a second one.
    const again = await bob.post('/?index', { task: 'Bob with the same token', token, csrf: await bob.field('/', 'csrf') });
    expect(again.headers.get('location')).toBe(`/runs/${bobRun}`);
    for (const id of [aliceRun, bobRun, fresh.headers.get('location')!.replace(/^\/runs\//, '')]) {
      await stack.env.client.workflow.getHandle(id).terminate('test over');
    }
  });
});

describe('cross-site request forgery', () => {
  test('starting a run without the CSRF token, or with a wrong one, is 403 and starts nothing', async () => {
    const alice = await signedIn('alice');
    const bob = await signedIn('bob');
    for (const csrf of [undefined, '', 'not-the-token', await bob.field('/', 'csrf')]) {
      const token = await alice.field('/', 'token');
      const res = await alice.post('/?index', { task: 'Forged task', token, ...(csrf === undefined ? {} : { csrf }) });
      expect(res.status).toBe(403);
      expect(await res.text()).toMatch(CSRF_MESSAGE);
      await expect(describeRun(workflowIdFor(token, 'alice'))).rejects.toBeInstanceOf(WorkflowNotFoundError);
    }
  });

  test('run actions without the CSRF token are 403 and do nothing', async () => {
    const alice = await signedIn('alice');
    const workflowId = await alice.startRun();
    for (const csrf of [undefined, 'not-the-token']) {
      const res = await alice.post(`/runs/${workflowId}`, { intent: 'cancel', ...(csrf === undefined ? {} : { csrf }) });
      expect(res.status).toBe(403);
      expect(await res.text()).toMatch(CSRF_MESSAGE);
    }
    expect((await describeRun(workflowId)).status.name).toBe('RUNNING');
    await stack.env.client.workflow.getHandle(workflowId).terminate('test over');
  });

  test('each session has its own token, and a new sign-in gets a new one', async () => {
    const browser = await signedIn('alice');
    const first = await browser.field('/', 'csrf');
    expect(await browser.field('/?status=Completed', 'csrf')).toBe(first);
    browser.cookie = null;
    expect((await browser.signIn('alice')).status).toBe(302);
    expect(await browser.field('/', 'csrf')).not.toBe(first);
  });
});

describe('headers and odd requests', () => {
  test('over https (behind a trusted proxy) responses carry HSTS; over http they do not', async () => {
    const browser = new Browser();
    const secure = await browser.fetch('/login', { headers: { 'X-Forwarded-Proto': 'https' } });
    expect(secure.headers.get('strict-transport-security')).toBe('max-age=31536000');
    const plain = await browser.fetch('/login');
    expect(plain.headers.get('strict-transport-security')).toBeNull();
  });

  test('private pages and their data are not cached', async () => {
    const alice = await signedIn('alice');
    const workflowId = await alice.startRun('Private');
    for (const path of ['/', `/runs/${workflowId}`, `/runs/${workflowId}.data`, '/_root.data']) {
      const res = await alice.fetch(path);
      expect({ path, cacheControl: res.headers.get('cache-control') }).toEqual({ path, cacheControl: 'no-store' });
    }
    await stack.env.client.workflow.getHandle(workflowId).terminate('test over');
  });

  test('a sign-out or sign-in that is not a form is 415, not a 500', async () => {
    const alice = await signedIn('alice');
    for (const path of ['/logout', '/login']) {
      const res = await alice.fetch(path, { method: 'POST', body: '{}', headers: { 'Content-Type': 'application/json' } });
      expect({ path, status: res.status }).toEqual({ path, status: 415 });
    }
    expect((await alice.fetch('/')).status).toBe(200); // still signed in
  });
});

describe('signing out', () => {
  test('ends the session: the cookie is cleared and a copy of it no longer works', async () => {
    const browser = await signedIn('alice');
    const copy = browser.cookie;
    const csrf = await browser.field('/', 'csrf');
    expect((await browser.post('/logout', {})).status).toBe(403); // another site cannot sign you out
    const res = await browser.post('/logout', { csrf });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('/login');
    expect(browser.cookie).toBeNull();
    expect((await browser.fetch('/')).status).toBe(302);
    browser.cookie = copy;
    expect((await browser.fetch('/')).status).toBe(302);
  });
});
