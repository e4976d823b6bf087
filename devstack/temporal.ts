/**
 * The Temporal CLI dev server: install the CLI once per user (cached by version), start it with
 * SQLite persistence, wait until it answers, raise the namespace retention, create our search
 * attribute, stop it cleanly. `npm run temporal` (scripts/temporal.ts) runs it on its own.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { OWNER_SEARCH_ATTRIBUTE } from '../config/auth';
import { PARENT_SEARCH_ATTRIBUTE, STATE_SEARCH_ATTRIBUTE } from '../contract/data';
import { ensureBinary, findBinary, type GoBinary } from './go-binary';
import { stopChild } from './processes';

const run = promisify(execFile);

export const TEMPORAL_CLI_VERSION = 'v1.5.1';

/** Newer tags carry a `replace` directive and cannot be go-installed. */
const TEMPORAL_CLI: GoBinary = {
  name: 'temporal-cli',
  module: 'github.com/temporalio/cli/cmd/temporal',
  version: TEMPORAL_CLI_VERSION,
  built: 'temporal',
  file: 'temporal',
  envOverride: 'TEMPORAL_CLI',
};

type Log = (line: string) => void;
export const temporalLog: Log = (line) => process.stderr.write(`[temporal] ${line}\n`);

async function onPath(): Promise<string | null> {
  try {
    const { stdout } = await run('sh', ['-c', 'command -v temporal']);
    return stdout.trim() || null;
  } catch {
    return null;
  }
}

/**
 * Where the CLI is: $TEMPORAL_CLI, then our per-user cache, then `temporal` on PATH.
 * Returns null when it must be installed.
 */
export async function findTemporalCli(): Promise<string | null> {
  return findBinary(TEMPORAL_CLI) ?? onPath();
}

/** Install the CLI into the cache with `go install` unless it is found; several installers on one machine take turns. */
export async function ensureTemporalCli(log: Log = temporalLog): Promise<string> {
  return (await findTemporalCli()) ?? ensureBinary(TEMPORAL_CLI, log);
}

/**
 * SQLite in write-ahead-log mode, synced at checkpoints rather than at every commit. With the
 * defaults (a rollback journal, a full sync per commit) every history write waits for the disk:
 * at 100 running tasks the benchmark saw workflow tasks wait 2.2 s (p50) to start on this
 * machine's disk, 22 ms with these. A crash of the server or of any process loses nothing
 * committed; only a power cut can lose the last commits.
 */
/** The dev server's SQLite file: TEMPORAL_DB_FILE, or .data/temporal.db. */
export function devServerDbFile(env: NodeJS.ProcessEnv = process.env): string {
  return env.TEMPORAL_DB_FILE?.trim() || join('.data', 'temporal.db');
}

/** The dev server's own log, next to its database unless said otherwise. */
function devServerLogFile(dbFile: string): string {
  return join(dirname(resolve(dbFile)), 'temporal-server.log');
}

export const SQLITE_PRAGMAS = ['journal_mode=wal', 'synchronous=normal'];

export interface DevServerOptions {
  cli: string;
  port?: number;
  uiPort?: number;
  /** SQLite file; runs survive restarts. */
  dbFile?: string;
  namespace?: string;
  retentionDays?: number;
  /** Where the server's own log goes (default: next to the db file). */
  logFile?: string;
  headless?: boolean;
  log?: Log;
  /** Extra flags, e.g. `--ui-codec-endpoint`. */
  extraArgs?: string[];
  /** Create the search attributes Buildstory uses (SEARCH_ATTRIBUTES); default true. */
  searchAttributes?: boolean;
}

export interface DevServer {
  address: string;
  uiUrl: string | null;
  /** Absolute paths of its database and its log. */
  dbFile: string;
  logFile: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

async function cli(cliPath: string, args: string[], timeoutMs = 10_000): Promise<string> {
  const { stdout } = await run(cliPath, args, { timeout: timeoutMs });
  return stdout;
}

/** Wait until the namespace answers (the dev server creates `default` at start). */
export async function waitForTemporal(
  cliPath: string,
  address: string,
  namespace: string,
  timeoutMs = 60_000,
  child?: ChildProcess,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null) throw new Error(`the Temporal dev server exited with code ${child.exitCode}`);
    try {
      await cli(cliPath, ['operator', 'namespace', 'describe', '--address', address, '--namespace', namespace], 5_000);
      return;
    } catch (err) {
      lastError = (err as Error).message.split('\n')[0];
      await sleep(250);
    }
  }
  throw new Error(`Temporal at ${address} did not answer within ${timeoutMs / 1000} s: ${lastError}`);
}

export async function setRetention(cliPath: string, address: string, namespace: string, days: number): Promise<void> {
  await cli(cliPath, ['operator', 'namespace', 'update', '--address', address, '--retention', `${days * 24}h`, '--namespace', namespace]);
}

/**
 * The Keyword search attributes Buildstory uses: a run's owner (access control), where it stands
 * as to reviews, and the run a re-run came from.
 */
export const SEARCH_ATTRIBUTES = [OWNER_SEARCH_ATTRIBUTE, STATE_SEARCH_ATTRIBUTE, PARENT_SEARCH_ATTRIBUTE] as const;

/** The command that creates them on another server, for messages. */
export function searchAttributeCommand(namespace: string, address: string): string {
  const names = SEARCH_ATTRIBUTES.map((name) => `--name ${name} --type Keyword`).join(' ');
  return `temporal operator search-attribute create ${names} --namespace ${namespace} --address ${address}`;
}

/**
 * Create the search attributes (SEARCH_ATTRIBUTES). The dev server's `--search-attribute` flag
 * only applies when it creates a namespace, so an existing database needs this. Idempotent: the
 * server accepts one again with the same type, and an "already exists" from other servers is fine
 * too; a different type is an error.
 */
export async function createSearchAttributes(cliPath: string, address: string, namespace: string): Promise<void> {
  const args = ['operator', 'search-attribute', 'create', '--address', address, '--namespace', namespace];
  for (const name of SEARCH_ATTRIBUTES) {
    try {
      await cli(cliPath, [...args, '--name', name, '--type', 'Keyword']);
    } catch (err) {
      const output = `${(err as { stderr?: string }).stderr ?? ''} ${(err as Error).message}`;
      if (/already exists/i.test(output) && !/different type/i.test(output)) continue;
      const reason =
        output
          .split('\n')
          .map((line) => line.trim())
          .find((line) => /error/i.test(line)) ?? (err as Error).message;
      throw new Error(`cannot create the search attribute ${name} on ${namespace} at ${address}: ${reason}`, { cause: err });
    }
  }
}

export async function startDevServer(options: DevServerOptions): Promise<DevServer> {
  const log = options.log ?? temporalLog;
  const port = options.port ?? 7233;
  const namespace = options.namespace ?? 'default';
  const dbFile = resolve(options.dbFile ?? devServerDbFile({}));
  mkdirSync(dirname(dbFile), { recursive: true });
  const logFile = options.logFile ?? devServerLogFile(dbFile);
  const out = openSync(logFile, 'a');
  const args = [
    'server',
    'start-dev',
    '--db-filename',
    dbFile,
    '--port',
    String(port),
    '--ip',
    '127.0.0.1',
    '--log-format',
    'json',
    '--log-level',
    'warn',
  ];
  for (const pragma of SQLITE_PRAGMAS) args.push('--sqlite-pragma', pragma);
  if (options.headless) args.push('--headless');
  else args.push('--ui-port', String(options.uiPort ?? 8233));
  args.push(...(options.extraArgs ?? []));

  const address = `127.0.0.1:${port}`;
  const child = spawn(options.cli, args, { stdio: ['ignore', out, out] });
  const stop = () => stopChild(child, 10_000, () => log('the dev server did not stop within 10 s; killing it'));
  try {
    await waitForTemporal(options.cli, address, namespace, 60_000, child);
    if (options.retentionDays) await setRetention(options.cli, address, namespace, options.retentionDays);
    if (options.searchAttributes ?? true) await createSearchAttributes(options.cli, address, namespace);
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message} (server log: ${logFile})`, { cause: err });
  }
  return { address, uiUrl: options.headless ? null : `http://localhost:${options.uiPort ?? 8233}`, dbFile, logFile, process: child, stop };
}
