/**
 * The README's terminal screenshot, taken from a running app (`npm start` first; with access
 * control on, BUILDSTORY_TOKEN set):
 *
 *   npx tsx scripts/terminal-screenshot.ts [http://localhost:3000]
 *
 * Runs `buildstory run "Create a hello world python function" --follow` in a real terminal (tmux,
 * 100×34), catches a frame while a step streams and the screen at the end, with their colours, and
 * has a terminal emulator (xterm.js in Chromium) draw them: docs/cli-live.png and docs/cli-done.png.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { launchChromium } from '../devstack/browser';

const base = process.argv[2] ?? 'http://localhost:3000';
const root = join(__dirname, '..');
const docs = join(root, 'docs');
const COLUMNS = 100;
const ROWS = 34;
const SOCKET = 'buildstory-screenshot';

function tmux(...args: string[]): string {
  return execFileSync('tmux', ['-L', SOCKET, ...args], { encoding: 'utf8' });
}

/** The screen with its colours (SGR escapes), as tmux has it. */
function screen(session: string): string {
  return tmux('capture-pane', '-p', '-e', '-t', session);
}

async function capture(): Promise<{ live: string; done: string }> {
  const session = `shot-${Date.now()}`;
  const command = `node ${join(root, 'cli', 'bin.cjs')} run 'Create a hello world python function' --follow; sleep 600`;
  tmux('new-session', '-d', '-s', session, '-x', String(COLUMNS), '-y', String(ROWS), '-e', `BUILDSTORY_URL=${base}`, command);
  let live = '';
  try {
    const deadline = Date.now() + 120_000;
    for (;;) {
      if (Date.now() > deadline) throw new Error(`the run did not end in 2 minutes:\n${screen(session)}`);
      const text = tmux('capture-pane', '-p', '-t', session);
      // A step streaming, with a few lines of its output under it.
      if (!live && /^Running/m.test(text) && (text.match(/│/g) ?? []).length >= 4) live = screen(session);
      if (/^✓ Completed/m.test(text)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    // The end of the scrollback: the last lines of the result and the outcome.
    const done = screen(session);
    if (!live) throw new Error('never caught a step streaming');
    return { live, done };
  } finally {
    tmux('kill-session', '-t', session);
  }
}

async function main(): Promise<void> {
  const { live, done } = await capture();
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1000, height: 700 }, deviceScaleFactor: 1 });
    await page.setContent(
      '<html><body style="margin:0;background:#0b1020"><div id="t" style="display:inline-block;padding:12px"></div></body></html>',
    );
    await page.addStyleTag({ path: join(root, 'node_modules/@xterm/xterm/css/xterm.css') });
    await page.addScriptTag({ path: join(root, 'node_modules/@xterm/xterm/lib/xterm.js') });
    for (const [name, text] of [
      ['cli-live.png', live],
      ['cli-done.png', done],
    ] as const) {
      // In the page: a fresh terminal of the same size, fed what tmux had on screen.
      await page.evaluate(`new Promise((resolve) => {
        const host = document.getElementById('t');
        host.innerHTML = '';
        const term = new Terminal({ cols: ${COLUMNS}, rows: ${ROWS}, fontSize: 14, theme: { background: '#0b1020' } });
        term.open(host);
        term.write(${JSON.stringify(text.trimEnd().replace(/\n/g, '\r\n'))}, resolve);
      })`);
      await page.locator('#t').screenshot({ path: join(docs, name) });
      process.stdout.write(`saved docs/${name}\n`);
    }
  } finally {
    await browser.close();
  }
}

main().catch((err: Error) => {
  process.stderr.write(`${err.message}\n`);
  process.exit(1);
});
