/**
 * Figure 9: verification overhead per code step. The clock runs from the call of verifyCode (the
 * verification activity's body: files taken from the step's output, stored content-addressed,
 * copied into a fresh bubblewrap sandbox with its cgroups, the tests run, the report built) to its
 * report. No Temporal in between: scheduling the activity is figure 1's and 2's business.
 *
 * Baseline, in the same run, sample for sample: the same files written to a fresh temp dir and the
 * same test command run there directly, with the sandbox's PATH, no sandbox. That is running code
 * unsandboxed, which the product never does; here the code is the offline model's own hello-world
 * module and its test. The ratio is what containment costs a step. A second pair isolates the fixed
 * cost: a bare sandbox running `true` against a direct spawn of `true`.
 *
 * Per language (python, node, bash) sequentially, interleaved (direct, then sandbox, then the
 * other way round) so that drift in the machine's other load weighs on both; then python again,
 * `concurrency` at a time, both ways. Every sandboxed report must say "passed": a sample that does
 * not is a failure, not a time.
 *
 * Runs in `npm run bench` after the rest (BENCH_VERIFY=0 or `--no-verify` leaves it out), or alone:
 * `npx tsx bench/figures/verification.ts [samples] [concurrency]`.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { LocalArtifactStore } from '../../artifacts';
import { offlinePlan, offlineStepText } from '../../activities/llm/offline';
import { runInSandbox, sandboxAvailability } from '../../activities/sandbox/sandbox';
import { extractFiles } from '../../activities/verify/files';
import { testCommand, testFiles, type Runner } from '../../activities/verify/runners';
import { pythonRunnerFor, verifyCode } from '../../activities/verify/verify';
import { CODE_LANGUAGES, type CodeLanguage } from '../../contract/data';
import { percentile, summarize } from '../../devstack/stats';
import { cpuShare, readCpu } from '../machine-load';
import { figure, table, type Figure } from '../report';

/** The offline model writes a module and its passing test for each of these tasks. */
const TASKS: Record<CodeLanguage, string> = {
  python: 'Create a hello world python function',
  node: 'Create a hello world javascript function',
  bash: 'Create a hello world bash function',
};

/** What the sandbox gives the code (activities/sandbox/sandbox.ts): /usr's tools only. */
const SANDBOX_PATH = '/usr/local/bin:/usr/bin:/bin';

export interface VerificationSizes {
  /** Samples per language, each way. */
  samples: number;
  /** Python steps verified at once in the concurrent round... */
  concurrency: number;
  /** ...and how many in all, each way. */
  concurrentSamples: number;
}

interface Pair {
  sandboxMs: number[];
  directMs: number[];
}

export interface VerificationResult {
  sizes: VerificationSizes;
  /** The runner each language's tests ran with (python: as verifyCode picks it: pythonRunnerFor). */
  runners: Record<CodeLanguage, Runner>;
  perLanguage: Record<CodeLanguage, Pair>;
  concurrent: Pair;
  /** A bare sandbox running `true`, against a direct spawn of `true`. */
  bareStart: Pair;
  /** The sandbox's own time (SandboxResult.durationMs) inside each sequential python sample: the rest is extraction, hashing, the store's put. */
  pythonSandboxOnlyMs: number[];
  /** Samples whose report was not "passed", or whose direct run failed: why. */
  failures: string[];
  /** Cores: the machine, this process with the children it reaped (the sandboxes, the direct runs), and everything else. */
  cpu: { machine: number; bench: number; others: number } | null;
  loadavg: { before: string; after: string };
}

/** The offline model's code step output for `language`: a module and its test under `File:` lines. */
function codeStepOutput(language: CodeLanguage): string {
  const task = TASKS[language];
  const plan = offlinePlan(task);
  const stepIndex = plan.steps.findIndex((step) => step.code?.language === language);
  if (stepIndex < 0) throw new Error(`the offline plan for "${task}" has no ${language} code step`);
  return offlineStepText({ task, plan, stepIndex, digest: '' });
}

/** The same files and test command as the sandbox gets, in a fresh temp dir, run directly: ms to exit. */
async function runDirect(files: Record<string, string>, command: string[]): Promise<{ ms: number; ok: boolean; why: string }> {
  const started = performance.now();
  const dir = mkdtempSync(join(tmpdir(), 'buildstory-bench-direct-'));
  try {
    for (const [path, content] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), content);
    }
    const [file, ...args] = command;
    const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve, reject) => {
      const child = spawn(file, args, {
        cwd: dir,
        // A session of its own, as the sandbox's: with the kernel's autogroups each session gets a
        // fair share of the CPU, and a loaded machine would otherwise favour the sandboxed side.
        detached: true,
        env: { PATH: SANDBOX_PATH, HOME: dir, LANG: 'C.UTF-8' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let text = '';
      child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (text += chunk.toString()));
      child.once('error', reject);
      child.once('close', (exit) => resolve({ code: exit, output: text }));
    });
    return { ms: performance.now() - started, ok: code === 0, why: `exit ${code}: ${output.slice(-300)}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function measureVerification(sizes: VerificationSizes, progress: (line: string) => void): Promise<VerificationResult | null> {
  const available = sandboxAvailability();
  if (!available.ok) {
    progress(`9 verification: skipped, no sandbox here (${available.why})`);
    return null;
  }
  const storeDir = mkdtempSync(join(tmpdir(), 'buildstory-bench-artifacts-'));
  const store = new LocalArtifactStore({ root: storeDir, encryption: null });
  const empty = (): Pair => ({ sandboxMs: [], directMs: [] });
  const result: VerificationResult = {
    sizes,
    // As verifyCode picks it for these files (unittest for the offline model's unittest-style tests).
    runners: { python: await pythonRunnerFor(extractFiles(codeStepOutput('python')).files), node: 'node', bash: 'bash' },
    perLanguage: { python: empty(), node: empty(), bash: empty() },
    concurrent: empty(),
    bareStart: empty(),
    pythonSandboxOnlyMs: [],
    failures: [],
    cpu: null,
    loadavg: { before: loadavg(), after: '' },
  };
  const cpuBefore = { machine: readCpu({}), own: ownTicks() };

  const prepared = Object.fromEntries(
    CODE_LANGUAGES.map((language) => {
      const output = codeStepOutput(language);
      const { files } = extractFiles(output);
      const tests = testFiles(
        language,
        files.map((f) => f.path),
      );
      const command = testCommand(result.runners[language], tests);
      return [language, { output, files: Object.fromEntries(files.map((f) => [f.path, f.content])), command }];
    }),
  ) as Record<CodeLanguage, { output: string; files: Record<string, string>; command: string[] }>;

  const sandboxed = async (language: CodeLanguage, into: Pair, label: string): Promise<void> => {
    const started = performance.now();
    const report = await verifyCode({ language, output: prepared[language].output, round: 1 }, { store });
    const ms = performance.now() - started;
    if (report.verdict !== 'passed') result.failures.push(`${label}, sandbox: ${report.verdict}: ${report.summary}`);
    else if (report.command.join(' ') !== prepared[language].command.join(' '))
      // The baseline must run what the sandbox ran.
      result.failures.push(`${label}, sandbox ran ${report.command.join(' ')}, the direct run ${prepared[language].command.join(' ')}`);
    else {
      into.sandboxMs.push(ms);
      if (language === 'python' && into === result.perLanguage.python) result.pythonSandboxOnlyMs.push(report.durationMs);
    }
  };
  const direct = async (language: CodeLanguage, into: Pair, label: string): Promise<void> => {
    const run = await runDirect(prepared[language].files, prepared[language].command);
    if (!run.ok) result.failures.push(`${label}, direct: ${run.why}`);
    else into.directMs.push(run.ms);
  };

  try {
    // Warm-up, not counted: the first sandbox of a language reads its runtime from disk.
    for (const language of CODE_LANGUAGES) {
      await sandboxed(language, empty(), `${language} warm-up`);
      await direct(language, empty(), `${language} warm-up`);
    }
    for (let i = 0; i < sizes.samples; i++) {
      const bareDirect = await runDirect({}, ['true']);
      if (bareDirect.ok) result.bareStart.directMs.push(bareDirect.ms);
      const started = performance.now();
      const bare = await runInSandbox({ files: {}, command: ['true'] });
      if (bare.outcome === 'exited' && bare.exitCode === 0) result.bareStart.sandboxMs.push(performance.now() - started);
      else result.failures.push(`bare sandbox ${i + 1}: ${bare.outcome} ${bare.exitCode}`);
    }
    for (const language of CODE_LANGUAGES) {
      progress(`9 verification: ${language}, ${sizes.samples} steps each way, one at a time`);
      for (let i = 0; i < sizes.samples; i++) {
        const label = `${language} ${i + 1}`;
        const pair = result.perLanguage[language];
        if (i % 2 === 0) {
          await direct(language, pair, label);
          await sandboxed(language, pair, label);
        } else {
          await sandboxed(language, pair, label);
          await direct(language, pair, label);
        }
      }
    }
    progress(`9 verification: python, ${sizes.concurrentSamples} steps each way, ${sizes.concurrency} at a time`);
    for (const way of ['direct', 'sandbox'] as const) {
      let next = 0;
      const slot = async () => {
        while (next < sizes.concurrentSamples) {
          const label = `python concurrent ${++next}`;
          if (way === 'direct') await direct('python', result.concurrent, label);
          else await sandboxed('python', result.concurrent, label);
        }
      };
      await Promise.all(Array.from({ length: sizes.concurrency }, slot));
    }
  } finally {
    rmSync(storeDir, { recursive: true, force: true });
  }
  const machine = cpuShare(cpuBefore.machine, readCpu({}));
  if (machine && cpuBefore.own !== null) {
    const seconds = (Date.now() - cpuBefore.machine!.at) / 1000;
    const bench = Math.round(((ownTicks()! - cpuBefore.own) / TICKS_PER_SECOND / seconds) * 100) / 100;
    result.cpu = { machine: machine.machine, bench, others: Math.max(0, Math.round((machine.machine - bench) * 100) / 100) };
  }
  result.loadavg.after = loadavg();
  return result;
}

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/**
 * CPU ticks of this process and of the children it has waited for (utime, stime, cutime, cstime):
 * a sandbox lives a second, so a reading of the live process tree (machine-load.ts) misses it.
 */
function ownTicks(): number | null {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i]), 0);
  } catch {
    return null;
  }
}

function loadavg(): string {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    return 'n/a';
  }
}

/** The figures: p50 and p95 per language and concurrently, each against the same tests run directly; and the bare start. */
export function verificationFigures(r: VerificationResult): Figure[] {
  const direct = (samples: number[], p: number, what: string) => ({ value: percentile(samples, p), what });
  const pairFigures = (key: string, name: string, pair: Pair, what: string) =>
    [50, 95].map((p) =>
      figure(`verify.${key}.p${p}`, `9. verification, ${name}, p${p}`, 'ms', percentile(pair.sandboxMs, p), direct(pair.directMs, p, what)),
    );
  const n = r.sizes.samples;
  return [
    ...CODE_LANGUAGES.flatMap((language) =>
      pairFigures(
        language,
        `${language} (${r.runners[language]}), ${n} steps one at a time`,
        r.perLanguage[language],
        'same tests run directly, no sandbox',
      ),
    ),
    ...pairFigures(
      'python.concurrent',
      `python, ${r.sizes.concurrentSamples} steps ${r.sizes.concurrency} at a time`,
      r.concurrent,
      `same, direct, ${r.sizes.concurrency} at a time`,
    ),
    ...pairFigures('bareStart', `bare sandbox running \`true\`, ${n} times`, r.bareStart, 'direct spawn of `true`'),
  ];
}

/** For the results' details: each series summarized. */
export function verificationDetails(r: VerificationResult): Record<string, unknown> {
  const pair = (p: Pair) => ({ sandbox: summarize(p.sandboxMs), direct: summarize(p.directMs) });
  return {
    ...r,
    summary: {
      ...Object.fromEntries(CODE_LANGUAGES.map((language) => [language, pair(r.perLanguage[language])])),
      concurrent: pair(r.concurrent),
      bareStart: pair(r.bareStart),
      pythonSandboxOnly: summarize(r.pythonSandboxOnlyMs),
    },
  };
}

if (require.main === module) {
  const samples = Number(process.argv[2] ?? 20);
  const concurrency = Number(process.argv[3] ?? 4);
  const log = (line: string) => process.stdout.write(`[bench] ${line}\n`);
  measureVerification({ samples, concurrency, concurrentSamples: concurrency * 3 }, log).then(
    (result) => {
      if (!result) process.exit(0);
      process.stdout.write(`\n${table(verificationFigures(result))}\n\n`);
      const summary = verificationDetails(result).summary as Record<string, unknown>;
      process.stdout.write(`python: sandbox's own time in each step ${JSON.stringify(summary.pythonSandboxOnly)}\n`);
      process.stdout.write(`cpu (cores): ${JSON.stringify(result.cpu)}; load average ${result.loadavg.before} → ${result.loadavg.after}\n`);
      if (result.failures.length) process.stdout.write(`failures:\n${result.failures.map((f) => `- ${f}`).join('\n')}\n`);
      process.exit(result.failures.length ? 1 : 0);
    },
    (err: Error) => {
      process.stderr.write(`${err.stack ?? err.message}\n`);
      process.exit(1);
    },
  );
}
