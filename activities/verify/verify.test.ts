/**
 * Verification for real: the runners in the sandbox (bubblewrap, cgroups, a uid of its own, as in
 * activities/sandbox), their counts read from what they actually print, verifyCode end to end,
 * and the offline model's code through it. Needs root and bwrap: without them these fail (the
 * first test says why), they do not skip.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import type { StepInput, VerificationReport } from '../../contract/data';
import { offlinePlan, offlineStepText } from '../llm/offline';
import { runInSandbox, sandboxAvailability } from '../sandbox/sandbox';
import { parseCounts, testCommand, type Runner } from './runners';
import { testLogger } from '../../tests/setup/temporal';
import { VERIFY_SANDBOX_LIMITS, createVerifyActivities, pythonRunner, verifyCode } from './verify';

const file = (path: string, body: string, lang = '') => `File: ${path}\n\`\`\`${lang}\n${body}\n\`\`\`\n`;

const PY_MODULE = file('calc.py', 'def add(a, b):\n    return a + b\n', 'python');
const PY_TESTS = (wrong: boolean) =>
  file(
    'test_calc.py',
    [
      'import unittest',
      'from calc import add',
      '',
      'class AddTest(unittest.TestCase):',
      '    def test_small(self):',
      '        self.assertEqual(add(1, 2), 3)',
      '    def test_negative(self):',
      `        self.assertEqual(add(-1, -1), ${wrong ? '-3' : '-2'})`,
      '    @unittest.skip("not today")',
      '    def test_skipped(self):',
      '        pass',
    ].join('\n'),
    'python',
  );

test('this machine has what the sandbox needs (root, bwrap, cgroup v1), and python3 in /usr has pytest', async () => {
  expect(sandboxAvailability()).toEqual({ ok: true });
  expect(await pythonRunner()).toBe('pytest');
});

describe('counts from what each runner really prints, in the sandbox', () => {
  const suites: Record<Runner, { files: Record<string, string>; tests: string[] }> = {
    pytest: {
      files: {
        'calc.py': 'def add(a, b):\n    return a + b\n',
        'test_calc.py':
          'import pytest\nfrom calc import add\n\ndef test_a():\n    assert add(1, 2) == 3\n\ndef test_b():\n    assert add(2, 2) == 4\n\ndef test_c():\n    assert add(2, 2) == 5\n\n@pytest.mark.skip\ndef test_d():\n    pass\n',
      },
      tests: ['test_calc.py'],
    },
    unittest: {
      files: {
        'test_calc.py':
          'import unittest\n\nclass T(unittest.TestCase):\n    def test_a(self):\n        self.assertTrue(True)\n    def test_b(self):\n        self.assertEqual(1, 1)\n    def test_c(self):\n        self.assertEqual(1, 2)\n    @unittest.skip("no")\n    def test_d(self):\n        pass\n',
      },
      tests: ['test_calc.py'],
    },
    node: {
      files: {
        'calc.test.js':
          "const test = require('node:test');\nconst assert = require('node:assert');\ntest('a', () => assert.ok(true));\ntest('b', () => assert.equal(1, 1));\ntest('c', () => assert.equal(1, 2));\ntest('d', { skip: true }, () => {});\n",
      },
      tests: ['calc.test.js'],
    },
    bash: {
      files: { 'test_a.sh': 'true', 'test_b.sh': '[ 1 -eq 1 ]', 'c_test.sh': 'echo "broken" >&2; exit 4' },
      tests: ['c_test.sh', 'test_a.sh', 'test_b.sh'],
    },
  };
  test.each(Object.keys(suites) as Runner[])('%s: 2 passed, 1 failed (a skipped test in neither)', async (runner) => {
    const { files, tests } = suites[runner];
    const result = await runInSandbox({ files, command: testCommand(runner, tests), limits: VERIFY_SANDBOX_LIMITS });
    expect(result).toMatchObject({ outcome: 'exited', exitCode: expect.any(Number) });
    expect(result.exitCode).not.toBe(0);
    expect(parseCounts(runner, result.stdout, result.stderr)).toEqual({ passed: 2, failed: 1, total: 3 });
  });

  test('a runner that printed no summary gives no counts', async () => {
    const result = await runInSandbox({ files: {}, command: testCommand('unittest', ['test_missing.py']) });
    expect(result.exitCode).not.toBe(0);
    expect(parseCounts('pytest', result.stdout, result.stderr)).toBeNull();
    expect(parseCounts('node', 'garbage', '')).toBeNull();
  });
});

describe('verifyCode', () => {
  test('python that passes: verdict, counts, command (unittest: the file is unittest style), files with their sha256', async () => {
    const report = await verifyCode({ language: 'python', output: `Some prose.\n\n${PY_MODULE}\n${PY_TESTS(false)}`, round: 1 });
    expect(report).toMatchObject({
      verdict: 'passed',
      summary: '2 of 2 tests passed.',
      language: 'python',
      round: 1,
      command: ['python3', '-m', 'unittest', '-v', 'test_calc.py'],
      tests: { passed: 2, failed: 0, total: 2 },
      exitCode: 0,
      outcome: 'exited',
    });
    expect(report.files).toEqual([
      { path: 'calc.py', bytes: 33, sha256: createHash('sha256').update('def add(a, b):\n    return a + b\n\n').digest('hex') },
      { path: 'test_calc.py', bytes: expect.any(Number), sha256: expect.stringMatching(/^[0-9a-f]{64}$/) },
    ]);
    expect(report.durationMs).toBeGreaterThan(0);
  });

  test('python tests in pytest style run with pytest (unittest would not find them)', async () => {
    const tests = file('test_calc.py', 'from calc import add\n\ndef test_small():\n    assert add(1, 2) == 3\n', 'python');
    const report = await verifyCode({ language: 'python', output: PY_MODULE + tests, round: 1 });
    expect(report).toMatchObject({
      verdict: 'passed',
      command: ['python3', '-m', 'pytest', '-q', '-p', 'no:cacheprovider', 'test_calc.py'],
      tests: { passed: 1, failed: 0, total: 1 },
    });
  });

  test.each(['pytest', 'unittest'] as const)(
    'python that fails (%s): failed, with counts and the failing assertion in the tail',
    async (runner) => {
      const report = await verifyCode({ language: 'python', output: PY_MODULE + PY_TESTS(true), round: 2 }, { pythonRunner: runner });
      expect(report).toMatchObject({
        verdict: 'failed',
        summary: '1 of 2 tests failed.',
        round: 2,
        tests: { passed: 1, failed: 1, total: 2 },
        exitCode: 1,
      });
      const tail = runner === 'pytest' ? report.stdoutTail : report.stderrTail;
      expect(tail).toContain('AssertionError: -2 != -3');
      expect(tail.split('\n').length).toBeLessThanOrEqual(30);
      expect(tail.length).toBeLessThanOrEqual(2_000);
    },
  );

  test('node that passes', async () => {
    const output =
      file('sum.js', 'module.exports = (a, b) => a + b;', 'js') +
      file(
        'sum.test.js',
        "const test = require('node:test');\nconst assert = require('node:assert');\nconst sum = require('./sum');\ntest('adds', () => assert.strictEqual(sum(2, 3), 5));",
        'js',
      );
    expect(await verifyCode({ language: 'node', output, round: 1 })).toMatchObject({
      verdict: 'passed',
      command: ['node', '--test', '--test-reporter=tap', 'sum.test.js'],
      tests: { passed: 1, failed: 0, total: 1 },
    });
  });

  test('bash that passes', async () => {
    const output =
      file('greet.sh', 'greet() { echo "hi $1"; }', 'bash') +
      file('test_greet.sh', 'source ./greet.sh\n[[ "$(greet bob)" == "hi bob" ]]', 'bash');
    expect(await verifyCode({ language: 'bash', output, round: 1 })).toMatchObject({
      verdict: 'passed',
      tests: { passed: 1, failed: 0, total: 1 },
    });
  });

  test('no test file, no files, a refused file, no tests in the test file: error, with why', async () => {
    expect(await verifyCode({ language: 'python', output: PY_MODULE, round: 1 })).toMatchObject({
      verdict: 'error',
      summary: 'No test file found (test_*.py or *_test.py).',
      command: [],
      outcome: null,
      files: [{ path: 'calc.py' }],
    });
    expect(await verifyCode({ language: 'bash', output: '```bash\necho hi\n```', round: 1 })).toMatchObject({
      verdict: 'error',
      summary: expect.stringContaining('No files found'),
    });
    expect(await verifyCode({ language: 'python', output: PY_MODULE + file('../test_x.py', 'x = 1'), round: 1 })).toMatchObject({
      verdict: 'error',
      summary: 'Refused ../test_x.py (it leaves the directory): nothing ran.',
      outcome: null,
    });
    expect(await verifyCode({ language: 'ruby' as never, output: PY_MODULE, round: 1 })).toMatchObject({
      verdict: 'error',
      summary: 'No runner for the language "ruby".',
    });
    const empty = await verifyCode({ language: 'python', output: PY_MODULE + file('test_calc.py', 'import calc'), round: 1 });
    expect(empty).toMatchObject({ verdict: 'error', tests: { total: 0 }, outcome: 'exited' });
  });

  test('code that runs past the deadline: error, the sandbox outcome says why', async () => {
    const output = file('test_slow.py', 'import time\ntime.sleep(60)', 'python');
    expect(await verifyCode({ language: 'python', output, round: 1 }, { limits: { wallMs: 2_000 } })).toMatchObject({
      verdict: 'error',
      outcome: 'timed-out',
      tests: null,
      summary: 'The tests were stopped at the deadline: no verdict.',
    });
  });

  test("the code sees none of the worker's environment", async () => {
    process.env.BUILDSTORY_VERIFY_TEST_SECRET = 'sk-verify-secret';
    try {
      const output = file('test_env.sh', 'env; [ -z "${BUILDSTORY_VERIFY_TEST_SECRET:-}" ]', 'bash');
      const report = await verifyCode({ language: 'bash', output, round: 1 });
      expect(report.verdict).toBe('passed');
      expect(report.stdoutTail).not.toContain('sk-verify-secret');
      expect(report.stdoutTail).toContain('HOME=/work');
    } finally {
      delete process.env.BUILDSTORY_VERIFY_TEST_SECRET;
    }
  });

  test('without a sandbox nothing runs: an error report says verification is off', async () => {
    const report = await verifyCode(
      { language: 'python', output: PY_MODULE + PY_TESTS(false), round: 1 },
      { host: { uid: 64_123, gid: 64_123, bwrap: '/nonexistent/bwrap', cgroupRoot: '/sys/fs/cgroup' } },
    );
    expect(report).toMatchObject({
      verdict: 'error',
      outcome: null,
      command: [],
      summary: expect.stringContaining('Verification is off here'),
    });
  });
});

describe("the offline model's code", () => {
  const codeStep = (task: string, verification?: StepInput['verification']): StepInput => {
    const plan = offlinePlan(task);
    const stepIndex = plan.steps.findIndex((step) => step.code);
    expect(stepIndex).toBeGreaterThanOrEqual(0);
    return { task, plan, stepIndex, digest: '', ...(verification ? { verification } : {}) };
  };

  test.each([
    ['Create a hello world python function', 'python'],
    ['Write a Python function that parses dates', 'python'],
    ['Write a hello world JavaScript function', 'node'],
    ['Write a JavaScript function that deep-clones an object', 'node'],
    ['Write a hello world bash script', 'bash'],
    ['Write a bash script that backs up a directory to a dated tar.gz', 'bash'],
  ] as const)('"%s": the plan marks the code step %s, and its files pass', async (task, language) => {
    const input = codeStep(task);
    expect(input.plan.steps[input.stepIndex].code).toEqual({ language });
    const report = await verifyCode({ language, output: offlineStepText(input), round: 1 });
    expect(report).toMatchObject({ verdict: 'passed', tests: { failed: 0 } });
    expect(report.tests!.total).toBeGreaterThan(0);
  });

  test.each(['python', 'JavaScript', 'bash'])(
    'a %s hello world that "fails first": round 1 fails, round 2 (with the report) passes',
    async (name) => {
      const task = `Create a hello world ${name} function that fails first`;
      const first = codeStep(task);
      const language = first.plan.steps[first.stepIndex].code!.language;
      const failed: VerificationReport = await verifyCode({ language, output: offlineStepText(first), round: 1 });
      expect(failed).toMatchObject({ verdict: 'failed', tests: { failed: 1 } });
      const second = offlineStepText(codeStep(task, { round: 2, previous: failed }));
      expect(second).toContain('Round 2');
      expect(await verifyCode({ language, output: second, round: 2 })).toMatchObject({ verdict: 'passed', round: 2 });
    },
  );
});

test('the verification activities sweep what a killed worker left when created, then at most once per interval', async () => {
  const hoursAgo = new Date(Date.now() - 2 * 3_600_000);
  const leftovers: string[] = [];
  const leftover = () => {
    const dir = mkdtempSync(join(tmpdir(), 'buildstory-sandbox-'));
    utimesSync(dir, hoursAgo, hoursAgo);
    leftovers.push(dir);
    return dir;
  };
  const env = new MockActivityEnvironment();
  const input = { language: 'python' as const, output: PY_MODULE + PY_TESTS(false), round: 1 };
  try {
    // Swept when created, as a worker starts.
    const atStart = leftover();
    const lazy = createVerifyActivities({ logger: testLogger });
    expect(existsSync(atStart)).toBe(false);
    // Next not before the interval: left for now.
    const within = leftover();
    expect(((await env.run(lazy.verifyCode, input)) as VerificationReport).verdict).toBe('passed');
    expect(existsSync(within)).toBe(true);
    // Every call may sweep: the call takes the old dir away.
    const eager = createVerifyActivities({ logger: testLogger, sweepEveryMs: 0 });
    const atCall = leftover();
    expect(((await env.run(eager.verifyCode, input)) as VerificationReport).verdict).toBe('passed');
    expect(existsSync(atCall)).toBe(false);
  } finally {
    for (const dir of leftovers) rmSync(dir, { recursive: true, force: true });
  }
});
