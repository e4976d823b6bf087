/**
 * The offline model alone: deterministic, valid plans for any task, real code for the sample task,
 * labeled as offline, streaming, bounded and cancellable.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PlanSchema, TaskTextSchema } from '../../contract/schemas';
import { LIMITS, type StepInput } from '../../contract/data';
import { OFFLINE_MODEL, OfflineProvider, chunkText, offlinePlan, offlineStepText } from './offline';

const SAMPLE = 'Create a hello world python function';
const BACKUP = 'Write a bash script that backs up a directory to a dated tar.gz';

const TASKS: Record<string, string> = {
  python: SAMPLE,
  typescript: 'Implement a debounce helper in TypeScript',
  go: 'Write a Go HTTP server that returns the time',
  rust: 'Parse a CSV file in Rust with error handling',
  javascript: 'Write a JavaScript function that deep-clones an object',
  bash: BACKUP,
  question: 'What are the trade-offs between SQL and NoSQL databases?',
  unicode: 'Écris une fonction qui dit bonjour 👋🌍 — 日本語もOK',
  emojiOnly: '🚀🚀🚀',
  multiline: 'First line of the task\nsecond line\n\nthird line with """ and */ inside',
  long: `Write a python function that ${'handles many requirements and '.repeat(200)}`.slice(0, LIMITS.taskMaxChars),
};

const signal = () => new AbortController().signal;
const stepInput = (task: string, stepIndex: number): StepInput => ({ task, plan: offlinePlan(task), stepIndex, digest: '' });
/** The code inside the first fenced block of `text`, with its fence language. */
function fenced(text: string): { fence: string; code: string } {
  const match = /```(\w+)\n([\s\S]*?)\n```/.exec(text);
  if (!match) throw new Error(`no fenced code in:\n${text}`);
  return { fence: match[1], code: match[2] };
}

test('the long task is at the task limit', () => {
  expect(TASKS.long).toHaveLength(LIMITS.taskMaxChars);
  expect(TaskTextSchema.safeParse(TASKS.long).success).toBe(true);
});

describe.each(Object.entries(TASKS))('task kind %s', (_kind, task) => {
  test('the plan passes PlanSchema, is labeled offline and is the same every time', async () => {
    const plan = offlinePlan(task);
    expect(PlanSchema.safeParse(plan).success).toBe(true);
    expect(plan.summary.startsWith('(offline model)')).toBe(true);
    expect(plan.steps.length).toBeGreaterThanOrEqual(LIMITS.planMinSteps);
    expect(plan.steps.length).toBeLessThanOrEqual(LIMITS.planMaxSteps);
    expect(offlinePlan(task)).toEqual(plan);

    const provider = new OfflineProvider(0);
    const first = await provider.plan(task, signal());
    expect(first.plan).toEqual(plan);
    expect(first.usage?.totalTokens).toBeGreaterThan(0);
    expect(await provider.plan(task, signal())).toEqual(first);
  });

  test('every step writes the same text every time, and says it is offline', () => {
    const plan = offlinePlan(task);
    for (let stepIndex = 0; stepIndex < plan.steps.length; stepIndex++) {
      const text = offlineStepText(stepInput(task, stepIndex));
      expect(text.trim().length).toBeGreaterThan(0);
      expect(text).toContain('offline model');
      expect(offlineStepText(stepInput(task, stepIndex))).toBe(text);
    }
  });
});

test('the model says it is offline, and costs nothing', () => {
  expect(OFFLINE_MODEL.offline).toBe(true);
  expect(new OfflineProvider(0).model).toEqual({
    name: 'offline model',
    offline: true,
    price: { inputPerMillion: 0, outputPerMillion: 0 },
  });
});

test('different tasks give different plans', () => {
  const summaries = new Set(Object.values(TASKS).map((task) => offlinePlan(task).summary));
  expect(summaries.size).toBe(Object.keys(TASKS).length);
});

describe('languages', () => {
  test.each([
    ['python', 'Python', 'python'],
    ['typescript', 'TypeScript', 'ts'],
    ['go', 'Go', 'go'],
    ['rust', 'Rust', 'rust'],
    ['javascript', 'JavaScript', 'js'],
    ['bash', 'Bash', 'bash'],
  ])('a %s task is planned and written in %s', (kind, name, fence) => {
    const task = TASKS[kind];
    expect(offlinePlan(task).steps.map((s) => s.title)).toContain(`Write the ${name} code`);
    expect(fenced(offlineStepText(stepInput(task, 1))).fence).toBe(fence);
    expect(offlineStepText(stepInput(task, 0))).toContain(`- Language: ${name}`);
  });

  test('a question that is not about code gets an answer outline, not code', () => {
    const task = TASKS.question;
    const plan = offlinePlan(task);
    expect(plan.steps.map((s) => s.title)).toEqual(['Outline the answer', 'Write the draft', 'Review and summarise']);
    for (let i = 0; i < plan.steps.length; i++) expect(offlineStepText(stepInput(task, i))).not.toContain('```');
  });

  test('a Python task that mentions a shell stays Python', () => {
    const task = 'Write a Python function that runs a shell command and returns its output';
    expect(fenced(offlineStepText(stepInput(task, 1))).fence).toBe('python');
  });

  test.each(['Write a shell script that counts lines', 'Make an sh script to go through the logs'])('%s is Bash', (task) => {
    expect(fenced(offlineStepText(stepInput(task, 1))).fence).toBe('bash');
  });
});

describe('the sample task', () => {
  test('"Create a hello world python function" yields a real hello_world function and a test for it', () => {
    const plan = offlinePlan(SAMPLE);
    expect(plan.steps.map((s) => s.title)).toEqual(['Pin down the requirements', 'Write the Python code', 'Show usage and a test']);

    expect(offlineStepText(stepInput(SAMPLE, 0))).toContain('Entry point: `hello_world`');
    const { fence, code } = fenced(offlineStepText(stepInput(SAMPLE, 1)));
    expect(fence).toBe('python');
    expect(code).toMatch(/^def hello_world\(\) -> str:\n(\s{4}.*\n)*\s{4}return "Hello, world!"$/m);
    expect(code).toContain('print(hello_world())');

    const usage = fenced(offlineStepText(stepInput(SAMPLE, 2))).code;
    expect(usage).toContain('from hello import hello_world');
    expect(usage).toContain('assert hello_world() == "Hello, world!"');
  });
});

describe('the bash example task', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'buildstory-offline-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test(`"${BACKUP}" is planned and written in Bash, under a name drawn from the task`, () => {
    expect(offlinePlan(BACKUP).summary).toContain('write it in Bash');
    expect(offlineStepText(stepInput(BACKUP, 0))).toContain('Entry point: `backs_up_directory`');
    const { fence, code } = fenced(offlineStepText(stepInput(BACKUP, 1)));
    expect(fence).toBe('bash');
    expect(code.startsWith('#!/usr/bin/env bash\n')).toBe(true);
    expect(code).toContain('backs_up_directory() {');
    expect(fenced(offlineStepText(stepInput(BACKUP, 2))).code).toContain('declare -F backs_up_directory');
  });

  test('the stub is valid bash that fails until filled in, and can be sourced', () => {
    const path = join(dir, 'solution.sh');
    writeFileSync(path, fenced(offlineStepText(stepInput(BACKUP, 1))).code);
    expect(spawnSync('bash', ['-n', path]).status).toBe(0);
    const run = spawnSync('bash', [path], { encoding: 'utf8' });
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain('offline model: fill in the logic');
    const check = spawnSync('bash', ['-c', fenced(offlineStepText(stepInput(BACKUP, 2))).code], { cwd: dir, encoding: 'utf8' });
    expect(check.stdout).toBe('ok: backs_up_directory is defined\n');
  });

  test('a bash hello world prints the greeting, run or sourced', () => {
    const task = 'Write a hello world bash script';
    const path = join(dir, 'hello.sh');
    writeFileSync(path, fenced(offlineStepText(stepInput(task, 1))).code);
    const run = spawnSync('bash', [path], { encoding: 'utf8' });
    expect(run.status).toBe(0);
    expect(run.stdout).toBe('Hello, world!\n');
    const check = spawnSync('bash', ['-c', fenced(offlineStepText(stepInput(task, 2))).code], { cwd: dir, encoding: 'utf8' });
    expect(check.stdout).toBe('ok: hello_world greets\n');
  });
});

describe('writeStep', () => {
  const input = stepInput(SAMPLE, 1);
  const expected = offlineStepText(input);

  test('streams several chunks whose concatenation is the output', async () => {
    const chunks: string[] = [];
    const result = await new OfflineProvider(0).writeStep(input, {
      signal: signal(),
      onText: (text) => chunks.push(text),
      maxChars: LIMITS.stepOutputMaxChars,
    });
    expect(chunks.length).toBeGreaterThan(5);
    expect(chunks.every((c) => c.length > 0)).toBe(true);
    expect(chunks.join('')).toBe(result.output);
    expect(result.output).toBe(expected);
    expect(result.truncated).toBe(false);
    expect(result.usage?.completionTokens).toBeGreaterThan(0);
  });

  test('chunkText loses nothing', () => {
    for (const task of Object.values(TASKS)) {
      const text = offlineStepText(stepInput(task, 1));
      expect(chunkText(text).join('')).toBe(text);
    }
  });

  test('stops at maxChars and marks the output truncated', async () => {
    const chunks: string[] = [];
    const maxChars = 25;
    const result = await new OfflineProvider(0).writeStep(input, { signal: signal(), onText: (t) => chunks.push(t), maxChars });
    expect(result.truncated).toBe(true);
    expect(result.output).toBe(expected.slice(0, maxChars));
    expect(chunks.join('')).toBe(result.output);
  });

  test('an output that fits in maxChars is complete, not truncated', async () => {
    const exact = await new OfflineProvider(0).writeStep(input, { signal: signal(), onText: () => {}, maxChars: expected.length + 1 });
    expect(exact).toMatchObject({ output: expected, truncated: false });
  });

  test("waits the configured delay before every chunk, with the caller's signal", async () => {
    const controller = new AbortController();
    const seen: string[] = [];
    const wait = async (ms: number, waitSignal: AbortSignal) => {
      expect(waitSignal).toBe(controller.signal);
      seen.push(`wait ${ms}`);
    };
    await new OfflineProvider(5, wait).writeStep(input, { signal: controller.signal, onText: (t) => seen.push(t), maxChars: 10_000 });
    const chunks = chunkText(expected);
    expect(seen).toEqual(chunks.flatMap((chunk) => ['wait 5', chunk]));
  });

  test('stops writing when the signal is aborted mid-stream', async () => {
    const controller = new AbortController();
    const chunks: string[] = [];
    const onText = (t: string) => {
      chunks.push(t);
      if (chunks.length === 2) controller.abort();
    };
    const writing = new OfflineProvider(0).writeStep(input, { signal: controller.signal, onText, maxChars: 10_000 });
    await expect(writing).rejects.toMatchObject({ name: 'AbortError' });
    expect(chunks).toEqual(chunkText(expected).slice(0, 2));
  });

  test('an abort ends a wait in progress (an hour between chunks: nothing else could end this one)', async () => {
    const controller = new AbortController();
    const chunks: string[] = [];
    const writing = new OfflineProvider(3_600_000).writeStep(input, {
      signal: controller.signal,
      onText: (t) => chunks.push(t),
      maxChars: 10_000,
    });
    controller.abort();
    await expect(writing).rejects.toMatchObject({ name: 'AbortError' });
    expect(chunks).toEqual([]);
  });

  test('rejects at once when the signal is already aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    const provider = new OfflineProvider(3_600_000);
    const chunks: string[] = [];
    await expect(
      provider.writeStep(input, { signal: controller.signal, onText: (t) => chunks.push(t), maxChars: 10_000 }),
    ).rejects.toThrow();
    await expect(provider.plan(SAMPLE, controller.signal)).rejects.toThrow();
    expect(chunks).toEqual([]);
  });
});
