/** Child processes of a dev stack: tsx scripts, stopping them, waiting for them, free ports, the web build. */
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
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

/** A TCP port on 127.0.0.1 that nothing listens on right now. */
export async function freePort(): Promise<number> {
  // Not port 0: the kernel hands out ports of its ephemeral range (32768-60999 here), and a port
  // freed there can be taken a moment later as the local end of an outgoing connection (a gRPC
  // channel lives for minutes), after which no server can listen on it. Below that range and the
  // cluster's fixed ports (27233 on), only another caller of this function can take it.
  for (let tries = 0; tries < 100; tries++) {
    const port = 20_000 + Math.floor(Math.random() * 7_000);
    if (await canListen(port)) return port;
  }
  throw new Error('no free port found between 20000 and 27000');
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolvePromise(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolvePromise(true)));
  });
}
