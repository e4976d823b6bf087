/**
 * Access control in a real browser (Debian's Chromium): sign in through the form, start and
 * watch a run (the live stream carries the session cookie), act on it with JavaScript (the CSRF
 * token travels with the fetch submission), sign out.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../../devstack/browser';
import { startStack, type Stack } from '../setup/stack';

let stack: Stack;
let browser: Browser;
let page: Page;
const dir = mkdtempSync(join(tmpdir(), 'buildstory-auth-browser-'));

beforeAll(async () => {
  stack = await startStack({
    name: 'auth-browser',
    webEnv: {
      BUILDSTORY_AUTH_PASSWORDS: 'alice:alice-password-1,bob:bob-password-22',
      BUILDSTORY_SESSION_SECRET: 'browser-test-secret-0123456789abcdef-0123456789',
      BUILDSTORY_API_TOKENS_FILE: join(dir, 'api-tokens.json'),
    },
  });
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await stack?.close();
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(async () => {
  stack.llm.reset();
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
});
afterEach(async () => {
  await page?.context().close();
});

async function signIn(user: string, password: string): Promise<void> {
  await page.getByLabel('User name').fill(user);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

test('sign in, run a task and watch it live, cancel it, sign out', async () => {
  stack.llm.program({ kind: 'step', delayMs: 300, times: Infinity });
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));

  await page.goto(`${stack.base}/`);
  await page.waitForURL(/\/login\?next=%2F$/);
  await signIn('alice', 'wrong-password');
  await page.getByText('Wrong user name or password.').waitFor();
  await signIn('alice', 'alice-password-1');
  await page.waitForURL(`${stack.base}/`);
  await page.getByText('Signed in as').waitFor();

  await page.getByLabel('Task', { exact: true }).fill('A long task to cancel');
  await page.getByRole('button', { name: 'Start the run' }).click();
  await page.waitForURL(/\/runs\/task-[0-9a-f-]{36}$/);
  // Partial output arrives over the event stream, which needs the session.
  await page.getByTestId('step-0-output').waitFor({ timeout: 30_000 });
  await page.getByRole('button', { name: 'Cancel' }).click();
  await page.getByText('Cancelled', { exact: true }).first().waitFor({ timeout: 30_000 });

  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(/\/login$/);
  await page.goto(`${stack.base}/`);
  await page.waitForURL(/\/login\?next=/);
  expect(errors).toEqual([]);
});

test("another user's run page is not found, and their session cannot reach it", async () => {
  await page.goto(`${stack.base}/login`);
  await signIn('alice', 'alice-password-1');
  await page.waitForURL(`${stack.base}/`);
  await page.getByLabel('Task', { exact: true }).fill('Alice only');
  await page.getByRole('button', { name: 'Start the run' }).click();
  await page.waitForURL(/\/runs\/task-[0-9a-f-]{36}$/);
  const runUrl = page.url();

  const other = await browser.newContext();
  const bobPage = await other.newPage();
  await bobPage.goto(`${stack.base}/login`);
  await bobPage.getByLabel('User name').fill('bob');
  await bobPage.getByLabel('Password').fill('bob-password-22');
  await bobPage.getByRole('button', { name: 'Sign in' }).click();
  await bobPage.waitForURL(`${stack.base}/`);
  const res = await bobPage.goto(runUrl);
  expect(res?.status()).toBe(404);
  await bobPage.getByText('No run with this id').first().waitFor();
  await other.close();
});

test('a sign-in link whose `next` hides another site keeps the browser on this one', async () => {
  // Were the browser sent there, this answers instead of a DNS error, and the test sees it.
  await page.context().route(/^https?:\/\/evil\.example\//, (route) => route.fulfill({ status: 200, body: 'evil' }));
  const origin = new URL(stack.base).origin;
  const tricks = ['/\t/evil.example', '/./\\evil.example', '/\\evil.example', '//evil.example', '/\n/evil.example'];
  for (const next of tricks) {
    await page.goto(`${stack.base}/login?next=${encodeURIComponent(next)}`);
    await signIn('alice', 'alice-password-1');
    await page.getByText('Signed in as').waitFor();
    expect({ next, origin: new URL(page.url()).origin }).toEqual({ next, origin });
    // Signed in already, the same link redirects at once: still here.
    await page.goto(`${stack.base}/login?next=${encodeURIComponent(next)}`);
    await page.getByText('Signed in as').waitFor();
    expect({ next, origin: new URL(page.url()).origin }).toEqual({ next, origin });
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(/\/login$/);
  }
});

test('API tokens: a new one is shown once and listed, the name field empties for the next, revoke removes it', async () => {
  await page.goto(`${stack.base}/login?next=%2Faccount`);
  await signIn('bob', 'bob-password-22');
  await page.getByRole('heading', { name: 'API tokens' }).waitFor();
  const name = page.getByLabel("New token's name");
  for (const tokenName of ['ci', 'laptop']) {
    await name.fill(tokenName);
    await page.getByRole('button', { name: 'Create token' }).click();
    await page.getByRole('status').getByText(`Token ${tokenName} created`).waitFor();
    expect(await page.getByLabel('New token', { exact: true }).inputValue()).toMatch(/^bst_/);
    // The list and the emptied field come with the page's data reloaded after the action.
    await page.locator('tbody tr').filter({ hasText: tokenName }).waitFor();
    expect(await name.inputValue()).toBe('');
  }
  const rows = page.locator('tbody tr');
  // Newest first.
  expect(await rows.allInnerTexts()).toEqual([expect.stringContaining('laptop'), expect.stringContaining('ci')]);
  // Shown once: a reload lists them, with no token to copy.
  await page.reload();
  expect(await page.getByLabel('New token', { exact: true }).count()).toBe(0);
  await rows.filter({ hasText: 'ci' }).getByRole('button', { name: 'Revoke' }).click();
  await page.getByRole('cell', { name: 'ci', exact: true }).waitFor({ state: 'detached' });
  expect(await rows.allInnerTexts()).toEqual([expect.stringContaining('laptop')]);
});
