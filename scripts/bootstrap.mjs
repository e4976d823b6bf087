#!/usr/bin/env node
/**
 * `npm start` and `npm test` on a fresh clone: install the npm dependencies when they are missing
 * or older than the lock file, then hand over to the TypeScript script (run with tsx).
 * Plain JavaScript with no dependencies, because it runs before they exist.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const [command, ...args] = process.argv.slice(2);
const scripts = { start: 'scripts/start.ts', test: 'scripts/test.ts', bench: 'scripts/bench.ts', faults: 'scripts/faults.ts' };
if (!scripts[command]) {
  console.error(`usage: node scripts/bootstrap.mjs ${Object.keys(scripts).join('|')} [args]`);
  process.exit(2);
}

const [major] = process.versions.node.split('.').map(Number);
if (major < 20) {
  console.error(`Buildstory needs Node.js 20 or newer; this is ${process.version}.`);
  process.exit(1);
}

function mtime(path) {
  return existsSync(path) ? statSync(path).mtimeMs : 0;
}

// npm writes node_modules/.package-lock.json on every install: older than the lock means stale.
const installed = mtime(join(root, 'node_modules', '.package-lock.json'));
if (installed === 0 || installed < mtime(join(root, 'package-lock.json'))) {
  console.error('[setup] installing npm dependencies (npm ci)...');
  const result = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) {
    console.error('[setup] npm ci failed; see above.');
    process.exit(result.status ?? 1);
  }
}

const tsx = join(root, 'node_modules', '.bin', 'tsx');
const child = spawn(tsx, [join(root, scripts[command]), ...args], { cwd: root, stdio: 'inherit' });
// Ctrl-C reaches the child through the terminal's process group: wait for it to stop. A SIGTERM
// sent to us alone is passed on.
process.on('SIGINT', () => {});
process.on('SIGTERM', () => child.kill('SIGTERM'));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
