/**
 * Bad input at the front door: every rejected input gets a clear error and starts nothing;
 * every accepted one completes. Over HTTP against the running app, as a browser without
 * JavaScript sends it.
 */
import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { ProgressSnapshot } from '../contract/data';
import { formToken, submitTask } from '../devstack/form';
import { startStack, type Stack } from './setup/stack';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ name: 'bad-input' });
});
afterAll(async () => {
  await stack?.close();
});
beforeEach(() => stack.llm.reset());

async function expectNothingStarted(token: string): Promise<void> {
  await expect(stack.env.client.workflow.getHandle(`task-${token}`).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
}

async function completedTask(token: string): Promise<string> {
  const snapshot = (await stack.env.client.workflow.getHandle(`task-${token}`).result()) as ProgressSnapshot;
  expect(snapshot.status).toBe('completed');
  return snapshot.task;
}

function post(body: string, contentType = 'application/x-www-form-urlencoded'): Promise<Response> {
  return fetch(`${stack.base}/?index`, { method: 'POST', body, headers: { 'Content-Type': contentType }, redirect: 'manual' });
}

test.each([
  ['over the 4,000-character limit', 'x'.repeat(4_001)],
  ['100 KB', 'y'.repeat(100 * 1024)],
  ['only control characters and NUL', '\u0000\u0001\u0007\u001b'],
])('a task %s is refused with a clear error and starts nothing', async (_name, task) => {
  const token = await formToken(stack.base);
  const res = await submitTask(stack.base, task, token);
  expect(res.status).toBe(400);
  expect(await res.text()).toMatch(/4000 characters or fewer|cannot be empty/);
  await expectNothingStarted(token);
});

test('a missing or malformed form token is refused clearly and starts nothing', async () => {
  const missing = await post(new URLSearchParams({ task: 'Say hi' }).toString());
  expect(missing.status).toBe(400);
  expect(await missing.text()).toMatch(/missing its token/);
  const malformed = await post(new URLSearchParams({ task: 'Say hi', token: 'task-../../x' }).toString());
  expect(malformed.status).toBe(400);
  expect(await malformed.text()).toMatch(/token is not valid/);
  expect(stack.llm.calls).toHaveLength(0);
});

test('control characters and NUL inside a task are stripped; the rest is kept and the run completes', async () => {
  const token = await formToken(stack.base);
  const res = await submitTask(stack.base, 'Say\u0000 hello\u0007 to\u001b the\tworld\r\nplease', token);
  expect(res.status).toBe(302);
  expect(await completedTask(token)).toBe('Say hello to the\tworld\nplease');
});

test('odd Unicode (RTL, emoji, combining marks) is kept exactly and shown as typed', async () => {
  const task = 'اكتب دالة ترحيب 👋🏽 in Python — e\u0301te\u0301 ‮reversed‬ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢';
  const token = await formToken(stack.base);
  expect((await submitTask(stack.base, task, token)).status).toBe(302);
  expect(await completedTask(token)).toBe(task);
  const html = await (await fetch(`${stack.base}/runs/task-${token}`)).text();
  expect(html).toContain(task);
});

test('invalid UTF-8 in the form body becomes replacement characters, not an error', async () => {
  const token = await formToken(stack.base);
  const res = await post(`task=Say%20hi%FF%FE%20there&token=${token}`);
  expect(res.status).toBe(302);
  expect(await completedTask(token)).toBe('Say hi\uFFFD\uFFFD there');
});

test('HTML and script in the task and in the model output are shown as text, never as markup', async () => {
  const script = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">';
  stack.llm.program({ kind: 'step', content: `Here is markup: ${script}\n\n[click](javascript:alert(1))`, times: Infinity });
  const token = await formToken(stack.base);
  expect((await submitTask(stack.base, `Explain ${script}`, token)).status).toBe(302);
  await completedTask(token);
  const html = await (await fetch(`${stack.base}/runs/task-${token}`)).text();
  expect(html).not.toContain('<script>window.__pwned');
  expect(html).not.toMatch(/<img[^>]*onerror/);
  expect(html).not.toContain('href="javascript:');
  expect(html).toContain('&lt;script&gt;window.__pwned = 1&lt;/script&gt;');
});

/** Sends a request head with `Transfer-Encoding: chunked` and one chunk, and reads what comes back. */
function chunkedUpload(path: string, firstChunk: string): Promise<{ status: number; body: string; closedByServer: boolean }> {
  const { hostname, port } = new URL(stack.base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let received = '';
    socket.setEncoding('utf8');
    socket.on('data', (text: string) => (received += text));
    socket.on('error', reject);
    const answer = (closedByServer: boolean) => {
      socket.destroy();
      const [head, body = ''] = received.split('\r\n\r\n');
      resolve({ status: Number(head.split(' ')[1]), body, closedByServer });
    };
    socket.on('end', () => answer(true));
    // A server that waits for the rest of the body never closes: give up and say so.
    socket.setTimeout(10_000, () => answer(false));
    socket.write(
      `POST ${path} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nContent-Type: application/x-www-form-urlencoded\r\n` +
        `Transfer-Encoding: chunked\r\n\r\n${Buffer.byteLength(firstChunk).toString(16)}\r\n${firstChunk}\r\n`,
    );
  });
}

describe('requests that are refused before any route reads them (not a 500, nothing started)', () => {
  const anyRun = () => `/runs/task-${randomUUID()}`;

  test.each([
    ['no content type', undefined],
    ['JSON', 'application/json'],
    ['plain text', 'text/plain'],
  ])('a form post with %s is 415 on the home page and a run page', async (_name, contentType) => {
    const token = await formToken(stack.base);
    for (const path of ['/?index', anyRun()]) {
      const res = await fetch(`${stack.base}${path}`, {
        method: 'POST',
        body: new TextEncoder().encode(`task=Say+hi&token=${token}&intent=cancel`),
        headers: contentType ? { 'Content-Type': contentType } : {},
        redirect: 'manual',
      });
      expect({ path, status: res.status }).toEqual({ path, status: 415 });
      expect(await res.text()).toContain('Send the form as application/x-www-form-urlencoded or multipart/form-data.');
    }
    await expectNothingStarted(token);
  });

  test('a malformed multipart body is 400', async () => {
    const token = await formToken(stack.base);
    const res = await post(`--x\r\nContent-Disposition: form-data; name="task"\r\n\r\nSay hi`, 'multipart/form-data; boundary=x');
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('The form could not be read');
    await expectNothingStarted(token);
  });

  test.each([
    ['another site', 'https://evil.example'],
    ['an opaque origin', 'null'],
    ['a malformed origin', 'not a url'],
  ])('a form post from %s (Origin) is 403 and starts nothing', async (_name, origin) => {
    const token = await formToken(stack.base);
    const res = await fetch(`${stack.base}/?index`, {
      method: 'POST',
      body: new URLSearchParams({ task: 'Cross-site task', token }),
      headers: { Origin: origin },
      redirect: 'manual',
    });
    expect(res.status).toBe(403);
    expect(await res.text()).toContain('This form was sent from another site');
    await expectNothingStarted(token);
  });

  test('a form post from this site (Origin) still starts its run', async () => {
    const token = await formToken(stack.base);
    const res = await fetch(`${stack.base}/?index`, {
      method: 'POST',
      body: new URLSearchParams({ task: 'Same-site task', token }),
      headers: { Origin: new URL(stack.base).origin },
      redirect: 'manual',
    });
    expect(res.status).toBe(302);
    expect(await completedTask(token)).toBe('Same-site task');
  });

  test('a body of unknown length (chunked) is answered 411 and its connection closed, before the body is read', async () => {
    const token = await formToken(stack.base);
    for (const path of ['/?index', anyRun(), '/login']) {
      // An upload that would go on for 300 MB: the head and a first chunk, then it waits for the answer.
      const { status, body, closedByServer } = await chunkedUpload(path, `task=${'x'.repeat(64 * 1024)}&token=${token}`);
      expect({ path, status, closedByServer }).toEqual({ path, status: 411, closedByServer: true });
      expect(body).toContain('Send the request body with a Content-Length');
    }
    await expectNothingStarted(token);
  });

  test('a run page action over 64 KB and a sign-in over 16 KB are 413', async () => {
    const big = (bytes: number) => new URLSearchParams({ intent: 'cancel', pad: 'p'.repeat(bytes) });
    const action = await fetch(`${stack.base}${anyRun()}`, { method: 'POST', body: big(70 * 1024), redirect: 'manual' });
    expect(action.status).toBe(413);
    expect(await action.text()).toContain('at most 65,536 bytes');
    const signIn = await fetch(`${stack.base}/login`, { method: 'POST', body: big(20 * 1024), redirect: 'manual' });
    expect(signIn.status).toBe(413);
  });
});

test('C1 control characters are stripped from a task like C0 ones', async () => {
  const token = await formToken(stack.base);
  const res = await submitTask(stack.base, 'Say\u0085 hi\u009b31m to\u0080 all', token);
  expect(res.status).toBe(302);
  expect(await completedTask(token)).toBe('Say hi31m to all');
});

test('pages and their data are not cached (Cache-Control: no-store)', async () => {
  const token = await formToken(stack.base);
  expect((await submitTask(stack.base, 'A private task', token)).status).toBe(302);
  for (const path of [
    '/',
    `/runs/task-${token}`,
    `/runs/task-${token}.data`,
    '/_root.data',
    '/runs/task-00000000-0000-0000-0000-000000000000',
  ]) {
    const res = await fetch(`${stack.base}${path}`);
    expect({ path, cacheControl: res.headers.get('cache-control') }).toEqual({ path, cacheControl: 'no-store' });
  }
  await completedTask(token);
});

test('with workers on a real model (here the test LLM server) the home page says nothing of the offline model', async () => {
  const html = await (await fetch(`${stack.base}/`)).text();
  expect(html).toContain('What should be built?');
  expect(html).not.toContain('offline model');
});
