/**
 * Screenshots for the README, taken from a running app (`npm start` first):
 *
 *   npx tsx scripts/screenshots.ts [http://localhost:3000]
 *
 * Submits the sample task through the form, catches the run mid-stream and finished, and saves
 * docs/home.png, docs/run-live.png and docs/run-completed.png; then a run whose code fails its test
 * first and is fixed (docs/verified.png) and one of its files (docs/file.png).
 */
import { join } from 'node:path';
import { launchChromium } from '../devstack/browser';

const base = process.argv[2] ?? 'http://localhost:3000';
const docs = join(__dirname, '..', 'docs');

async function main(): Promise<void> {
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 }, deviceScaleFactor: 1 });
    await page.goto(base);
    await page.getByLabel('Task', { exact: true }).fill('Create a hello world python function');
    await page.getByRole('button', { name: 'Start the run' }).click();
    await page.waitForURL(/\/runs\//);
    await page.locator('[data-testid="step-1"][data-status="running"]').waitFor({ timeout: 60_000 });
    await page.screenshot({ path: join(docs, 'run-live.png') });
    await page.getByText('Completed', { exact: true }).waitFor({ timeout: 120_000 });
    await page.screenshot({ path: join(docs, 'run-completed.png'), fullPage: true });
    // Verification: code whose test fails first, fixed in round 2; its files; one file's page.
    await page.goto(base);
    await page.getByLabel('Task', { exact: true }).fill('Create a hello world python function that fails first');
    await page.getByRole('button', { name: 'Start the run' }).click();
    await page.waitForURL(/\/runs\//);
    await page.getByText('Completed', { exact: true }).waitFor({ timeout: 120_000 });
    await page.locator('[data-testid="run-files"]').waitFor({ timeout: 30_000 });
    await page.screenshot({ path: join(docs, 'verified.png'), fullPage: true });
    await page.locator('[data-testid="run-files"] li a').first().click();
    await page.locator('[data-testid="file-content"]').waitFor();
    await page.screenshot({ path: join(docs, 'file.png') });
    await page.goto(base);
    await page.screenshot({ path: join(docs, 'home.png'), fullPage: true });
  } finally {
    await browser.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
