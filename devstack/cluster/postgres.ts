/**
 * The cluster's PostgreSQL: either an existing server given by the environment, or a private
 * cluster this module creates under a directory (initdb once, pg_ctl start on a free port, stop).
 *
 *   BUILDSTORY_CLUSTER_POSTGRES_HOST / _PORT / _USER / _PASSWORD   an existing server (HOST set
 *     means "use it"; PORT 5432, USER postgres, PASSWORD empty by default). The user must be
 *     allowed to create the temporal and temporal_visibility databases.
 *   POSTGRES_BIN   where initdb and pg_ctl are (default: Debian's /usr/lib/postgresql/15/bin).
 *
 * PostgreSQL refuses to run as root, so when we are root the private cluster runs as the
 * `postgres` user and its directories are given to that user.
 */
import { execFile, execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../processes';

const run = promisify(execFile);

export interface PostgresTarget {
  host: string;
  port: number;
  user: string;
  password: string;
  /** Stops the private cluster; a no-op for an existing server. */
  stop(): Promise<void>;
  /** The private cluster's log, when there is one. */
  logFile: string | null;
}

export function postgresBin(): string {
  return process.env.POSTGRES_BIN || '/usr/lib/postgresql/15/bin';
}

/** The existing server named by the environment, or null when a private cluster is wanted. */
export function existingPostgres(env: NodeJS.ProcessEnv = process.env): PostgresTarget | null {
  const host = env.BUILDSTORY_CLUSTER_POSTGRES_HOST?.trim();
  if (!host) return null;
  return {
    host,
    port: Number(env.BUILDSTORY_CLUSTER_POSTGRES_PORT || 5432),
    user: env.BUILDSTORY_CLUSTER_POSTGRES_USER || 'postgres',
    password: env.BUILDSTORY_CLUSTER_POSTGRES_PASSWORD ?? '',
    stop: async () => {},
    logFile: null,
  };
}

/** Run a PostgreSQL tool as the postgres user when we are root (it refuses root), else as us. */
function asPostgres(tool: string, args: string[]) {
  const path = join(postgresBin(), tool);
  if (process.getuid?.() === 0) return run('runuser', ['-u', 'postgres', '--', path, ...args], { timeout: 60_000 });
  return run(path, args, { timeout: 60_000 });
}

function ownedByPostgres(dir: string): void {
  mkdirSync(dir, { recursive: true });
  if (process.getuid?.() !== 0) return;
  const { uid, gid } = postgresIds();
  chownSync(dir, uid, gid);
}

let ids: { uid: number; gid: number } | undefined;
function postgresIds(): { uid: number; gid: number } {
  if (ids) return ids;
  // `id` rather than parsing /etc/passwd: works with any name service.
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString());
  ids = { uid, gid };
  return ids;
}

/** A private cluster: one we started, so one we can crash and start again (the fault harness). */
export interface PrivatePostgres extends PostgresTarget {
  /**
   * A power cut: SIGKILL to the postmaster and then to every process it had started, so nothing
   * flushes or checkpoints. Resolves once they are all gone. The next start runs crash recovery.
   */
  kill9(): Promise<void>;
  /** Start again on the same data directory and port, after a kill9 or a stop. */
  start(): Promise<void>;
}

/**
 * A private cluster in `dir` (data/, log/, sock/): created on first use, kept across runs, started
 * on `port` (a free one by default) listening on 127.0.0.1 only, trust auth for local users.
 */
export async function startPrivatePostgres(dir: string, port?: number): Promise<PrivatePostgres> {
  const data = join(dir, 'data');
  const logDir = join(dir, 'log');
  const sock = join(dir, 'sock');
  for (const d of [dir, logDir, sock]) ownedByPostgres(d);
  if (!existsSync(join(data, 'PG_VERSION'))) {
    ownedByPostgres(data);
    await asPostgres('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync']);
  }
  const pgPort = port ?? (await freePort());
  const logFile = join(logDir, 'pg.log');
  // Temporal's services open many connections each (frontends ×2, history, matching, worker).
  const options = `-p ${pgPort} -c listen_addresses=127.0.0.1 -k ${sock} -c max_connections=300`;
  let killed: number | null = null;
  const start = async () => {
    // A killed postmaster stays a zombie until whoever adopted it reaps it (here, 1-2 s), and while
    // its pid exists, a new postmaster takes postmaster.pid for a running server and refuses to start.
    const deadline = Date.now() + 30_000;
    while (killed !== null && existsSync(`/proc/${killed}`) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    killed = null;
    try {
      await asPostgres('pg_ctl', ['-D', data, '-l', logFile, '-o', options, '-w', 'start']);
    } catch (err) {
      throw new Error(`PostgreSQL did not start (log: ${logFile}): ${(err as Error).message}`, { cause: err });
    }
  };
  await start();
  return {
    host: '127.0.0.1',
    port: pgPort,
    user: 'postgres',
    password: '',
    logFile,
    stop: async () => {
      await asPostgres('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']).catch(() => {});
    },
    kill9: async () => {
      killed = await killCluster(data);
    },
    start,
  };
}

/**
 * SIGKILL to the postmaster named in `data`/postmaster.pid, then to its children (backends,
 * checkpointer, WAL writer...), and wait until all are gone: a new postmaster refuses to start
 * while an old backend still holds the shared memory. Returns the postmaster's pid.
 */
async function killCluster(data: string): Promise<number | null> {
  let postmaster: number;
  try {
    postmaster = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
  } catch {
    return null; // not running
  }
  // Stopped first, so it forks no new backend while we list its children, and never sees one die
  // (it would stop the others and restart them itself). Killed last: a backend that saw it die
  // first would end cleanly ("terminating connection due to unexpected postmaster exit").
  signal(postmaster, 'SIGSTOP');
  const children = await childrenOf(postmaster);
  for (const pid of [...children, postmaster]) signal(pid, 'SIGKILL');
  const deadline = Date.now() + 30_000;
  while ([postmaster, ...children].some(alive)) {
    if (Date.now() > deadline) throw new Error(`PostgreSQL (postmaster ${postmaster}) is still alive 30 s after SIGKILL`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return postmaster;
}

async function childrenOf(pid: number): Promise<number[]> {
  const { stdout } = await run('ps', ['-o', 'pid=', '--ppid', String(pid)]).catch(() => ({ stdout: '' }));
  return stdout
    .split('\n')
    .map((line) => Number(line.trim()))
    .filter((n) => n > 0);
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // gone already
  }
}

/** Running: a zombie (killed, not yet reaped by whoever adopted it) holds nothing and counts as gone. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}
