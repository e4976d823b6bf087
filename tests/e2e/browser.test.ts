/**
 * The product in a real browser: Debian's Chromium driven by playwright-core, against the web app
 * process, the run's Temporal dev server and a worker whose model is the test LLM server.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../../devstack/browser';
import { sharedServer } from '../setup/temporal';
import { startStack, type Stack } from '../setup/stack';
import type { ProgressSnapshot } from '../../contract/data';

const SCREENSHOTS = process.env.SCREENSHOT_DIR ?? join(__dirname, '..', '..', 'test-results');

let stack: Stack;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  stack = await startStack({ name: 'browser' });
  browser = await launchChromium();
  mkdirSync(SCREENSHOTS, { recursive: true });
});
afterAll(async () => {
  await browser?.close();
  await stack?.close();
});
beforeEach(async () => {
  stack.llm.reset();
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
});
afterEach(async () => {
  await page?.close();
});

const badge = () => page.locator('article header [role="status"]');

/** Wait for the run page's badge to read exactly `text`. */
function waitForStatus(text: string, timeout = 60_000) {
  return badge()
    .filter({ hasText: new RegExp(`^${text}$`) })
    .waitFor({ timeout });
}

async function submitTask(task: string): Promise<string> {
  await page.goto(`${stack.base}/`);
  await page.getByLabel('Task', { exact: true }).fill(task);
  await page.getByRole('button', { name: 'Start the run' }).click();
  await page.waitForURL(/\/runs\/task-[0-9a-f-]{36}$/);
  const workflowId = new URL(page.url()).pathname.split('/').pop()!;
  // The URL can change a moment before the run page renders.
  await page.getByRole('heading', { name: workflowId }).waitFor();
  return workflowId;
}

async function finalSnapshot(workflowId: string): Promise<ProgressSnapshot> {
  return (await stack.env.client.workflow.getHandle(workflowId).result()) as ProgressSnapshot;
}

/** Story rows on the page, by seq. */
async function shownSeqs(): Promise<number[]> {
  return page.locator('li[data-seq]').evaluateAll((items) => items.map((li) => Number(li.getAttribute('data-seq'))));
}

const nonOutputSeqs = (snapshot: ProgressSnapshot) => snapshot.events.filter((e) => e.type !== 'step.output').map((e) => e.seq);
const stepCalls = (stepIndex: number) => stack.llm.calls.filter((c) => c.kind === 'step' && c.stepIndex === stepIndex).length;

test('submit the sample task and watch events and partial output arrive before the run ends', async () => {
  stack.llm.program({ kind: 'step', delayMs: 80, times: Infinity });
  const workflowId = await submitTask('Create a hello world python function');

  await page.getByTestId('step-0-output').waitFor();
  // Partial output is on the page while the run is still going.
  expect(await badge().textContent()).toBe('Running');
  const partial = (await page.getByTestId('step-0-output').textContent()) ?? '';
  expect(partial.length).toBeGreaterThan(0);

  await waitForStatus('Completed');
  const final = await finalSnapshot(workflowId);
  // The streamed text became the final text: every sentence of the output is there, once.
  for (const step of final.steps) {
    const shown = (await page.getByTestId(`step-${step.index}-output`).textContent()) ?? '';
    const sentence = `This is the output of step ${step.index + 1}, "${step.title}", written by the test LLM server.`;
    expect(step.output).toContain(sentence);
    expect(shown.split(sentence)).toHaveLength(2);
    expect(shown.split('A second point, so that the text spans several chunks.')).toHaveLength(2);
  }
  expect(await shownSeqs()).toEqual(nonOutputSeqs(final));
  await page.getByTestId('result').waitFor();
  await page.screenshot({ path: join(SCREENSHOTS, 'run-completed.png'), fullPage: true });
});

test('reload mid-run: every event is shown exactly once', async () => {
  stack.llm.program({ kind: 'step', delayMs: 100, times: Infinity });
  const workflowId = await submitTask('Write a haiku about durable execution');
  await page.locator('li[data-seq]', { hasText: 'step.started' }).first().waitFor();
  await page.reload();
  await waitForStatus('Completed');
  const seqs = await shownSeqs();
  expect(new Set(seqs).size).toBe(seqs.length);
  expect(seqs).toEqual(nonOutputSeqs(await finalSnapshot(workflowId)));
});

test('cancel a running run', async () => {
  stack.llm.program({ kind: 'step', delayMs: 300, times: Infinity });
  const workflowId = await submitTask('A long task to cancel');
  await page.getByTestId('step-0-output').waitFor();
  await page.getByRole('button', { name: 'Cancel' }).click();
  await waitForStatus('Cancelled', 30_000);
  const { status } = await stack.env.client.workflow.getHandle(workflowId).describe();
  expect(status.name).toBe('CANCELLED');
  expect(await page.getByRole('button', { name: /Resume from the cancelled step|Retry from the failed step/ }).count()).toBe(1);
});

test('a step that fails for good, then "Retry from the failed step" completes without re-running earlier steps', async () => {
  stack.llm.program({ kind: 'step', stepIndex: 1, status: 401 });
  const workflowId = await submitTask('Create a hello world python function');
  await waitForStatus('Failed', 30_000);
  await page
    .getByText(/API key/)
    .first()
    .waitFor();
  expect([stepCalls(0), stepCalls(1), stepCalls(2)]).toEqual([1, 1, 0]);

  await page.getByRole('button', { name: 'Retry from the failed step' }).click();
  await waitForStatus('Completed');
  // Planning and step 1 ran once; step 2 ran again once; step 3 once.
  expect(stack.llm.calls.filter((c) => c.kind === 'plan')).toHaveLength(1);
  expect([stepCalls(0), stepCalls(1), stepCalls(2)]).toEqual([1, 2, 1]);
  const { status } = await stack.env.client.workflow.getHandle(workflowId).describe();
  expect(status.name).toBe('COMPLETED');
});

test('a reset made with the Temporal CLI is followed by the open run page', async () => {
  stack.llm.program({ kind: 'step', stepIndex: 2, delayMs: 150, times: 1 });
  const workflowId = await submitTask('Create a hello world python function');
  const handle = stack.env.client.workflow.getHandle(workflowId);
  const { runId: firstRun } = await handle.describe();
  await page.locator('[data-testid="step-2"][data-status="running"]').waitFor({ timeout: 30_000 });

  execFileSync(process.env.TEMPORAL_CLI!, [
    'workflow',
    'reset',
    '--address',
    sharedServer().address,
    '--workflow-id',
    workflowId,
    '--type',
    'FirstWorkflowTask',
    '--reason',
    'browser test',
    '--yes',
  ]);
  await waitForStatus('Completed');
  const { runId: latest } = await handle.describe();
  expect(latest).not.toBe(firstRun);
  // The page shows the new run: its story starts again, and the Temporal UI link names it.
  await page.locator(`a[href*="${latest}"]`).waitFor({ timeout: 15_000 });
  expect(await shownSeqs()).toEqual(nonOutputSeqs(await finalSnapshot(workflowId)));
  expect(stack.llm.calls.filter((c) => c.kind === 'plan')).toHaveLength(2);
});

test('the form shows the validation error for an empty task and starts nothing', async () => {
  await page.goto(`${stack.base}/`);
  await page.getByLabel('Task', { exact: true }).fill('   ');
  await page.getByRole('button', { name: 'Start the run' }).click();
  await page.getByText(/cannot be empty/).waitFor();
  expect(new URL(page.url()).pathname).toBe('/');
  expect(stack.llm.calls).toHaveLength(0);
  await page.goto(`${stack.base}/`);
  await page.screenshot({ path: join(SCREENSHOTS, 'home.png'), fullPage: true });
});

test('script in the task and in model output never runs in the browser', async () => {
  const script = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">';
  stack.llm.program({ kind: 'step', content: `Markup: ${script}`, times: Infinity });
  const workflowId = await submitTask(`Explain ${script}`);
  await waitForStatus('Completed');
  await finalSnapshot(workflowId);
  await page.reload();
  await waitForStatus('Completed');
  expect(await page.evaluate(() => (globalThis as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
  expect(await page.getByText('<script>window.__pwned = 1</script>', { exact: false }).count()).toBeGreaterThan(0);
});

test('code in model output is highlighted on the live page and after a reload, which hydrates without errors', async () => {
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(error.message));
  const code = '```python\ndef hello_world() -> str:\n    return "Hello, world!"\n```';
  stack.llm.program({ kind: 'step', content: `The function:\n\n${code}\n`, times: Infinity });
  await submitTask('Create a hello world python function');
  await waitForStatus('Completed');
  // Highlighting is fetched on demand: the keyword sits in its own span once it has arrived.
  const keyword = page.getByTestId('step-0-output').locator('code.hljs.language-python .hljs-keyword', { hasText: 'def' });
  await keyword.waitFor();
  // Rendered by the server, then hydrated: the same highlighted code, and React has nothing to say.
  await page.reload();
  await waitForStatus('Completed');
  await keyword.waitFor();
  await page.getByTestId('result').locator('code.hljs.language-python').first().waitFor();
  expect(errors).toEqual([]);
});

test('security headers are set and the pages run under the Content-Security-Policy without violations', async () => {
  const violations: string[] = [];
  page.on('console', (message) => {
    if (/Content.Security.Policy|Refused to/i.test(message.text())) violations.push(message.text());
  });
  const response = await page.goto(`${stack.base}/`);
  const headers = response!.headers();
  const csp = headers['content-security-policy'];
  expect(csp).toMatch(/script-src 'self' 'nonce-[A-Za-z0-9+/=]{16,}'/);
  expect(csp).toContain("frame-ancestors 'none'");
  expect(headers['x-content-type-options']).toBe('nosniff');
  expect(headers['x-frame-options']).toBe('SAMEORIGIN');
  expect(headers['x-powered-by']).toBeUndefined();
  // A fresh nonce per response.
  const again = (await (await fetch(`${stack.base}/`)).headers.get('content-security-policy')) ?? '';
  expect(again).not.toBe(csp);
  // The live page works under the policy: hydration, the event stream, the result.
  stack.llm.program({ kind: 'step', delayMs: 20, times: Infinity });
  await submitTask('Create a hello world python function');
  await waitForStatus('Completed');
  expect(violations).toEqual([]);
});
