/**
 * The web app over HTTP, as a browser without JavaScript uses it: the real server process
 * (web/server.ts on the production build) against the run's dev server, with a worker.
 */
import { createHash, randomUUID } from 'node:crypto';
import { unzipSync } from 'fflate';
import type { ProgressSnapshot } from '../contract/data';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { OfflineProvider } from '../activities/llm/offline';
import { formToken, submitTask } from '../devstack/form';
import { startPart, webPart, type ServedPartSpec, type StartedPart } from '../devstack/parts';
import { freePort } from '../devstack/processes';
import { connectTestEnv, createTestWorker, sharedServer, uniqueTaskQueue } from './setup/temporal';

let env: TestWorkflowEnvironment;
let worker: Worker;
let workerRun: Promise<void>;
let web: StartedPart<ServedPartSpec> | undefined;
let base: string;

beforeAll(async () => {
  env = await connectTestEnv();
  const taskQueue = uniqueTaskQueue('web');
  worker = await createTestWorker(env, taskQueue, new OfflineProvider(1));
  workerRun = worker.run();
  web = startPart(
    webPart({
      port: await freePort(),
      env: { TEMPORAL_ADDRESS: sharedServer().address, TEMPORAL_TASK_QUEUE: taskQueue, LOG_LEVEL: 'warn' },
    }),
  );
  base = web.base;
  await web.ready();
});

afterAll(async () => {
  await web?.stop();
  worker?.shutdown();
  await workerRun;
  await env?.teardown();
});

async function pageWhen(path: string, pattern: RegExp, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let html = '';
  while (Date.now() < deadline) {
    html = await (await fetch(`${base}${path}`)).text();
    if (pattern.test(html)) return html;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${path} never matched ${pattern}; last page:\n${html.slice(0, 2_000)}`);
}

test('the home page says the workers use the offline model: they say so in their Temporal identity', async () => {
  const html = await (await fetch(`${base}/`)).text();
  expect(html).toContain('The workers use the built-in offline model');
});

test('submitting the form starts a run, redirects to its page, and the page shows it completed', async () => {
  const token = await formToken(base);
  const res = await submitTask(base, 'Create a hello world python function', token);
  expect(res.status).toBe(302);
  expect(res.headers.get('location')).toBe(`/runs/task-${token}`);

  const html = await pageWhen(`/runs/task-${token}`, /Completed/);
  expect(html).toContain('offline model');
  // Rendered as Markdown with highlighted code: the function's name sits in its own span.
  expect(html).toMatch(/<code class="hljs language-python">.*hello_world<\/span>\(\) -&gt; /s);
  expect(html).toContain('Pin down the requirements');
  const { status } = await env.client.workflow.getHandle(`task-${token}`).describe();
  expect(status.name).toBe('COMPLETED');
  // What it spent, from the story: the offline model's tokens, at its price of nothing.
  const final = (await env.client.workflow.getHandle(`task-${token}`).result()) as { spend: { tokens: number } };
  expect(final.spend.tokens).toBeGreaterThan(0);
  expect(html.replace(/<!-- -->/g, '')).toContain(`Spent: ${final.spend.tokens.toLocaleString('en-US')} tokens · $0.0000`);
});

test('a verified run: its page says Verified and lists its files; a file shows highlighted, downloads byte for byte, and all come as a zip', async () => {
  const token = await formToken(base);
  await submitTask(base, 'Create a hello world python function', token);
  const workflowId = `task-${token}`;
  const html = await pageWhen(`/runs/${workflowId}`, /data-testid="run-verified"[^>]*>Verified</);
  const final = (await env.client.workflow.getHandle(workflowId).result()) as ProgressSnapshot;
  const report = final.steps.find((s) => s.verification)!.verification!.report!;
  expect(report.verdict).toBe('passed');
  expect(report.files.length).toBeGreaterThanOrEqual(2);
  for (const file of report.files) {
    expect(html).toContain(`/runs/${workflowId}/files/${file.sha256}`);
    // The view: highlighted, with its size and hash.
    const view = await (await fetch(`${base}/runs/${workflowId}/files/${file.sha256}`)).text();
    expect(view).toContain(file.sha256);
    expect(view).toMatch(/<code class="hljs language-python">/);
    // The download: the exact bytes the report hashed, as text, never rendered.
    const raw = await fetch(`${base}/runs/${workflowId}/files/${file.sha256}/raw`);
    expect(raw.status).toBe(200);
    expect(raw.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(raw.headers.get('content-disposition')).toMatch(/^attachment; filename="/);
    const bytes = Buffer.from(await raw.arrayBuffer());
    expect(bytes.length).toBe(file.bytes);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(file.sha256);
  }
  const zip = await fetch(`${base}/runs/${workflowId}/files.zip`);
  expect(zip.headers.get('content-type')).toBe('application/zip');
  const unpacked = unzipSync(new Uint8Array(await zip.arrayBuffer()));
  expect(Object.keys(unpacked).sort()).toEqual(report.files.map((f) => f.path).sort());
  for (const file of report.files) expect(createHash('sha256').update(unpacked[file.path]).digest('hex')).toBe(file.sha256);
  // A hash the run never recorded is not served, even one of another run's files.
  expect((await fetch(`${base}/runs/${workflowId}/files/${'0'.repeat(64)}/raw`)).status).toBe(404);
  expect((await fetch(`${base}/runs/task-${randomUUID()}/files/${report.files[0].sha256}/raw`)).status).toBe(404);
});

test('the same form submitted twice, and again after the run ended, gives one run', async () => {
  const token = await formToken(base);
  const [first, second] = await Promise.all([submitTask(base, 'Say hello twice', token), submitTask(base, 'Say hello twice', token)]);
  expect([first.status, second.status]).toEqual([302, 302]);
  expect(second.headers.get('location')).toBe(first.headers.get('location'));

  const handle = env.client.workflow.getHandle(`task-${token}`);
  const { runId } = await handle.describe();
  await handle.result();
  const again = await submitTask(base, 'Say hello twice', token);
  expect(again.status).toBe(302);
  expect(again.headers.get('location')).toBe(`/runs/task-${token}`);
  // Still the one run: no second run was started for this token.
  const after = await handle.describe();
  expect(after.runId).toBe(runId);
  const runs = [];
  for await (const run of env.client.workflow.list({ query: `WorkflowId = "task-${token}"` })) runs.push(run.runId);
  expect(new Set(runs).size).toBeLessThanOrEqual(1);
});

test('an empty task is refused with a clear error and starts nothing', async () => {
  const token = await formToken(base);
  const res = await submitTask(base, '   \n  ', token);
  expect(res.status).toBe(400);
  const html = await res.text();
  expect(html).toMatch(/cannot be empty/);
  await expect(env.client.workflow.getHandle(`task-${token}`).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
});

test('an unknown run id is a 404 page', async () => {
  const res = await fetch(`${base}/runs/task-${randomUUID()}`);
  expect(res.status).toBe(404);
  expect(await res.text()).toMatch(/No run with this id/);
  expect((await fetch(`${base}/runs/not-a-run`)).status).toBe(404);
});

test("the form's limits reach the run: a step limit of 1 ends it after one step, as 'Budget reached'", async () => {
  const token = await formToken(base);
  const res = await fetch(`${base}/?index`, {
    method: 'POST',
    body: new URLSearchParams({ task: 'Create a hello world python function', token, budgetSteps: '1' }),
    redirect: 'manual',
  });
  expect(res.status).toBe(302);
  const html = await pageWhen(`/runs/task-${token}`, /Budget reached: steps \(1 of 1\)/);
  expect(html).toContain('Why the run stopped');
  const refused = await fetch(`${base}/?index`, {
    method: 'POST',
    body: new URLSearchParams({ task: 'Create a hello world python function', token: await formToken(base), budgetSteps: '9' }),
    redirect: 'manual',
  });
  expect(refused.status).toBe(400);
  expect(await refused.text()).toContain('A limit is not valid: steps must be at most 8');
});
