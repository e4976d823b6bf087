/**
 * `npm start` (scripts/start.ts) as a user runs it, with its own ports and database file: it
 * starts the dev server on that file, the worker and the web app, and says where the data is.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, freePort } from '../devstack/processes';

test('with TEMPORAL_DB_FILE set, npm start uses that file and prints it (not .data/temporal.db)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'buildstory-start-'));
  const dbFile = join(dir, 'elsewhere.db');
  const [port, temporalPort, uiPort] = [await freePort(), await freePort(), await freePort()];
  const child = spawn(join(ROOT, 'node_modules', '.bin', 'tsx'), [join(ROOT, 'scripts', 'start.ts')], {
    cwd: ROOT,
    env: {
      ...process.env,
      TEMPORAL_DB_FILE: dbFile,
      PORT: String(port),
      TEMPORAL_PORT: String(temporalPort),
      TEMPORAL_UI_PORT: String(uiPort),
      WORKER_HEALTH_PORT: '0',
      // Blank: unset, so it starts its own server.
      TEMPORAL_ADDRESS: '',
      TEMPORAL_CLI: process.env.TEMPORAL_CLI,
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    const ready = await Promise.race([
      new Promise<boolean>((resolve) => child.stdout.on('data', () => output.includes('Buildstory is running') && resolve(true))),
      exited.then(() => false),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 100_000)),
    ]);
    expect({ ready, output: ready ? '' : output }).toEqual({ ready: true, output: '' });
    expect(output).toContain(`data in ${dbFile}`);
    expect(output).not.toContain('.data/temporal.db');
    expect(existsSync(dbFile)).toBe(true);
  } finally {
    child.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  }
}, 150_000);
