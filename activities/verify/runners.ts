/**
 * The test runner for each language, which files it runs, and the counts it printed. Commands
 * run inside the sandbox, in /work, with /usr/bin's tools (the sandbox sees only /usr).
 */
import type { CodeLanguage, TestCounts } from '../../contract/data';

export type Runner = 'pytest' | 'unittest' | 'node' | 'bash';

/** Test files by base name, per language (docs/verification.md). */
const TEST_FILE: Record<CodeLanguage, RegExp> = {
  python: /^(test_.+|.+_test)\.py$/,
  node: /^(test[-_].+|.+[._-]test)\.[cm]?js$/,
  bash: /^(test_.+|.+_test)\.sh$/,
};

export function testFiles(language: CodeLanguage, paths: string[]): string[] {
  return paths.filter((path) => TEST_FILE[language].test(path.split('/').pop() ?? '')).sort();
}

/**
 * Whether `python3 -m unittest` runs every test these Python files hold, so that pytest is not
 * needed: each test file imports unittest, says nothing of pytest (imports, marks, fixtures,
 * `pytest.raises`), has no test function at module level and no `Test*` class outside a
 * TestCase, and sits in /work itself; and there is no conftest.py. unittest starts in about a
 * quarter of pytest's CPU (measured: 0.09 against 0.3-0.37 s for one small file), which on a busy
 * machine is CPU the runs' workflow tasks and streams do not wait for. Anything else, or anything
 * in doubt, is pytest's.
 */
export function unittestRunsAll(files: Array<{ path: string; content: string }>): boolean {
  if (files.some((f) => (f.path.split('/').pop() ?? '') === 'conftest.py')) return false;
  const tests = new Set(
    testFiles(
      'python',
      files.map((f) => f.path),
    ),
  );
  // A test file in a directory: pytest puts that directory on sys.path for its imports, unittest does not.
  return files.filter((f) => tests.has(f.path)).every((f) => !f.path.includes('/') && unittestFile(f.content));
}

function unittestFile(source: string): boolean {
  if (!/^\s*(import\s+unittest\b|from\s+unittest\b)/m.test(source)) return false;
  if (/\bpytest\b/.test(source)) return false;
  if (/^(async\s+)?def\s+test/m.test(source)) return false;
  for (const [, bases] of source.matchAll(/^class\s+Test\w*\s*(?:\(([^)]*)\))?\s*:/gm)) if (!/TestCase\b/.test(bases ?? '')) return false;
  return true;
}

/**
 * Runs each test file with bash in /work and prints, as TAP does, `ok`/`not ok` per file and the
 * `# pass N` / `# fail N` summary that parseCounts reads. A file passes when it exits 0.
 */
const BASH_DRIVER = [
  'pass=0; fail=0',
  'for f in "$@"; do',
  '  echo "# $f"',
  '  if bash "$f"; then pass=$((pass+1)); echo "ok - $f"; else code=$?; fail=$((fail+1)); echo "not ok - $f (exit $code)"; fi',
  'done',
  'echo "# pass $pass"; echo "# fail $fail"',
  '[ "$fail" -eq 0 ]',
].join('\n');

/** The command that runs these test files with this runner. */
export function testCommand(runner: Runner, files: string[]): string[] {
  switch (runner) {
    case 'pytest':
      // No cache directory: /work is thrown away anyway.
      return ['python3', '-m', 'pytest', '-q', '-p', 'no:cacheprovider', ...files];
    case 'unittest':
      // The files by name, not `discover`: it would only find test*.py, and only in packages.
      return ['python3', '-m', 'unittest', '-v', ...files];
    case 'node':
      return ['node', '--test', '--test-reporter=tap', ...files];
    case 'bash':
      return ['bash', '-c', BASH_DRIVER, 'verify', ...files];
  }
}

/** The counts in a runner's own summary; null when it printed none (it crashed, or never started). */
export function parseCounts(runner: Runner, stdout: string, stderr: string): TestCounts | null {
  switch (runner) {
    case 'pytest':
      return pytestCounts(stdout);
    case 'unittest':
      return unittestCounts(stderr);
    case 'node':
    case 'bash':
      return tapCounts(stdout);
  }
}

const counts = (passed: number, failed: number): TestCounts => ({ passed, failed, total: passed + failed });

/** The last line like `1 failed, 2 passed in 0.05s` (or `no tests ran in 0.01s`). */
function pytestCounts(stdout: string): TestCounts | null {
  const line = stdout
    .split('\n')
    .reverse()
    .find((l) => / in \d+(\.\d+)?s\b/.test(l) && /\b(passed|failed|errors?|no tests ran|skipped|deselected)\b/.test(l));
  if (!line) return null;
  const n = (word: string) => Number(new RegExp(`(\\d+) ${word}\\b`).exec(line)?.[1] ?? 0);
  return counts(n('passed') + n('xfailed'), n('failed') + n('errors?') + n('xpassed'));
}

/** `Ran 3 tests in 0.001s`, then `OK`, `OK (skipped=1)` or `FAILED (failures=1, errors=1)`. */
function unittestCounts(stderr: string): TestCounts | null {
  const ran = [...stderr.matchAll(/^Ran (\d+) tests? in /gm)].pop();
  if (!ran) return null;
  const tail = stderr.slice(ran.index);
  const n = (key: string) => Number(new RegExp(`\\b${key}=(\\d+)`).exec(tail)?.[1] ?? 0);
  const failed = n('failures') + n('errors') + n('unexpected successes');
  return counts(Number(ran[1]) - n('skipped') - failed, failed);
}

/** TAP's summary comments, as node --test (and the bash driver) print them: `# pass N`, `# fail N`. */
function tapCounts(stdout: string): TestCounts | null {
  const last = (key: string) => {
    const all = [...stdout.matchAll(new RegExp(`^# ${key} (\\d+)$`, 'gm'))];
    return all.length ? Number(all[all.length - 1][1]) : null;
  };
  const [pass, fail] = [last('pass'), last('fail')];
  if (pass === null || fail === null) return null;
  return counts(pass, fail + (last('cancelled') ?? 0));
}
