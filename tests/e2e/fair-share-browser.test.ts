/**
 * Fair share in a real browser: with one slot in the deployment (BUILDSTORY_MAX_RUNNING=1), the
 * third run's open page says "Queued (1 ahead)", then "Queued (0 ahead)" when the first run ends,
 * then runs and completes: all live, the page never reloaded (a marker set on it must survive).
 *
 * Needs the web build (`npx remix vite:build`).
 */
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../../devstack/browser';
import { startStack, type Stack } from '../setup/stack';

let stack: Stack;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  stack = await startStack({ name: 'fair-browser', webEnv: { BUILDSTORY_MAX_RUNNING: '1', SUBMIT_RATE_LIMIT_PER_MINUTE: '0' } });
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
});
afterAll(async () => {
  await page?.close();
  await browser?.close();
  await stack?.close();
});

const badge = () => page.locator('article header [role="status"]');
const waitForStatus = (text: string, timeout = 60_000) =>
  badge()
    .filter({ hasText: new RegExp(`^${text.replace(/[()]/g, '\\$&')}$`) })
    .waitFor({ timeout });

async function submitTask(task: string): Promise<string> {
  await page.goto(`${stack.base}/`);
  await page.getByLabel('Task', { exact: true }).fill(task);
  await page.getByRole('button', { name: 'Start the run' }).click();
  await page.waitForURL(/\/runs\/task-[0-9a-f-]{36}$/);
  return new URL(page.url()).pathname.split('/').pop()!;
}

test('a queued run shows its place in line live, then runs and completes without a reload', async () => {
  // The first two runs' steps take a while each (three steps a run): long enough that the first
  // still holds the slot once the third is in, however slowly a busy machine loads the pages.
  stack.llm.program({ kind: 'step', content: 'Done.', delayMs: 3_000, times: 6 });
  await submitTask('First task');
  await submitTask('Second task');
  await submitTask('Third task');
  await page.evaluate(() => ((globalThis as unknown as { __sameDocument?: boolean }).__sameDocument = true));
  await waitForStatus('Queued (1 ahead)');
  await page.getByTestId('queue-notice').waitFor();
  await waitForStatus('Queued (0 ahead)');
  await waitForStatus('Completed', 90_000);
  expect(await page.getByTestId('queue-notice').count()).toBe(0);
  expect(await page.evaluate(() => (globalThis as unknown as { __sameDocument?: boolean }).__sameDocument)).toBe(true);
  await page.getByText('Waiting for a slot, as everyone').waitFor();
  await page.getByText(/Got a slot: the run starts \(\d+ runs? started while it waited\)/).waitFor();
}, 150_000);
