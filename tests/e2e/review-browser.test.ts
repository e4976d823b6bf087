/**
 * People in the loop in a real browser: plan review (approve with edits, reject), a step gate, and
 * "Edit and re-run from step k", against the web app process, the run's Temporal dev server and a
 * worker whose model is the test LLM server. Each turn must reach the open page live, from the
 * story's stream: the page is never reloaded (a marker set on the first page must survive).
 *
 * Needs the web build (`npx remix vite:build`). SCREENSHOT_DIR=docs also writes docs/review.png
 * and docs/rerun.png.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../../devstack/browser';
import { startStack, type Stack } from '../setup/stack';
import { WORKFLOW_NAME, type ProgressSnapshot, type TaskInput } from '../../contract/data';

const SCREENSHOTS = process.env.SCREENSHOT_DIR ?? join(__dirname, '..', '..', 'test-results');

let stack: Stack;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  stack = await startStack({ name: 'review-browser' });
  browser = await launchChromium();
  mkdirSync(SCREENSHOTS, { recursive: true });
});
afterAll(async () => {
  await browser?.close();
  await stack?.close();
});
beforeEach(async () => {
  stack.llm.reset();
  // Steps take a moment, so that "running" can be seen before "completed".
  stack.llm.program({ kind: 'step', delayMs: 40, times: Infinity });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
});
afterEach(async () => {
  await page?.close();
});

const badge = () => page.locator('article header [role="status"]');

function waitForStatus(text: string, timeout = 60_000) {
  return badge()
    .filter({ hasText: new RegExp(`^${text}$`) })
    .waitFor({ timeout });
}

/** Set on the first page of a test: still there means every later change came without a reload. */
async function markDocument(): Promise<void> {
  await page.evaluate(() => ((globalThis as unknown as { __sameDocument?: boolean }).__sameDocument = true));
}
async function expectSameDocument(): Promise<void> {
  expect(await page.evaluate(() => (globalThis as unknown as { __sameDocument?: boolean }).__sameDocument)).toBe(true);
}

async function submitTask(task: string, review: boolean): Promise<string> {
  await page.goto(`${stack.base}/`);
  await markDocument();
  await page.getByLabel('Task', { exact: true }).fill(task);
  await page.getByLabel('Review the plan before it runs').setChecked(review);
  await page.getByRole('button', { name: 'Start the run' }).click();
  await page.waitForURL(/\/runs\/task-[0-9a-f-]{36}$/);
  const workflowId = new URL(page.url()).pathname.split('/').pop()!;
  await page.getByRole('heading', { name: workflowId }).waitFor();
  return workflowId;
}

async function finalSnapshot(workflowId: string): Promise<ProgressSnapshot> {
  return (await stack.env.client.workflow.getHandle(workflowId).result()) as ProgressSnapshot;
}

const storyRow = (type: string) => page.locator('li[data-seq]').filter({ hasText: type });
const stepCalls = () => stack.llm.calls.filter((call) => call.kind === 'step');

/** A list on another page (the home page's run list), reloaded until `text` shows for the run. */
async function listShows(path: string, workflowId: string, text: string): Promise<void> {
  const list = await browser.newPage();
  try {
    const deadline = Date.now() + 15_000;
    for (;;) {
      await list.goto(`${stack.base}${path}`);
      const row = list.locator(`a[href="/runs/${workflowId}"]`);
      if ((await row.count()) > 0 && (await row.textContent())?.includes(text)) return;
      if (Date.now() > deadline) throw new Error(`${path} does not show ${workflowId} as ${text}`);
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
  } finally {
    await list.close();
  }
}

test('review the plan: edit a step, add one, approve; the page goes live from review to running to completed', async () => {
  const workflowId = await submitTask('Create a hello world python function', true);
  await waitForStatus('Waiting for review');
  await page.getByRole('heading', { name: 'Review the plan' }).waitFor();
  expect(stepCalls()).toHaveLength(0);
  await listShows('/?status=WaitingForReview', workflowId, 'Waiting for review');

  await page.getByLabel('Instructions for step 2').fill('Use type hints this time.');
  await page.getByRole('button', { name: 'Add a step' }).click();
  await page.getByLabel('Title of step 4').fill('Add a docstring');
  await page.getByLabel('Instructions for step 4').fill('Document the function in one line.');
  await page.getByRole('button', { name: 'Approve with changes' }).waitFor();
  await page.screenshot({ path: join(SCREENSHOTS, 'review.png'), fullPage: true });
  await page.getByRole('button', { name: 'Approve with changes' }).click();

  await waitForStatus('Running');
  await storyRow('plan.edited').waitFor();
  await storyRow('review.approved').waitFor();
  await waitForStatus('Completed');
  await expectSameDocument();

  const final = await finalSnapshot(workflowId);
  expect(final.steps.map((step) => step.title)[3]).toBe('Add a docstring');
  expect(final.steps[1].instructions).toBe('Use type hints this time.');
  await page.getByTestId('step-3').getByRole('heading', { name: '4. Add a docstring' }).waitFor();
  expect(await storyRow('plan.edited').textContent()).toMatch(/changed the instructions of step 2; added step 4 "Add a docstring"/);
  expect(stepCalls().map((call) => call.stepIndex)).toEqual([0, 1, 2, 3]);
  expect(stepCalls()[1].prompt).toContain('Use type hints this time.');
});

test('reject the plan with a reason: the page shows Rejected and why, and the list agrees', async () => {
  const workflowId = await submitTask('Write a haiku about durable execution', true);
  await waitForStatus('Waiting for review');
  await page.getByLabel('Reason for rejecting').fill('Haiku need a human touch.');
  await page.getByRole('button', { name: 'Reject' }).click();

  await waitForStatus('Rejected');
  await page.getByRole('heading', { name: 'Why the run stopped' }).waitFor();
  await page.getByText('Rejected by someone: Haiku need a human touch.', { exact: false }).first().waitFor();
  expect(await page.getByRole('heading', { name: 'Error' }).count()).toBe(0);
  await expectSameDocument();

  expect((await finalSnapshot(workflowId)).status).toBe('rejected');
  expect(stepCalls()).toHaveLength(0);
  await listShows('/', workflowId, 'Rejected');
});

test('a step gate: "Ask before running" on step 2 stops the run there, live; approving it completes the run', async () => {
  const workflowId = await submitTask('Create a hello world python function', true);
  await waitForStatus('Waiting for review');
  await page.getByLabel('Ask before running step 2').check();
  await page.getByRole('button', { name: 'Approve with changes' }).click();

  // Step 1 runs, then the run waits again before step 2: the page shows the gate, step 1 locked.
  await page.getByText('The run waits before step 2, as asked.', { exact: false }).waitFor({ timeout: 30_000 });
  await waitForStatus('Waiting for review');
  await page.getByTestId('locked-step-0').waitFor();
  expect(await page.getByLabel('Title of step 1').count()).toBe(0);
  // The gate's mark is spent: approving as it stands changes nothing.
  expect(await page.getByLabel('Ask before running step 2').isChecked()).toBe(false);
  expect(stepCalls().map((call) => call.stepIndex)).toEqual([0]);

  await page.getByRole('button', { name: 'Approve', exact: true }).click();
  await waitForStatus('Completed');
  await expectSameDocument();
  const final = await finalSnapshot(workflowId);
  expect(final.steps.every((step) => step.status === 'completed')).toBe(true);
  expect(final.events.filter((event) => event.type === 'review.approved')).toHaveLength(2);
  expect(stepCalls().map((call) => call.stepIndex)).toEqual([0, 1, 2]);
});

test('a review nobody answers expires: the open page turns to Expired and says why', async () => {
  // Started directly, with a review timeout of seconds (the web app's comes from its settings).
  const workflowId = `task-${randomUUID()}`;
  const input: TaskInput = { task: 'Create a hello world python function', review: true, reviewTimeoutMs: 6_000 };
  await stack.env.client.workflow.start(WORKFLOW_NAME, { taskQueue: stack.taskQueue, workflowId, args: [input] });
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  // Loaded while it waits: the editor is rendered on the server, then hydrates without a word from React.
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(`${stack.base}/runs/${workflowId}`);
  await markDocument();
  await waitForStatus('Waiting for review');
  await page.getByRole('heading', { name: 'Review the plan' }).waitFor();

  // Typed before React hydrated the form, the text would not reach its state: type until it does
  // (on a busy machine hydration can come late), then the button says the plan changed.
  const approveWithChanges = page.getByRole('button', { name: 'Approve with changes' });
  for (let tries = 0; tries < 50 && (await approveWithChanges.count()) === 0; tries++) {
    await page.getByLabel('Title of step 1').fill(`Typed after hydration ${tries}`);
    await page.waitForTimeout(100);
  }
  expect(await approveWithChanges.count()).toBe(1);
  expect(errors).toEqual([]);

  await waitForStatus('Expired', 30_000);
  await page.getByRole('heading', { name: 'Why the run stopped' }).waitFor();
  await page.getByText('Nobody answered the review in time', { exact: false }).first().waitFor();
  expect(await page.getByRole('button', { name: 'Approve' }).count()).toBe(0);
  await expectSameDocument();
  expect((await finalSnapshot(workflowId)).status).toBe('expired');
  await listShows('/', workflowId, 'Expired');
});

test("a refused answer shows the workflow's words next to the buttons at once; the corrected answer, same token, goes through", async () => {
  const tokens: string[] = [];
  page.on('request', (request) => {
    const token = request.method() === 'POST' ? new URLSearchParams(request.postData() ?? '').get('token') : null;
    if (token && new URLSearchParams(request.postData() ?? '').get('intent') === 'review-approve') tokens.push(token);
  });
  const workflowId = await submitTask('Create a hello world python function', true);
  await waitForStatus('Waiting for review');
  // Blank to the workflow (it trims), not to the browser's `required`.
  await page.getByLabel('Title of step 1').fill('   ');
  await page.getByRole('button', { name: 'Approve with changes' }).click();
  const alert = page.getByRole('alert');
  await alert.waitFor();
  expect(await alert.textContent()).toBe('Step 1: A step title cannot be empty.');
  expect(await badge().textContent()).toBe('Waiting for review');

  await page.getByLabel('Title of step 1').fill('Outline it');
  await page.getByRole('button', { name: 'Approve with changes' }).click();
  await waitForStatus('Completed');
  await expectSameDocument();
  expect((await finalSnapshot(workflowId)).steps[0].title).toBe('Outline it');
  expect(tokens).toHaveLength(2);
  expect(tokens[1]).toBe(tokens[0]);
});

test('edit and re-run from step 2: the child keeps step 1, says where it came from, and the parent lists it', async () => {
  const parentId = await submitTask('Create a hello world python function', false);
  await waitForStatus('Completed');
  await finalSnapshot(parentId);
  stack.llm.reset();
  stack.llm.program({ kind: 'step', delayMs: 40, times: Infinity });

  await page.getByRole('link', { name: 'Edit and re-run from step 2' }).click();
  await page.getByRole('heading', { name: 'Edit and re-run from step 2' }).waitFor();
  await page.getByTestId('locked-step-0').waitFor();
  await page.getByLabel('Instructions for step 2').fill('Use type hints this time.');
  await page.screenshot({ path: join(SCREENSHOTS, 'rerun.png'), fullPage: true });
  await page.getByRole('button', { name: 'Re-run from step 2' }).click();

  await page.waitForURL((url) => /\/runs\/task-[0-9a-f-]{36}$/.test(url.pathname) && !url.pathname.endsWith(parentId));
  const childId = new URL(page.url()).pathname.split('/').pop()!;
  await page.getByText(`Re-run of ${parentId} from step 2`, { exact: true }).waitFor();
  await waitForStatus('Completed');
  await expectSameDocument();
  await page.getByTestId('step-0').getByText('kept from').waitFor();

  const child = await finalSnapshot(childId);
  expect(child.parent).toMatchObject({ workflowId: parentId, fromStep: 1 });
  expect(child.steps[0].kept).toBe(true);
  expect(child.steps[1].instructions).toBe('Use type hints this time.');
  // Step 1 was kept: the model wrote steps 2 and 3 only.
  expect(stepCalls().map((call) => call.stepIndex)).toEqual([1, 2]);

  // The parent's page lists its re-run.
  await page.getByRole('link', { name: parentId }).first().click();
  await page.getByRole('heading', { name: parentId }).waitFor();
  await page.getByRole('heading', { name: 'Re-runs' }).waitFor({ timeout: 15_000 });
  await page.locator(`a[href="/runs/${childId}"]`).waitFor();
  expect(await page.locator(`a[href="/runs/${childId}"]`).textContent()).toMatch(/re-run from step 2/);
  await expectSameDocument();
});
