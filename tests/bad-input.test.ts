/**
 * Bad input at the front door: every rejected input gets a clear error and starts nothing;
 * every accepted one completes. Over HTTP against the running app, as a browser without
 * JavaScript sends it.
 */
import { WorkflowNotFoundError } from '@temporalio/client';
import type { ProgressSnapshot } from '../workflows/shared';
import { formToken, startStack, submitTask, type Stack } from './setup/stack';

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
