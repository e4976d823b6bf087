/**
 * Running code a model wrote, contained: bubblewrap (Debian's `bwrap`) for the namespaces and the
 * view of the file system, a dedicated non-root uid, cgroups for memory and process count, and a
 * deadline kept here. The first brick of verification (issue 19): nothing calls it from a
 * workflow yet.
 *
 * What the code inside sees: /usr read-only (and the /bin, /lib links into it), its own /proc,
 * /dev and /tmp, its files copied into /work (a tmpfs of a fixed size), an environment of PATH,
 * HOME and LANG only, and no network at all (its own loopback, nothing else). What it cannot do:
 * see or signal the worker (another PID namespace, another uid, every capability dropped), read
 * the worker's files or environment, reach a host port, keep running past the deadline (the
 * sandbox's PID-namespace init is killed, and every process left in its cgroup with it).
 *
 * As root here: bwrap itself runs under the sandbox uid (setpriv), so it builds its namespaces as
 * an unprivileged user, and the run's cgroups (memory, pids; v1 or v2: cgroups.ts) are joined
 * before it starts.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, normalize } from 'node:path';
import { cgroupMode, cgroupUnavailable, createRunCgroup, v2Parent, type RunCgroup } from './cgroups';
import { spawnOffThread } from './spawner';

export interface SandboxLimits {
  /** Wall-clock deadline, kept by the caller: the sandbox is killed when it passes. */
  wallMs: number;
  /** Memory of all its processes together (cgroup), swap included where the kernel counts it. */
  memoryBytes: number;
  /** Processes and threads together (cgroup pids.max). */
  pids: number;
  /** CPU seconds per process (RLIMIT_CPU); the wall-clock deadline bounds the rest. */
  cpuSeconds: number;
  /** The largest file it may write (RLIMIT_FSIZE). */
  fileBytes: number;
  /** Size of /work, its only writable place besides /tmp. */
  workBytes: number;
  /** Output it may write to stdout and stderr together; past it, it is killed. */
  outputBytes: number;
}

export const DEFAULT_LIMITS: SandboxLimits = {
  wallMs: 20_000,
  memoryBytes: 256 * 1024 * 1024,
  pids: 64,
  cpuSeconds: 10,
  fileBytes: 16 * 1024 * 1024,
  workBytes: 64 * 1024 * 1024,
  outputBytes: 1024 * 1024,
};

/** How much of each stream the result keeps: the end, where errors are. */
const TAIL_BYTES = 8 * 1024;

export type SandboxOutcome = 'exited' | 'timed-out' | 'output-limit' | 'memory-limit' | 'killed';

export interface SandboxResult {
  outcome: SandboxOutcome;
  exitCode: number | null;
  signal: string | null;
  /** The last TAIL_BYTES of each stream. */
  stdout: string;
  stderr: string;
  /** Bytes it wrote to stdout and stderr, all of them. */
  outputBytes: number;
  durationMs: number;
  /** Processes the memory limit killed, and forks the process limit refused (its cgroups' counters). */
  oomKills: number;
  forksRefused: number;
}

export interface SandboxRun {
  /** Files to put in /work, by path relative to it. */
  files: Record<string, string>;
  /** What to run in /work, e.g. ['python3', '-m', 'unittest']. */
  command: string[];
  limits?: Partial<SandboxLimits>;
}

export interface SandboxHost {
  /** The uid and gid the code runs as: dedicated, not root, not nobody. */
  uid: number;
  gid: number;
  bwrap: string;
  /** Where the cgroup file system is mounted: v1 (a directory per controller) or v2 (the unified tree). */
  cgroupRoot: string;
  /**
   * v2 only: the cgroup, relative to cgroupRoot, under which each run gets its own; unset, the
   * worker's own cgroup, whose processes then move into a leaf `worker` of it (cgroups.ts).
   */
  cgroupParent?: string;
}

export const DEFAULT_HOST: SandboxHost = { uid: 64_123, gid: 64_123, bwrap: '/usr/bin/bwrap', cgroupRoot: '/sys/fs/cgroup' };

/** Whether code can be run here, contained; the reason when it cannot (verification is then off, never unsandboxed). */
export function sandboxAvailability(host: SandboxHost = DEFAULT_HOST): { ok: true } | { ok: false; why: string } {
  if (!existsSync(host.bwrap)) return { ok: false, why: `bubblewrap is not installed (${host.bwrap}): apt-get install -y bubblewrap` };
  if (process.getuid?.() !== 0) return { ok: false, why: 'the sandbox needs root to set up its cgroups and its uid' };
  const why = cgroupUnavailable(host.cgroupRoot, host.cgroupParent);
  return why ? { ok: false, why } : { ok: true };
}

/** Older than this, a sandbox's cgroup or source directory is no run's any more (runs last minutes at most). */
export const STALE_SANDBOX_MS = 60 * 60 * 1000;

/**
 * Remove what sandboxes of a worker that died mid-run (kill -9, the OOM killer) left behind: their
 * cgroups (`buildstory-*`, where this host makes them) and source directories
 * (`<tmp>/buildstory-sandbox-*`), when older than `olderThanMs`. Their processes died with the
 * worker (bwrap's --die-with-parent takes the sandbox's PID namespace with it); a cgroup that still
 * holds one is left (the kernel refuses to remove it). The verification activities run it
 * (createVerifyActivities): when the worker starts, then every 10 minutes at a verification.
 */
export function sweepStaleSandboxes(
  host: SandboxHost = DEFAULT_HOST,
  olderThanMs = STALE_SANDBOX_MS,
  now = Date.now(),
): { cgroups: string[]; dirs: string[] } {
  const stale = (path: string) => {
    try {
      return now - statSync(path).mtimeMs > olderThanMs;
    } catch {
      return false;
    }
  };
  const list = (dir: string) => {
    try {
      return readdirSync(dir);
    } catch {
      return [];
    }
  };
  const mode = cgroupMode(host.cgroupRoot);
  const parents =
    mode === 'v1'
      ? ['memory', 'pids', 'cpu'].map((controller) => join(host.cgroupRoot, controller))
      : mode === 'v2'
        ? [v2Parent(host.cgroupRoot, host.cgroupParent)].filter((dir): dir is string => dir !== null)
        : [];
  const cgroups: string[] = [];
  for (const parent of parents) {
    for (const name of list(parent).filter((n) => n.startsWith('buildstory-'))) {
      const dir = join(parent, name);
      if (!stale(dir)) continue;
      try {
        rmdirSync(dir);
        cgroups.push(dir);
      } catch {
        // Processes still in it (EBUSY): left alone.
      }
    }
  }
  const dirs: string[] = [];
  for (const name of list(tmpdir()).filter((n) => n.startsWith('buildstory-sandbox-'))) {
    const dir = join(tmpdir(), name);
    if (!stale(dir)) continue;
    rmSync(dir, { recursive: true, force: true });
    dirs.push(dir);
  }
  return { cgroups, dirs };
}

/** A relative path that stays inside /work. */
function safePath(path: string): string {
  const clean = normalize(path).replace(/^(\.\/)+/, '');
  if (!clean || clean.startsWith('/') || clean.startsWith('..') || clean.includes('\0'))
    throw new Error(`Bad file name: ${JSON.stringify(path)}`);
  return clean;
}

export async function runInSandbox(run: SandboxRun, host: SandboxHost = DEFAULT_HOST): Promise<SandboxResult> {
  const available = sandboxAvailability(host);
  if (!available.ok) throw new Error(`The sandbox is not available: ${available.why}`);
  const limits = { ...DEFAULT_LIMITS, ...run.limits };
  const id = `buildstory-${randomBytes(6).toString('hex')}`;
  const src = mkdtempSync(join(tmpdir(), 'buildstory-sandbox-'));
  chmodSync(src, 0o755);
  let cgroup: RunCgroup | undefined;
  try {
    for (const [path, content] of Object.entries(run.files)) {
      const target = join(src, safePath(path));
      mkdirSync(dirname(target), { recursive: true, mode: 0o755 });
      writeFileSync(target, content, { mode: 0o644 });
    }
    cgroup = createRunCgroup(host.cgroupRoot, id, limits, host.cgroupParent);
    return await execute(run.command, src, limits, host, cgroup);
  } finally {
    if (cgroup) {
      cgroup.kill();
      await cgroup.remove();
    }
    rmSync(src, { recursive: true, force: true });
  }
}

function bwrapArgs(command: string[], src: string, limits: SandboxLimits): string[] {
  return [
    '--unshare-all',
    '--die-with-parent',
    '--new-session',
    '--cap-drop',
    'ALL',
    '--clearenv',
    '--setenv',
    'PATH',
    '/usr/local/bin:/usr/bin:/bin',
    '--setenv',
    'HOME',
    '/work',
    '--setenv',
    'LANG',
    'C.UTF-8',
    '--ro-bind',
    '/usr',
    '/usr',
    '--symlink',
    'usr/bin',
    '/bin',
    '--symlink',
    'usr/lib',
    '/lib',
    '--symlink',
    'usr/lib64',
    '/lib64',
    '--proc',
    '/proc',
    '--dev',
    '/dev',
    '--size',
    String(8 * 1024 * 1024),
    '--tmpfs',
    '/tmp',
    '--ro-bind',
    src,
    '/src',
    '--size',
    String(limits.workBytes),
    '--tmpfs',
    '/work',
    '--chdir',
    '/work',
    '--',
    '/bin/sh',
    '-c',
    'cp -R /src/. /work/ && exec "$@"',
    'sandbox',
    ...command,
  ];
}

function execute(command: string[], src: string, limits: SandboxLimits, host: SandboxHost, cgroup: RunCgroup): Promise<SandboxResult> {
  const started = Date.now();
  // Join the cgroups, then become the sandbox uid with no capabilities, with per-process limits,
  // then bwrap: each step execs the next, so the pid that joined the cgroups is bwrap's.
  const enter = cgroup.dirs.map((dir) => `echo $$ > '${dir}/cgroup.procs'`).join(' && ');
  const prlimit = [
    '/usr/bin/prlimit',
    `--cpu=${limits.cpuSeconds}`,
    `--fsize=${limits.fileBytes}`,
    // The cgroup's pids.max is the per-run limit; the uid's process limit (counted across every
    // sandbox at once) is a backstop above it.
    `--nproc=${limits.pids * 4}`,
    '--core=0',
    '--',
  ];
  const setpriv = [
    '/usr/bin/setpriv',
    `--reuid=${host.uid}`,
    `--regid=${host.gid}`,
    '--clear-groups',
    '--inh-caps=-all',
    '--bounding-set=-all',
    '--',
  ];
  // Off this thread (spawner.ts): a spawn waits for the child's exec, which on a busy CPU held the
  // worker's event loop. In a process group of its own, with an empty environment.
  const child = spawnOffThread('/bin/sh', [
    '-c',
    `${enter} && exec "$@"`,
    'sandbox',
    ...prlimit,
    ...setpriv,
    host.bwrap,
    ...bwrapArgs(command, src, limits),
  ]);
  return new Promise((resolve, reject) => {
    const tails = { stdout: Buffer.alloc(0), stderr: Buffer.alloc(0) };
    let outputBytes = 0;
    let stopped: SandboxOutcome | null = null;
    const stop = (why: SandboxOutcome) => {
      if (stopped) return;
      stopped = why;
      // bwrap dies, its PID-namespace init dies with it (--die-with-parent), the kernel kills the rest.
      killGroup();
      cgroup.kill();
    };
    const killGroup = () => {
      if (child.pid === undefined) return; // not started yet: killed as it starts (below)
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    };
    const deadline = setTimeout(() => stop('timed-out'), limits.wallMs);
    child.on('spawned', () => {
      if (stopped) killGroup();
    });
    child.on('error', (err: Error) => {
      clearTimeout(deadline);
      reject(new Error(`The sandbox did not start: ${err.message}`, { cause: err }));
    });
    for (const name of ['stdout', 'stderr'] as const) {
      child.on(name, (chunk: Buffer) => {
        outputBytes += chunk.length;
        tails[name] = Buffer.concat([tails[name], chunk]).subarray(-TAIL_BYTES);
        if (outputBytes > limits.outputBytes) stop('output-limit');
      });
    }
    child.on('close', (code: number | null, signal: NodeJS.Signals | null) => {
      clearTimeout(deadline);
      const oomKills = cgroup.oomKills();
      const forksRefused = cgroup.forksRefused();
      resolve({
        outcome: stopped ?? (oomKills > 0 ? 'memory-limit' : signal ? 'killed' : 'exited'),
        oomKills,
        forksRefused,
        exitCode: code,
        signal,
        stdout: tails.stdout.toString('utf8'),
        stderr: tails.stderr.toString('utf8'),
        outputBytes,
        durationMs: Date.now() - started,
      });
    });
  });
}
