/**
 * Go programs the project runs (the Temporal CLI, and for the cluster the server, its SQL tool and
 * the UI server): each installed once per user with `go install`, cached by version under
 * ~/.cache/buildstory, or taken from a variable that points at an existing binary. Several
 * installers on one machine take turns (a mkdir lock), and each builds into a GOBIN of its own:
 * a half-written binary never appears at the cached path, and two binaries built with the same
 * name (the server and the UI server are both `server`) never meet.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

type Log = (line: string) => void;

export interface GoBinary {
  /** Cache folder name (and what logs call it). */
  name: string;
  /** The module path of the main package, installed as `module@version`. */
  module: string;
  version: string;
  /** The file `go install` writes into GOBIN (the last element of the package path). */
  built: string;
  /** The name the binary gets in the cache. */
  file: string;
  /** An environment variable that points at an existing binary instead. */
  envOverride: string;
}

/** `~/.cache/buildstory/<name>/<version>/<file>`. */
export function binaryPath(binary: GoBinary): string {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'buildstory', binary.name, binary.version, binary.file);
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

/** Install into the cache unless already there; whoever creates the lock installs, the others wait for the binary. */
export async function ensureBinary(binary: GoBinary, log: Log): Promise<string> {
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
    log(`installing ${binary.module}@${binary.version} with go install into ${dir}`);
    log('the first install downloads and compiles for several minutes; progress follows');
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

function goInstall(binary: GoBinary, gobin: string, log: Log): Promise<void> {
  const spec = `${binary.module}@${binary.version}`;
  return new Promise((resolvePromise, reject) => {
    const child = spawn('go', ['install', '-v', spec], {
      env: { ...process.env, GOBIN: gobin, GOFLAGS: process.env.GOFLAGS ?? '-mod=mod' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let packages = 0;
    let last = '';
    const tail: string[] = [];
    const onLine = (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n').filter(Boolean)) {
        if (!line.startsWith('go: downloading')) packages++;
        last = line;
        tail.push(line);
        if (tail.length > 20) tail.shift();
      }
    };
    child.stdout.on('data', onLine);
    child.stderr.on('data', onLine);
    const begun = Date.now();
    const ticker = setInterval(() => {
      log(
        `still installing ${binary.name} (${Math.round((Date.now() - begun) / 1000)} s, ${packages} packages built; last: ${last.slice(0, 100)})`,
      );
    }, 15_000);
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
