/**
 * The cgroup layer's pure parts (the kernel's file formats, the mode a mount is in), and of the
 * v2 path what this machine can run for real: it is cgroup v1 for memory and pids, with an empty
 * cgroup2 tree at /sys/fs/cgroup/unified (no controllers to give), so the v2 moves, the search
 * for the worker's own cgroup and cgroup.kill are exercised there, and the limits are not.
 * sandbox.test.ts runs the sandbox itself on this machine's mode.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  WORKER_LEAF,
  cgroupMode,
  cgroupUnavailable,
  killCgroupV2,
  ownCgroupV2,
  parseControllers,
  parseKeyed,
  parseProcCgroup,
  prepareV2Parent,
} from './cgroups';

test('the kernel files parse: controllers, flat-keyed counters, /proc/<pid>/cgroup', () => {
  expect(parseControllers('cpuset cpu io memory hugetlb pids rdma misc\n')).toEqual([
    'cpuset',
    'cpu',
    'io',
    'memory',
    'hugetlb',
    'pids',
    'rdma',
    'misc',
  ]);
  expect(parseControllers('')).toEqual([]);
  // memory.events (v2), memory.oom_control (v1), pids.events, cpu.stat.
  expect(parseKeyed('low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n')).toMatchObject({ max: 12, oom_kill: 1 });
  expect(parseKeyed('oom_kill_disable 0\nunder_oom 0\noom_kill 3').oom_kill).toBe(3);
  expect(parseKeyed('max 7')).toEqual({ max: 7 });
  expect(parseKeyed('usage_usec 123456\nuser_usec 100000\nsystem_usec 23456\n').usage_usec).toBe(123456);
  expect(parseKeyed('')).toEqual({});
  // Hybrid (this machine), pure v2, and a v1-only host.
  expect(parseProcCgroup('4:memory:/a\n1:cpu:/\n0::/\n')).toBe('/');
  expect(parseProcCgroup('0::/system.slice/docker-abc.scope/worker\n')).toBe('/system.slice/docker-abc.scope/worker');
  expect(parseProcCgroup('4:memory:/a\n1:cpu:/\n')).toBeNull();
});

describe('the mode, from the layout of the mount', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'buildstory-cgroups-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  test('v2: the unified tree has cgroup.controllers at its top', () => {
    writeFileSync(join(root, 'cgroup.controllers'), 'cpu io memory pids\n');
    expect(cgroupMode(root)).toBe('v2');
  });

  test('v1: a directory per controller, memory and pids among them', () => {
    for (const c of ['memory', 'pids', 'cpu']) {
      mkdirSync(join(root, c));
      writeFileSync(join(root, c, 'cgroup.procs'), '');
    }
    expect(cgroupMode(root)).toBe('v1');
  });

  test('neither: no sandbox, and the reason names the mount', () => {
    mkdirSync(join(root, 'memory'));
    expect(cgroupMode(root)).toBeNull();
    expect(cgroupUnavailable(root)).toMatch(/no cgroup hierarchy with the memory and pids controllers/);
  });

  test('v2 with a parent that has no memory controller to give: unavailable, and why', () => {
    writeFileSync(join(root, 'cgroup.controllers'), 'cpu io memory pids\n');
    mkdirSync(join(root, 'runs'));
    writeFileSync(join(root, 'runs', 'cgroup.controllers'), 'cpu pids\n');
    writeFileSync(join(root, 'runs', 'cgroup.subtree_control'), '');
    expect(cgroupUnavailable(root, 'runs')).toMatch(/runs has no memory controller to give/);
    writeFileSync(join(root, 'runs', 'cgroup.controllers'), 'cpu memory pids\n');
    expect(cgroupUnavailable(root, 'runs')).toBeNull();
  });
});

test('this machine: the mode /sys/fs/cgroup is in', () => {
  // v2 where the unified tree is mounted there; this machine is v1 (hybrid) and proves the v1 path.
  expect(cgroupMode('/sys/fs/cgroup')).toBe(existsSync('/sys/fs/cgroup/cgroup.controllers') ? 'v2' : 'v1');
});

const UNIFIED = '/sys/fs/cgroup/unified';
const realV2 = existsSync(join(UNIFIED, 'cgroup.procs')) && process.getuid?.() === 0;

(realV2 ? describe : describe.skip)('on the real cgroup2 tree at /sys/fs/cgroup/unified (no controllers there)', () => {
  let parent: string;
  let children: ChildProcess[] = [];
  beforeEach(() => {
    parent = join(UNIFIED, `buildstory-test-${process.pid}-${Date.now()}`);
    mkdirSync(parent);
    // Two processes in the parent stand for the worker's (in a container: all of the container's).
    children = [0, 1].map(() => spawn('sleep', ['60'], { stdio: 'ignore' }));
    for (const child of children) writeFileSync(join(parent, 'cgroup.procs'), String(child.pid));
  });
  afterEach(() => {
    for (const child of children) child.kill('SIGKILL');
    for (const dir of [join(parent, WORKER_LEAF), parent])
      for (let i = 0; i < 50 && existsSync(dir); i++) {
        try {
          rmdirSync(dir);
        } catch {
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
        }
      }
  });
  const procs = (dir: string) => readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number).sort();

  test("a process's own cgroup is found, before and after it moves into the leaf", () => {
    const pid = children[0].pid!;
    expect(ownCgroupV2(UNIFIED, pid)).toBe(parent);
    mkdirSync(join(parent, WORKER_LEAF));
    writeFileSync(join(parent, WORKER_LEAF, 'cgroup.procs'), String(pid));
    expect(ownCgroupV2(UNIFIED, pid)).toBe(parent);
  });

  test('the processes move into the leaf before controllers are enabled; with none to give, enabling fails loudly', () => {
    const pids = children.map((c) => c.pid!).sort();
    // This tree has no memory or pids controller (v1 holds them): the write to subtree_control is refused.
    expect(() => prepareV2Parent(parent)).toThrow(/ENOENT|EINVAL|EOPNOTSUPP|no such|invalid/i);
    expect(procs(parent)).toEqual([]);
    expect(procs(join(parent, WORKER_LEAF))).toEqual(pids);
    expect(cgroupUnavailable(UNIFIED, parent.slice(UNIFIED.length))).toMatch(/has no memory or pids controller to give/);
  });

  test('cgroup.kill kills every process in it', async () => {
    const exits = children.map((child) => new Promise((resolve) => child.on('exit', (_code, signal) => resolve(signal))));
    killCgroupV2(parent);
    await expect(Promise.all(exits)).resolves.toEqual(['SIGKILL', 'SIGKILL']);
  });
});
