/** Too many submissions from one client: 429 with Retry-After, a clear message, nothing started. */
import { WorkflowNotFoundError } from '@temporalio/client';
import { formToken, submitTask } from '../devstack/form';
import { startStack, type Stack } from './setup/stack';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ name: 'rate-limit', webEnv: { SUBMIT_RATE_LIMIT_PER_MINUTE: '3' } });
});
afterAll(async () => {
  await stack?.close();
});

test('the submission over the per-minute limit gets 429 with Retry-After and starts nothing', async () => {
  for (let i = 0; i < 3; i++) {
    const res = await submitTask(stack.base, `Task number ${i}`, await formToken(stack.base));
    expect(res.status).toBe(302);
  }
  const token = await formToken(stack.base);
  const res = await submitTask(stack.base, 'One too many', token);
  expect(res.status).toBe(429);
  const retryAfter = Number(res.headers.get('Retry-After'));
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(60);
  const html = await res.text();
  expect(html).toMatch(/Too many tasks from your address in the last minute: try again in \d+ s\./);
  // What was typed stays in the form.
  expect(html).toContain('One too many');
  await expect(stack.env.client.workflow.getHandle(`task-${token}`).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
});

test('a body far past any task is refused before it is read', async () => {
  const res = await fetch(`${stack.base}/?index`, {
    method: 'POST',
    body: `task=${'z'.repeat(2 * 1024 * 1024)}&token=${await formToken(stack.base)}`,
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
  });
  expect(res.status).toBe(413);
});
