/**
 * The sandbox against hostile code, for real: bubblewrap, cgroups and a dedicated uid on this
 * machine. Each attack is contained, reported as what it was, and leaves nothing behind: no
 * process of the sandbox uid, no cgroup, no file; and the host (this test process: the worker's
 * place) keeps running other sandboxes meanwhile.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SANDBOX_CPU_SHARES } from './cgroups';
import { DEFAULT_HOST, runInSandbox, sandboxAvailability, sweepStaleSandboxes, type SandboxRun } from './sandbox';

const SECRET = `sk-live-${Math.random().toString(36).slice(2)}`;
let server: Server;
let port: number;

beforeAll(async () => {
  // A secret in the host's environment, and a port on the host's loopback: the sandbox must reach neither.
  process.env.OPENAI_API_KEY_FOR_SANDBOX_TEST = SECRET;
  server = createServer((_req, res) => res.end('reached the host'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  delete process.env.OPENAI_API_KEY_FOR_SANDBOX_TEST;
  await new Promise((resolve) => server.close(resolve));
});

/** Processes of the sandbox uid on the host: none once a run is over. */
function sandboxProcesses(): string[] {
  const out = execFileSync('ps', ['-e', '-o', 'uid=,pid=,comm=']).toString();
  return out.split('\n').filter((line) => line.trim().startsWith(`${DEFAULT_HOST.uid} `));
}

/**
 * What a run left behind, once the host's init has reaped the sandbox's last process (bwrap's
 * PID-namespace init, an orphan when it ends: a zombie for a moment, holding nothing).
 */
async function leftovers(): Promise<{ processes: string[]; cgroups: string[]; dirs: string[] }> {
  for (let i = 0; i < 50 && sandboxProcesses().length > 0; i++) await new Promise((r) => setTimeout(r, 100));
  return {
    processes: sandboxProcesses(),
    cgroups: ['memory', 'pids', 'cpu'].flatMap((c) => readdirSync(`/sys/fs/cgroup/${c}`).filter((d) => d.startsWith('buildstory-'))),
    dirs: readdirSync(tmpdir()).filter((d) => d.startsWith('buildstory-sandbox-')),
  };
}

const py = (code: string, limits?: SandboxRun['limits']): SandboxRun => ({
  files: { 'main.py': code },
  command: ['python3', 'main.py'],
  limits,
});
const sh = (script: string, limits?: SandboxRun['limits']): SandboxRun => ({
  files: { 'run.sh': script },
  command: ['sh', 'run.sh'],
  limits,
});

test('this machine has what the sandbox needs', () => {
  expect(sandboxAvailability()).toEqual({ ok: true });
});

test('plain code runs and says what it printed, as a uid of its own, in /work', async () => {
  const result = await runInSandbox(
    py('import os\nprint("hello", os.getuid(), os.getcwd())\nimport sys\nprint("oops", file=sys.stderr)\nsys.exit(3)'),
  );
  expect(result).toMatchObject({ outcome: 'exited', exitCode: 3, stdout: `hello ${DEFAULT_HOST.uid} /work\n`, stderr: 'oops\n' });
  expect(await leftovers()).toEqual({ processes: [], cgroups: [], dirs: [] });
});

test('a run weighs an eighth of a process group on a busy CPU: its processes sit in a cpu cgroup of their own, not in an autogroup', async () => {
  const running = runInSandbox(sh('sleep 2'));
  let found: { dir: string; shares: number; tasks: number } | null = null;
  for (let i = 0; i < 50 && !found; i++) {
    await new Promise((r) => setTimeout(r, 50));
    for (const dir of readdirSync('/sys/fs/cgroup/cpu').filter((d) => d.startsWith('buildstory-'))) {
      const tasks = readFileSync(`/sys/fs/cgroup/cpu/${dir}/tasks`, 'utf8').split('\n').filter(Boolean);
      if (tasks.length > 0)
        found = { dir, shares: Number(readFileSync(`/sys/fs/cgroup/cpu/${dir}/cpu.shares`, 'utf8')), tasks: tasks.length };
    }
  }
  expect(found).toEqual({ dir: expect.stringMatching(/^buildstory-/), shares: SANDBOX_CPU_SHARES, tasks: expect.any(Number) });
  // The sleeping process is one of them: its cgroup, seen from the host, is the run's.
  const sleeper = execFileSync('pgrep', ['-u', String(DEFAULT_HOST.uid), '-x', 'sleep'])
    .toString()
    .trim()
    .split('\n')[0]!;
  expect(readFileSync(`/proc/${sleeper}/cgroup`, 'utf8')).toMatch(new RegExp(`:cpu(,cpuacct)?:/${found!.dir}$`, 'm'));
  expect((await running).exitCode).toBe(0);
  expect(await leftovers()).toEqual({ processes: [], cgroups: [], dirs: [] });
});

test('tests run as they would anywhere: unittest passes', async () => {
  const result = await runInSandbox({
    files: {
      'hello.py': 'def hello():\n    return "Hello, world!"\n',
      'test_hello.py':
        'import unittest\nfrom hello import hello\n\nclass T(unittest.TestCase):\n    def test(self):\n        self.assertEqual(hello(), "Hello, world!")\n',
    },
    command: ['python3', '-m', 'unittest', '-v'],
  });
  expect(result.outcome).toBe('exited');
  expect(result.exitCode).toBe(0);
  expect(result.stderr).toMatch(/Ran 1 test.*OK/s);
});

describe('hostile code is contained', () => {
  test('a fork bomb hits the process limit; the host is untouched', async () => {
    const result = await runInSandbox({
      files: { 'bomb.sh': ':(){ :|:& };:\nsleep 2' },
      command: ['bash', 'bomb.sh'],
      limits: { pids: 32, wallMs: 4_000 },
    });
    expect(['exited', 'timed-out']).toContain(result.outcome);
    // The process limit held: forks were refused, again and again.
    expect(result.forksRefused).toBeGreaterThan(10);
    expect(await leftovers()).toEqual({ processes: [], cgroups: [], dirs: [] });
  });

  test('an endless loop, and a sleep, are killed at the deadline', async () => {
    const loop = await runInSandbox(py('while True: pass', { wallMs: 1_500 }));
    expect(loop.outcome).toBe('timed-out');
    const sleeper = await runInSandbox(sh('sleep 60 & sleep 60', { wallMs: 1_000 }));
    expect(sleeper.outcome).toBe('timed-out');
    expect(await leftovers()).toEqual({ processes: [], cgroups: [], dirs: [] });
  });

  test('allocating 4 GB is stopped by the memory limit', async () => {
    // Touched, not only reserved: every page is written.
    const result = await runInSandbox(py('b = bytearray(b"x" * (4 * 1024 ** 3))\nprint("allocated")', { memoryBytes: 128 * 1024 * 1024 }));
    expect(result.stdout).not.toContain('allocated');
    expect(result).toMatchObject({ outcome: 'memory-limit' });
    expect(result.oomKills).toBeGreaterThan(0);
  });

  test('writing 1 GB of output is cut at the output limit', async () => {
    const result = await runInSandbox(
      py('import sys\nchunk = "x" * 65536\nfor _ in range(16384): sys.stdout.write(chunk)', { outputBytes: 1024 * 1024 }),
    );
    expect(result.outcome).toBe('output-limit');
    expect(result.outputBytes).toBeLessThan(64 * 1024 * 1024);
    expect(result.stdout.length).toBeLessThanOrEqual(8 * 1024);
  });

  test('writing a file past the limits fails inside, not on the host', async () => {
    const result = await runInSandbox(
      sh('head -c 200000000 /dev/zero > big || echo "write failed: $?"\nls -la', { fileBytes: 4 * 1024 * 1024 }),
    );
    expect(result.outcome).toBe('exited');
    expect(result.stdout).toContain('write failed');
  });

  test("the host's environment, files and processes are out of sight; nothing outside /work and /tmp is writable", async () => {
    const result = await runInSandbox(
      sh(
        [
          'cat /proc/1/environ | tr "\\0" "\\n"',
          'env',
          'ls /work/main /root /etc /home 2>&1',
          'touch /usr/x 2>&1 || echo "no write to /usr"',
          'touch /x 2>&1 || echo "no write to /"',
          'ps -e -o pid=,comm= 2>&1 || ls /proc | grep -E "^[0-9]+$" | wc -l',
          'kill -9 -1; kill -9 $PPID; echo "still here"',
        ].join('\n'),
      ),
    );
    const everything = result.stdout + result.stderr;
    expect(everything).not.toContain(SECRET);
    expect(everything).not.toMatch(/OPENAI|BUILDSTORY|TEMPORAL/);
    expect(everything).toMatch(/ls: cannot access '\/work\/main': No such file or directory/);
    expect(everything).toContain('no write to /usr');
    expect(everything).toContain('no write to /');
    // The kills reached nothing of the host: this process (the worker's place) still serves.
    expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe('reached the host');
  });

  test("the host's loopback ports are unreachable (the app's, Temporal's): no network at all", async () => {
    const result = await runInSandbox(
      py(
        [
          'import socket',
          `for p in (${port}, 7233, 3000):`,
          '    s = socket.socket(); s.settimeout(1)',
          '    print(p, s.connect_ex(("127.0.0.1", p)))',
          'try:',
          '    socket.create_connection(("example.com", 80), timeout=2); print("internet")',
          'except OSError as e: print("no internet", type(e).__name__)',
        ].join('\n'),
      ),
    );
    expect(result.stdout).toContain(`${port} 111`);
    expect(result.stdout).toContain('no internet');
    expect(result.stdout).not.toMatch(/^internet$/m);
  });

  test('while a hostile run is contained, another run completes beside it', async () => {
    const [hostile, plain] = await Promise.all([
      runInSandbox({ files: { 'bomb.sh': ':(){ :|:& };:' }, command: ['bash', 'bomb.sh'], limits: { pids: 32, wallMs: 3_000 } }),
      runInSandbox(py('print(sum(range(10)))')),
    ]);
    expect(plain).toMatchObject({ outcome: 'exited', exitCode: 0, stdout: '45\n' });
    expect(['exited', 'timed-out']).toContain(hostile.outcome);
    expect(await leftovers()).toEqual({ processes: [], cgroups: [], dirs: [] });
  });
});

test('a file name that leaves /work is refused before anything runs', async () => {
  await expect(runInSandbox({ files: { '../escape.py': 'x' }, command: ['true'] })).rejects.toThrow(/Bad file name/);
  await expect(runInSandbox({ files: { '/etc/x': 'x' }, command: ['true'] })).rejects.toThrow(/Bad file name/);
  expect(existsSync('/tmp/escape.py')).toBe(false);
});

test("what a worker killed mid-run left (a sandbox's cgroups, its files) goes once old; what is running or recent stays", async () => {
  const hoursAgo = new Date(Date.now() - 2 * 3600_000);
  const id = `buildstory-${randomBytes(6).toString('hex')}`;
  const cgroups = ['memory', 'pids', 'cpu'].map((c) => `/sys/fs/cgroup/${c}/${id}`);
  const oldFiles = mkdtempSync(join(tmpdir(), 'buildstory-sandbox-'));
  writeFileSync(join(oldFiles, 'main.py'), 'print(1)');
  // Old too, but a process is still in it.
  const busy = `/sys/fs/cgroup/pids/buildstory-${randomBytes(6).toString('hex')}`;
  const recent = mkdtempSync(join(tmpdir(), 'buildstory-sandbox-'));
  const sleeper = spawn('sleep', ['30']);
  try {
    for (const dir of [...cgroups, busy]) mkdirSync(dir);
    writeFileSync(join(busy, 'cgroup.procs'), String(sleeper.pid));
    for (const dir of [...cgroups, busy, oldFiles]) utimesSync(dir, hoursAgo, hoursAgo);

    const swept = sweepStaleSandboxes();
    expect(swept.cgroups).toEqual(expect.arrayContaining(cgroups));
    expect(swept.dirs).toContain(oldFiles);
    expect([...cgroups, oldFiles].filter((dir) => existsSync(dir))).toEqual([]);
    expect([busy, recent].filter((dir) => existsSync(dir))).toEqual([busy, recent]);
  } finally {
    sleeper.kill('SIGKILL');
    await new Promise((resolve) => sleeper.once('exit', resolve));
    for (const dir of [...cgroups, busy]) if (existsSync(dir)) rmdirSync(dir);
    rmSync(oldFiles, { recursive: true, force: true });
    rmSync(recent, { recursive: true, force: true });
  }
});
