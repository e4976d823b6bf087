/**
 * The Go binaries of a production-shaped Temporal cluster: the server (every service), the SQL
 * schema tool and the UI server. Each is installed once per user with `go install`, cached by
 * version like the CLI in devstack/temporal.ts, and several installers on one machine take turns.
 * The server and the UI server are both built as `server`, so every binary gets its own GOBIN.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

type Log = (line: string) => void;
export const clusterLog: Log = (line) => process.stderr.write(`[cluster] ${line}\n`);

export interface GoBinary {
  /** Cache folder name, and the name the binary gets there. */
  name: string;
  /** The module path of the main package, installed as `module@version`. */
  module: string;
  version: string;
  /** The file `go install` writes into GOBIN (the last element of the package path). */
  built: string;
  /** An environment variable that points at an existing binary instead. */
  envOverride: string;
}

export const TEMPORAL_SERVER: GoBinary = {
  name: 'temporal-server',
  module: 'go.temporal.io/server/cmd/server',
  version: 'v1.29.1',
  built: 'server',
  envOverride: 'TEMPORAL_SERVER_BIN',
};

export const TEMPORAL_SQL_TOOL: GoBinary = {
  name: 'temporal-sql-tool',
  module: 'go.temporal.io/server/cmd/tools/sql',
  version: 'v1.29.1',
  built: 'sql',
  envOverride: 'TEMPORAL_SQL_TOOL_BIN',
};

/** v2.34.0 carries a `replace` directive and is refused by go install; v2.35.0 is accepted. */
export const TEMPORAL_UI_SERVER: GoBinary = {
  name: 'temporal-ui-server',
  module: 'github.com/temporalio/ui-server/v2/cmd/server',
  version: 'v2.35.0',
  built: 'server',
  envOverride: 'TEMPORAL_UI_SERVER_BIN',
};

export const CLUSTER_BINARIES = [TEMPORAL_SERVER, TEMPORAL_SQL_TOOL, TEMPORAL_UI_SERVER];

function cacheBase(): string {
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'buildstory');
}

/** `~/.cache/buildstory/<name>/<version>/<name>`. */
export function binaryPath(binary: GoBinary): string {
  return join(cacheBase(), binary.name, binary.version, binary.name);
}

/** The override from the environment, or the cached binary; null when it must be installed. */
export function findBinary(binary: GoBinary): string | null {
  const override = process.env[binary.envOverride];
  if (override) {
    if (!existsSync(override)) throw new Error(`${binary.envOverride} points to a missing file: ${override}`);
    return override;
  }
  const cached = binaryPath(binary);
  return existsSync(cached) ? cached : null;
}

/** Install into the cache unless already there; a mkdir lock makes concurrent installers wait. */
export async function ensureBinary(binary: GoBinary, log: Log = clusterLog): Promise<string> {
  const found = findBinary(binary);
  if (found) return found;
  const target = binaryPath(binary);
  const dir = dirname(target);
  const lock = `${dir}.lock`;
  mkdirSync(dirname(dir), { recursive: true });
  const started = Date.now();
  for (let waited = 0; ; waited++) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (existsSync(target)) return target;
      // A lock older than 30 minutes belongs to an installer that died.
      const lockAge = Date.now() - (statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (lockAge > 30 * 60_000) rmSync(lock, { recursive: true, force: true });
      if (waited % 30 === 0) log(`waiting for another install of ${binary.name} to finish...`);
      await sleep(1_000);
    }
  }
  try {
    if (existsSync(target)) return target;
    log(`installing ${binary.module}@${binary.version} with go install into ${dir} (minutes on a cold cache)`);
    // A staging GOBIN per process: a half-written binary never appears at the cached path.
    const staging = `${dir}.staging-${process.pid}`;
    mkdirSync(staging, { recursive: true });
    await goInstall(binary, staging, log);
    mkdirSync(dir, { recursive: true });
    renameSync(join(staging, binary.built), target);
    rmSync(staging, { recursive: true, force: true });
    log(`installed ${target} in ${Math.round((Date.now() - started) / 1000)} s`);
    return target;
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/** All three, installed in parallel (separate locks and GOBINs; go's own caches are shared safely). */
export async function ensureClusterBinaries(log: Log = clusterLog): Promise<{ server: string; sqlTool: string; uiServer: string }> {
  const [server, sqlTool, uiServer] = await Promise.all(CLUSTER_BINARIES.map((binary) => ensureBinary(binary, log)));
  return { server, sqlTool, uiServer };
}

function goInstall(binary: GoBinary, gobin: string, log: Log): Promise<void> {
  const spec = `${binary.module}@${binary.version}`;
  return new Promise((resolvePromise, reject) => {
    const child = spawn('go', ['install', spec], {
      env: { ...process.env, GOBIN: gobin, GOFLAGS: process.env.GOFLAGS ?? '-mod=mod' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const tail: string[] = [];
    const onLine = (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n').filter(Boolean)) {
        tail.push(line);
        if (tail.length > 20) tail.shift();
      }
    };
    child.stdout.on('data', onLine);
    child.stderr.on('data', onLine);
    const begun = Date.now();
    const ticker = setInterval(() => log(`still installing ${binary.name} (${Math.round((Date.now() - begun) / 1000)} s)`), 30_000);
    child.on('error', (err) => {
      clearInterval(ticker);
      reject(new Error(`cannot run go (is the Go toolchain installed?): ${err.message}`));
    });
    child.on('exit', (code) => {
      clearInterval(ticker);
      if (code === 0) resolvePromise();
      else reject(new Error(`go install ${spec} failed (exit ${code}):\n${tail.join('\n')}`));
    });
  });
}
