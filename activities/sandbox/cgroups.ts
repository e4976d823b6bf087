/**
 * The sandbox's per-run cgroup: memory (swap included) and process count, on cgroup v1 or v2.
 *
 * v1 (this machine): a directory in each of the memory and pids hierarchies, at their top.
 * v2 (most Docker hosts today): one directory under a parent cgroup that has the memory and pids
 * controllers to give: by default the worker's own cgroup (from /proc/self/cgroup). A cgroup with
 * processes cannot give controllers to children (the "no internal processes" rule), and inside a
 * container the worker sits in exactly such a cgroup (its namespace's root): so the processes in
 * it are first moved into a leaf, `<parent>/worker`, as a container's init would do.
 *
 * CPU is not a cgroup matter here in either mode: RLIMIT_CPU (prlimit) bounds each process, the
 * wall-clock deadline the rest.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, writeFileSync, accessSync, constants } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export type CgroupMode = 'v1' | 'v2';

/** The leaf the worker's own processes move into on v2, so that its cgroup can hand out controllers. */
export const WORKER_LEAF = 'worker';
const V2_CONTROLLERS = ['memory', 'pids'];

/**
 * The sandbox's CPU weight: an eighth of a normal process group's (v1 cpu.shares 1024, v2
 * cpu.weight 100). Weights share out a busy CPU only; idle CPU stays the sandbox's to use. Without
 * it a sandbox in a session of its own (bwrap --new-session) is an autogroup of the kernel's
 * scheduler weighing as much as the whole worker, Temporal and the web app together: a run's
 * tests took up to 0.8 of 2 cores from the story's delivery (bench figure 8, 2026-12-01). In a
 * cgroup of its own, no autogroup applies. Optional: without the cpu controller runs go on as before.
 */
export const SANDBOX_CPU_SHARES = 128;
export const SANDBOX_CPU_WEIGHT = 12;

/** v2 when the mount at `root` is the unified hierarchy (it has cgroup.controllers), v1 when it holds the memory and pids hierarchies. */
export function cgroupMode(root: string): CgroupMode | null {
  if (existsSync(join(root, 'cgroup.controllers'))) return 'v2';
  if (V2_CONTROLLERS.every((c) => existsSync(join(root, c, 'cgroup.procs')))) return 'v1';
  return null;
}

/** A cgroup.controllers or cgroup.subtree_control file: controller names. */
export function parseControllers(text: string): string[] {
  return text.split(/\s+/).filter(Boolean);
}

/** A flat-keyed file (memory.events, pids.events, cpu.stat): `key value` lines. */
export function parseKeyed(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const [key, value] = line.trim().split(/\s+/);
    if (key && value !== undefined && /^\d+$/.test(value)) out[key] = Number(value);
  }
  return out;
}

/** The cgroup v2 path of a process, from /proc/<pid>/cgroup (`0::/path`); null where it has none. */
export function parseProcCgroup(text: string): string | null {
  return /^0::(\/.*)$/m.exec(text)?.[1] ?? null;
}

function read(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return '';
  }
}

function writable(path: string): boolean {
  try {
    accessSync(path, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

const pidsIn = (dir: string): number[] => read(join(dir, 'cgroup.procs')).split('\n').filter(Boolean).map(Number);

/**
 * This process's cgroup directory under `root`. /proc/self/cgroup gives it relative to this
 * process's cgroup namespace; in a container with a namespace of its own and the host's tree
 * mounted (docker-compose.yml), that path is `/` and names the host's root, so the directory is
 * then found by looking for this process in the tree.
 */
export function ownCgroupV2(root: string, pid = process.pid): string | null {
  // After the move into the leaf (prepareV2Parent), the process is in `<own>/worker`.
  const own = (dir: string) => (basename(dir) === WORKER_LEAF ? dirname(dir) : dir);
  const path = parseProcCgroup(read(`/proc/${pid}/cgroup`));
  if (path !== null) {
    const dir = join(root, path);
    if (pidsIn(dir).includes(pid)) return own(dir);
  }
  const cached = found.get(root);
  if (cached && pidsIn(join(cached, WORKER_LEAF)).concat(pidsIn(cached)).includes(pid)) return cached;
  const search = (dir: string, depth: number): string | null => {
    if (pidsIn(dir).includes(pid)) return dir;
    if (depth === 0) return null;
    let entries: string[];
    try {
      entries = readdirSync(dir, { withFileTypes: true })
        .filter((e) => e.isDirectory())
        .map((e) => e.name);
    } catch {
      return null;
    }
    for (const name of entries) {
      const found = search(join(dir, name), depth - 1);
      if (found) return found;
    }
    return null;
  };
  const dir = search(root, 6);
  if (dir) found.set(root, own(dir));
  return dir && own(dir);
}

/** Where the search found this process, by root: the search reads the whole tree. */
const found = new Map<string, string>();

/** Where the runs' cgroups go on v2: `host.cgroupParent`, or this process's own cgroup. */
export function v2Parent(root: string, configured: string | undefined): string | null {
  return configured ? join(root, configured) : ownCgroupV2(root);
}

/** Why runs cannot get their cgroups here (null: they can). */
export function cgroupUnavailable(root: string, parent?: string): string | null {
  const mode = cgroupMode(root);
  if (mode === 'v1') {
    for (const controller of V2_CONTROLLERS)
      if (!writable(join(root, controller))) return `the cgroup v1 controller ${controller} is not writable at ${join(root, controller)}`;
    return null;
  }
  if (mode === null) return `no cgroup hierarchy with the memory and pids controllers at ${root} (cgroup v1 or v2)`;
  const dir = v2Parent(root, parent);
  if (!dir) return `cgroup v2: this process's cgroup was not found under ${root}`;
  const missing = V2_CONTROLLERS.filter((c) => !parseControllers(read(join(dir, 'cgroup.controllers'))).includes(c));
  if (missing.length) return `cgroup v2: ${dir} has no ${missing.join(' or ')} controller to give (its cgroup.controllers)`;
  if (!writable(join(dir, 'cgroup.subtree_control'))) return `cgroup v2: ${dir} is not writable (mount the cgroup tree read-write)`;
  return null;
}

/**
 * Make `dir` a parent that gives memory and pids to its children: its processes (the worker's, and
 * in a container every process of the container) move into `dir/worker` first. Idempotent.
 */
export function prepareV2Parent(dir: string): void {
  const enabled = parseControllers(read(join(dir, 'cgroup.subtree_control')));
  if (V2_CONTROLLERS.every((c) => enabled.includes(c))) return;
  if (pidsIn(dir).length > 0) {
    const leaf = join(dir, WORKER_LEAF);
    mkdirSync(leaf, { recursive: true });
    // A process may fork meanwhile: move until none is left (each write moves one whole process).
    for (let i = 0; i < 100; i++) {
      const pids = pidsIn(dir);
      if (pids.length === 0) break;
      for (const pid of pids) {
        try {
          writeFileSync(join(leaf, 'cgroup.procs'), String(pid));
        } catch (err) {
          // Exited meanwhile; a kernel thread or another's process cannot move, and the write below says so.
          if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
        }
      }
    }
  }
  writeFileSync(join(dir, 'cgroup.subtree_control'), V2_CONTROLLERS.map((c) => `+${c}`).join(' '));
  // The CPU weight is a nicety: given when the parent has the controller, skipped when not.
  if (parseControllers(read(join(dir, 'cgroup.controllers'))).includes('cpu')) {
    try {
      writeFileSync(join(dir, 'cgroup.subtree_control'), '+cpu');
    } catch {
      // e.g. a realtime process in the subtree: the runs go without their weight.
    }
  }
}

export interface RunCgroupLimits {
  memoryBytes: number;
  pids: number;
}

/** One run's cgroup(s). */
export interface RunCgroup {
  /** The directories whose cgroup.procs the sandbox's first process writes itself into. */
  readonly dirs: string[];
  /** Processes the memory limit killed. */
  oomKills(): number;
  /** Forks the process limit refused. */
  forksRefused(): number;
  /** SIGKILL every process in it. */
  kill(): void;
  /** Remove it once its processes are gone; throws if one does not die. */
  remove(): Promise<void>;
}

/** Make a run's cgroup with these limits (v1 or v2, as `root` is). */
export function createRunCgroup(root: string, id: string, limits: RunCgroupLimits, parent?: string): RunCgroup {
  return cgroupMode(root) === 'v2' ? createV2(root, id, limits, parent) : createV1(root, id, limits);
}

function createV1(root: string, id: string, limits: RunCgroupLimits): RunCgroup {
  const [memory, pids] = V2_CONTROLLERS.map((controller) => join(root, controller, id));
  // The cpu controller, where there is one to write (SANDBOX_CPU_SHARES).
  const cpu = writable(join(root, 'cpu')) && existsSync(join(root, 'cpu', 'cpu.shares')) ? join(root, 'cpu', id) : null;
  const run: RunCgroup = {
    dirs: cpu ? [memory, pids, cpu] : [memory, pids],
    oomKills: () => parseKeyed(read(join(memory, 'memory.oom_control'))).oom_kill ?? 0,
    forksRefused: () => parseKeyed(read(join(pids, 'pids.events'))).max ?? 0,
    kill: () => killAll(pids),
    remove: async () => {
      await removeCgroup(memory, () => killAll(memory));
      await removeCgroup(pids, () => killAll(pids));
      if (cpu) await removeCgroup(cpu, () => killAll(cpu));
    },
  };
  try {
    for (const dir of run.dirs) mkdirSync(dir);
    writeFileSync(join(memory, 'memory.limit_in_bytes'), String(limits.memoryBytes));
    if (existsSync(join(memory, 'memory.memsw.limit_in_bytes')))
      writeFileSync(join(memory, 'memory.memsw.limit_in_bytes'), String(limits.memoryBytes));
    writeFileSync(join(pids, 'pids.max'), String(limits.pids));
    if (cpu) writeFileSync(join(cpu, 'cpu.shares'), String(SANDBOX_CPU_SHARES));
  } catch (err) {
    for (const dir of run.dirs) rmdirQuiet(dir);
    throw err;
  }
  return run;
}

function createV2(root: string, id: string, limits: RunCgroupLimits, parent?: string): RunCgroup {
  const parentDir = v2Parent(root, parent);
  if (!parentDir) throw new Error(`cgroup v2: this process's cgroup was not found under ${root}`);
  prepareV2Parent(parentDir);
  const dir = join(parentDir, id);
  const kill = () => killCgroupV2(dir);
  const run: RunCgroup = {
    dirs: [dir],
    // memory.events counts for the cgroup and its descendants (the sandbox makes none).
    oomKills: () => parseKeyed(read(join(dir, 'memory.events'))).oom_kill ?? 0,
    forksRefused: () => parseKeyed(read(join(dir, 'pids.events'))).max ?? 0,
    kill,
    remove: () => removeCgroup(dir, kill),
  };
  try {
    mkdirSync(dir);
    writeFileSync(join(dir, 'memory.max'), String(limits.memoryBytes));
    // No swap at all: v1's memsw limit counts memory and swap together; v2 counts swap apart.
    if (existsSync(join(dir, 'memory.swap.max'))) writeFileSync(join(dir, 'memory.swap.max'), '0');
    writeFileSync(join(dir, 'pids.max'), String(limits.pids));
    // Where the parent gives the cpu controller (prepareV2Parent asks for it when it has it).
    if (existsSync(join(dir, 'cpu.weight'))) writeFileSync(join(dir, 'cpu.weight'), String(SANDBOX_CPU_WEIGHT));
  } catch (err) {
    rmdirQuiet(dir);
    throw err;
  }
  return run;
}

/** SIGKILL every process in a v2 cgroup and its descendants. */
export function killCgroupV2(dir: string): void {
  // cgroup.kill (Linux 5.14+) kills them all at once, forks in flight included.
  if (existsSync(join(dir, 'cgroup.kill'))) {
    try {
      writeFileSync(join(dir, 'cgroup.kill'), '1');
      return;
    } catch {
      // Fall back to one by one.
    }
  }
  killAll(dir);
}

/** SIGKILL every process in the cgroup. */
function killAll(dir: string): void {
  for (const pid of pidsIn(dir)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone meanwhile.
    }
  }
}

function rmdirQuiet(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // Not made, or not empty: nothing ran in it yet, so not empty cannot be.
  }
}

/** Remove a cgroup once its processes are gone (the kernel frees them a moment after SIGKILL). */
async function removeCgroup(dir: string, kill: () => void): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      rmdirSync(dir);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      kill();
      await sleep(20);
    }
  }
  throw new Error(`The sandbox's cgroup ${dir} could not be removed: a process in it did not die.`);
}
