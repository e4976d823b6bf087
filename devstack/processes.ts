/** Child processes of a dev stack: tsx scripts, stopping them, waiting for them, free ports, the web build. */
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export const ROOT = join(__dirname, '..');
const SERVER_BUILD = join(ROOT, 'web', 'build', 'server', 'index.mjs');
/** What the web build is made from. */
const WEB_SOURCES = ['web/app', 'contract', 'config', 'vite.config.ts', 'package-lock.json'];

function newestMtime(path: string): number {
  const stat = statSync(path, { throwIfNoEntry: false });
  if (!stat) return 0;
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(stat.mtimeMs, ...readdirSync(path).map((name) => newestMtime(join(path, name))));
}

/** Build the Remix app when the build is missing or older than its sources. */
export function ensureWebBuild(log: (line: string) => void): void {
  const built = existsSync(SERVER_BUILD) ? statSync(SERVER_BUILD).mtimeMs : 0;
  const sources = Math.max(...WEB_SOURCES.map((p) => newestMtime(join(ROOT, p))));
  if (built > sources) return;
  log('building the web app (remix vite:build)...');
  const result = spawnSync(join(ROOT, 'node_modules', '.bin', 'remix'), ['vite:build'], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  if (result.status !== 0) throw new Error('the web build failed (run npm run build to see why)');
}

/** `tsx <script>` (a path from the repository root), run from the root. */
export function spawnTsx(script: string, options: Omit<SpawnOptions, 'cwd'>): ChildProcess {
  return spawn(join(ROOT, 'node_modules', '.bin', 'tsx'), [join(ROOT, script)], { cwd: ROOT, ...options });
}

/** Start `tsx <script>` with our environment and `env`, its output prefixed by `name`. */
export function startNode(name: string, script: string, env: NodeJS.ProcessEnv): ChildProcess {
  const child = spawnTsx(script, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const prefix = (stream: NodeJS.WritableStream) => (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) if (line) stream.write(`[${name}] ${line}\n`);
  };
  child.stdout?.on('data', prefix(process.stdout));
  child.stderr?.on('data', prefix(process.stderr));
  return child;
}

/**
 * SIGTERM, then SIGKILL (after `onKill`) if it has not exited within `graceMs`. No timer is left
 * behind to keep this process alive once the child has gone.
 */
export async function stopChild(child: ChildProcess, graceMs = 10_000, onKill?: () => void): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => {
    onKill?.();
    child.kill('SIGKILL');
  }, graceMs).unref();
  await exited;
  clearTimeout(timer);
}

/** Poll `url` until it answers 2xx. */
export async function waitForHttp(url: string, timeoutMs = 60_000, child?: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null) throw new Error(`${url}: the process exited with code ${child.exitCode}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      if (res.ok) return;
    } catch {
      // not up yet
    }
    await sleep(200);
  }
  throw new Error(`${url} did not answer within ${timeoutMs / 1000} s`);
}

/** A TCP port on 127.0.0.1 that nothing listens on right now, and that no other caller holds. */
export async function freePort(): Promise<number> {
  // Not port 0: the kernel hands out ports of its ephemeral range (32768-60999 here), and a port
  // freed there can be taken a moment later as the local end of an outgoing connection (a gRPC
  // channel lives for minutes), after which no server can listen on it. Below that range and the
  // cluster's fixed ports (27233 on), only another caller of this function can take it: each port
  // handed out is reserved on this machine (a file named by the port, holding the caller's pid)
  // until the caller exits, so that jest's workers and the processes they start never get the same
  // port in the seconds before its server listens.
  for (let tries = 0; tries < 200; tries++) {
    const port = 20_000 + Math.floor(Math.random() * 7_000);
    if (reservePort(port) && (await canListen(port))) return port;
  }
  throw new Error('no free port found between 20000 and 27000');
}

/** Where freePort's reservations are kept: one file per port, its content the holder's pid. */
export const PORT_RESERVATIONS = join(tmpdir(), 'buildstory-ports');
/** A reservation older than this is stale whoever holds it (its pid may be another process's by now). */
const RESERVATION_MAX_AGE_MS = 12 * 3_600_000;
const reserved: string[] = [];

/** Reserve `port` for this process (false: another living process holds it). */
export function reservePort(port: number): boolean {
  mkdirSync(PORT_RESERVATIONS, { recursive: true });
  const file = join(PORT_RESERVATIONS, String(port));
  try {
    writeFileSync(file, String(process.pid), { flag: 'wx' });
  } catch (err) {
    const { code } = err as NodeJS.ErrnoException;
    // A directory this user may not write to (another user's): no reservations here, as before them.
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') return true;
    if (code !== 'EEXIST' || !stale(file)) return false;
    // Taken over from a holder that is gone; another caller may do the same at once: the rename of
    // a file of our own makes the last writer the holder, and it checks that it is.
    const mine = `${file}.${process.pid}`;
    writeFileSync(mine, String(process.pid));
    renameSync(mine, file);
    if (readFileSync(file, 'utf8') !== String(process.pid)) return false;
  }
  if (reserved.length === 0) process.once('exit', release);
  reserved.push(file);
  return true;
}

function stale(file: string): boolean {
  try {
    const pid = Number(readFileSync(file, 'utf8'));
    if (Date.now() - statSync(file).mtimeMs > RESERVATION_MAX_AGE_MS) return true;
    if (!Number.isInteger(pid) || pid <= 0) return true;
    process.kill(pid, 0);
    return false;
  } catch (err) {
    // ESRCH: no such process; EPERM: it lives (another user's); a file gone meanwhile: try again later.
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

function release(): void {
  for (const file of reserved.splice(0)) {
    try {
      if (readFileSync(file, 'utf8') === String(process.pid)) unlinkSync(file);
    } catch {
      // gone already
    }
  }
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolvePromise(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolvePromise(true)));
  });
}
