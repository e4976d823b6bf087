/**
 * verifyCode: the files a code step wrote, run with their tests in the sandbox, and a report of
 * how it went. Code only ever runs in the sandbox: where there is none, the report says so
 * (verdict 'error') and nothing runs. The sandbox builds its own environment (PATH, HOME, LANG):
 * none of the worker's reaches the code.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { Context } from '@temporalio/activity';
import type { ArtifactStore } from '../../artifacts';
import {
  CODE_LANGUAGES,
  VERIFY_LIMITS,
  cleanOutput,
  verificationReport,
  type VerificationOutcome,
  type VerificationReport,
  type VerifyInput,
} from '../../contract/data';
import {
  DEFAULT_HOST,
  DEFAULT_LIMITS,
  runInSandbox,
  sandboxAvailability,
  sweepStaleSandboxes,
  type SandboxHost,
  type SandboxLimits,
  type SandboxOutcome,
} from '../sandbox/sandbox';
import { extractFiles } from './files';
import { parseCounts, testCommand, testFiles, unittestRunsAll, type Runner } from './runners';

/** More processes than the default: node --test runs each file in a process of its own, with its threads. */
export const VERIFY_SANDBOX_LIMITS: SandboxLimits = { ...DEFAULT_LIMITS, wallMs: 30_000, pids: 128 };

export interface VerifyOptions {
  host?: SandboxHost;
  limits?: Partial<SandboxLimits>;
  /**
   * Force a Python runner (tests); otherwise unittest for files it runs in full (unittestRunsAll),
   * else pytest where the sandbox's python3 has it, unittest elsewhere.
   */
  pythonRunner?: 'pytest' | 'unittest';
  /** Where the files the report lists are kept (the artifact store, under their sha256); unset, they are only hashed. */
  store?: ArtifactStore;
}

const pythonRunners = new Map<string, Promise<'pytest' | 'unittest'>>();

/** pytest if the sandbox's python3 can import it (asked once per host), else unittest. */
export function pythonRunner(host: SandboxHost = DEFAULT_HOST): Promise<'pytest' | 'unittest'> {
  const key = JSON.stringify(host);
  let runner = pythonRunners.get(key);
  if (!runner) {
    const probe = runInSandbox({ files: {}, command: ['python3', '-c', 'import pytest'], limits: { wallMs: 10_000 } }, host);
    runner = probe.then((r) => (r.outcome === 'exited' && r.exitCode === 0 ? 'pytest' : 'unittest'));
    pythonRunners.set(key, runner);
    // Only a clear answer is kept: a probe stopped by a busy machine is asked again next time.
    probe.then(
      (r) => r.outcome !== 'exited' && pythonRunners.delete(key),
      () => pythonRunners.delete(key),
    );
  }
  return runner;
}

/** The runner for these Python files: unittest when it runs all their tests (unittestRunsAll), else pythonRunner's. */
export async function pythonRunnerFor(
  files: Array<{ path: string; content: string }>,
  host: SandboxHost = DEFAULT_HOST,
): Promise<'pytest' | 'unittest'> {
  return unittestRunsAll(files) ? 'unittest' : pythonRunner(host);
}

export async function verifyCode(input: VerifyInput, options: VerifyOptions = {}): Promise<VerificationReport> {
  const host = options.host ?? DEFAULT_HOST;
  const report = (fields: Partial<VerificationReport> & Pick<VerificationReport, 'verdict' | 'summary'>): VerificationReport =>
    verificationReport(input.language, input.round, fields);

  if (!CODE_LANGUAGES.includes(input.language))
    return report({ verdict: 'error', summary: `No runner for the language ${JSON.stringify(input.language)}.` });
  const available = sandboxAvailability(host);
  if (!available.ok) return report({ verdict: 'error', summary: `Verification is off here, nothing ran: ${available.why}` });

  const { files, rejected } = extractFiles(input.output);
  const recorded = files.map(({ path, content }) => ({
    path,
    bytes: Buffer.byteLength(content),
    sha256: createHash('sha256').update(content).digest('hex'),
  }));
  // Kept before anything runs, so a report's files are in the store whatever its verdict.
  // Idempotent: a retried attempt puts the same bytes at the same address.
  const { store } = options;
  if (store) for (const file of files) await store.put(Buffer.from(file.content, 'utf8'));
  if (rejected.length > 0) {
    const list = rejected.map(({ name, why }) => `${name} (${why})`).join('; ');
    return report({ verdict: 'error', summary: `Refused ${clip(list, 300)}: nothing ran.`, files: recorded });
  }
  if (files.length === 0)
    return report({ verdict: 'error', summary: 'No files found: each file needs a line `File: <path>` right above its fenced block.' });
  const tests = testFiles(
    input.language,
    files.map((f) => f.path),
  );
  if (tests.length === 0)
    return report({ verdict: 'error', summary: `No test file found (${TEST_NAMES[input.language]}).`, files: recorded });

  const runner: Runner = input.language !== 'python' ? input.language : (options.pythonRunner ?? (await pythonRunnerFor(files, host)));
  const command = testCommand(runner, tests);
  const result = await runInSandbox(
    {
      files: Object.fromEntries(files.map(({ path, content }) => [path, content])),
      command,
      limits: { ...VERIFY_SANDBOX_LIMITS, ...options.limits },
    },
    host,
  );
  const counts = result.outcome === 'exited' ? parseCounts(runner, result.stdout, result.stderr) : null;
  const { verdict, summary } = judge(result.outcome, result.exitCode, counts);
  return report({
    verdict,
    summary,
    command,
    tests: counts,
    exitCode: result.exitCode,
    outcome: result.outcome,
    stdoutTail: tail(result.stdout),
    stderrTail: tail(result.stderr),
    durationMs: result.durationMs,
    files: recorded,
  });
}

const TEST_NAMES: Record<VerifyInput['language'], string> = {
  python: 'test_*.py or *_test.py',
  node: '*.test.js, test_*.js, *_test.js, test-*.js or *-test.js',
  bash: 'test_*.sh or *_test.sh',
};

const STOPPED: Record<Exclude<SandboxOutcome, 'exited'>, string> = {
  'timed-out': 'The tests were stopped at the deadline',
  'memory-limit': 'The tests were stopped at the memory limit',
  'output-limit': 'The tests were stopped at the output limit',
  killed: 'The tests were killed by a signal',
};

function judge(
  outcome: SandboxOutcome,
  exitCode: number | null,
  tests: VerificationReport['tests'],
): Pick<VerificationReport, 'verdict' | 'summary'> {
  if (outcome !== 'exited') return { verdict: 'error', summary: `${STOPPED[outcome]}: no verdict.` };
  if (!tests) return { verdict: 'error', summary: `The test runner printed no summary (exit code ${exitCode}): no verdict.` };
  if (tests.total === 0) return { verdict: 'error', summary: `No tests ran (exit code ${exitCode}).` };
  if (tests.failed > 0) return { verdict: 'failed', summary: `${tests.failed} of ${tests.total} tests failed.` };
  if (exitCode !== 0) return { verdict: 'failed', summary: `${tests.total} tests passed, but the runner exited with ${exitCode}.` };
  return { verdict: 'passed', summary: `${tests.total} of ${tests.total} tests passed.` };
}

/** The last lines of a stream, bounded, without control characters or terminal escapes. */
export function tail(text: string): string {
  // eslint-disable-next-line no-control-regex
  const plain = cleanOutput(text.replace(/\u001B\[[0-9;?]*[A-Za-z]/g, '').replace(/\r\n?/g, '\n')).trimEnd();
  const lines = plain.split('\n').slice(-VERIFY_LIMITS.tailLines).join('\n');
  return lines.length > VERIFY_LIMITS.tailChars ? `…${lines.slice(-(VERIFY_LIMITS.tailChars - 1))}` : lines;
}

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** How often a verification worker looks for sandboxes a killed worker left (at a verification, not on a timer). */
export const SWEEP_EVERY_MS = 10 * 60 * 1000;

/**
 * The verification worker's activities: verifyCode alone, logged; stale sandboxes swept when
 * created and every `sweepEveryMs` at a verification. With a `store`, the files the
 * step wrote are kept there too (content-addressed: the report's sha256 of each file is its
 * address), before the tests run, so a run's files can be downloaded whatever the verdict.
 */
export function createVerifyActivities(deps: { logger: Logger; host?: SandboxHost; store?: ArtifactStore; sweepEveryMs?: number }) {
  // A worker killed mid-verification left its sandboxes' cgroups and files: gone once they are old,
  // looked for when the worker starts and then now and then, so that a long-lived worker also
  // clears what a killed neighbour on the same host left.
  const sweepEveryMs = deps.sweepEveryMs ?? SWEEP_EVERY_MS;
  let swept = 0;
  const sweep = () => {
    swept = Date.now();
    const removed = sweepStaleSandboxes(deps.host);
    if (removed.cgroups.length + removed.dirs.length > 0)
      deps.logger.info(removed, 'removed what sandboxes of a worker that stopped mid-run left behind');
  };
  sweep();
  return {
    async verifyCode(input: VerifyInput): Promise<VerificationReport> {
      if (Date.now() - swept >= sweepEveryMs) sweep();
      // Beat while the sandbox runs: a worker killed meanwhile is noticed at the heartbeat timeout,
      // not at the start-to-close one, and the attempt goes to another worker.
      const context = Context.current();
      context.heartbeat();
      const beat = setInterval(() => context.heartbeat(), 1_000);
      let result: VerificationReport;
      try {
        result = await verifyCode(input, { host: deps.host, store: deps.store });
      } finally {
        clearInterval(beat);
      }
      deps.logger.info(
        { language: input.language, round: input.round, verdict: result.verdict, tests: result.tests, durationMs: result.durationMs },
        'verification finished',
      );
      return result;
    },
  };
}

export type VerifyActivities = ReturnType<typeof createVerifyActivities>;

// The report's outcome is the sandbox's: a new outcome there fails the type check here.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
export const OUTCOMES_MATCH: Same<SandboxOutcome, VerificationOutcome> = true;
