/**
 * The worker entrypoint as a real process (`tsx worker/index.ts`): a bad setting stops it at once
 * with one line; a good one runs a workflow on the shared dev server (and serves verification beside
 * it), a sandbox worker serves only the verification queue, and both stop cleanly on SIGTERM.
 */
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { ROOT, spawnTsx } from '../devstack/processes';
import type { temporal as proto } from '@temporalio/proto';
import pino from 'pino';
import { DEFAULT_HOST } from '../activities/sandbox/sandbox';
import { createVerificationWorker } from './worker';
import { verificationTaskQueue, type ProgressSnapshot } from '../contract/data';

const TASK_QUEUE_TYPE_WORKFLOW = 1 as proto.api.enums.v1.TaskQueueType;
const TASK_QUEUE_TYPE_ACTIVITY = 2 as proto.api.enums.v1.TaskQueueType;

interface Worker {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (or the signal's name). */
  exited: Promise<number | string>;
}

const started: ChildProcess[] = [];

afterEach(() => {
  // A test that failed half-way must not leave its worker running: the whole process group, since
  // tsx runs the worker in a child of its own that a kill of tsx alone would leave behind.
  for (const child of started.splice(0)) {
    if (child.exitCode === null && child.signalCode === null && child.pid) process.kill(-child.pid, 'SIGKILL');
  }
});

/**
 * The worker with only the settings given: none of this shell's OPENAI_* or TEMPORAL_* leak in,
 * and no Temporal profile file is read.
 */
function startWorker(settings: Record<string, string>): Worker {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!/^(OPENAI_|TEMPORAL_)/.test(name)) env[name] = value;
  }
  // No health server unless a test asks: port 9464 may be another worker's on this machine.
  Object.assign(env, {
    TEMPORAL_CONFIG_FILE: join(ROOT, 'no-such-temporal.toml'),
    LOG_LEVEL: 'info',
    WORKER_HEALTH_PORT: '0',
    ...settings,
  });
  const child = spawnTsx('worker/index.ts', { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  started.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The worker's pino log lines, parsed; a line still being written is left out. */
function logLines(worker: Worker): Array<{ msg?: string; level?: number } & Record<string, unknown>> {
  return worker
    .stdout()
    .split('\n')
    .slice(0, -1)
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { msg?: string });
}

/** Resolves once the worker logs `msg`; fails if it exits first, or after `ms`. */
function waitForLog(worker: Worker, msg: string, ms: number): Promise<void> {
  const output = () => `${worker.stdout()}\n${worker.stderr()}`;
  return new Promise<void>((resolve, reject) => {
    const settle = (err?: Error) => {
      clearTimeout(timer);
      worker.child.stdout!.off('data', onData);
      worker.child.off('exit', onExit);
      if (err) reject(err);
      else resolve();
    };
    // Registered after startWorker's own listener: worker.stdout() already holds the new text.
    const onData = () => {
      const found = logLines(worker).some((line) => line.msg === msg);
      if (found) settle();
      return found;
    };
    const onExit = (code: number | null) => settle(new Error(`worker exited (${code}) before "${msg}":\n${output()}`));
    const timer = setTimeout(() => settle(new Error(`no "${msg}" within ${ms} ms:\n${output()}`)), ms);
    worker.child.stdout!.on('data', onData);
    worker.child.once('exit', onExit);
    if (!onData() && worker.child.exitCode !== null) onExit(worker.child.exitCode);
  });
}

describe('a bad setting stops the worker with one line naming it', () => {
  test.each([
    ['OPENAI_BASE_URL', { OPENAI_API_KEY: 'sk-never-shown', OPENAI_BASE_URL: 'not-a-url' }],
    ['TEMPORAL_TLS_CLIENT_CERT_PATH', { TEMPORAL_TLS_CLIENT_CERT_PATH: '/nonexistent' }],
    ['TEMPORAL_ADDRESS', { TEMPORAL_ADDRESS: 'http://localhost:7233' }],
  ])('%s', async (name, settings) => {
    const worker = startWorker(settings);
    const code = await within(worker.exited, 15_000, 'worker exit');
    expect(code).toBe(1);
    const lines = worker.stderr().split('\n');
    expect(lines).toHaveLength(2); // one line and its newline
    expect(lines[1]).toBe('');
    expect(lines[0]).toMatch(new RegExp(`^worker: Invalid configuration: ${name}\\b`));
    expect(worker.stderr()).not.toContain('sk-never-shown');
    expect(worker.stdout()).toBe('');
  });
});

test('a good configuration: the worker runs a workflow on its task queue, then stops cleanly on SIGTERM', async () => {
  const address = process.env.BUILDSTORY_TEST_TEMPORAL_ADDRESS;
  if (!address) throw new Error('the jest globalSetup did not start the Temporal dev server');
  const taskQueue = `test-worker-process-${randomUUID()}`;
  const worker = startWorker({ TEMPORAL_ADDRESS: address, TEMPORAL_TASK_QUEUE: taskQueue, OFFLINE_MODEL_DELAY_MS: '1' });

  // Bundling the workflows at start takes several seconds.
  await waitForLog(worker, 'worker running', 90_000);
  const running = logLines(worker).find((line) => line.msg === 'worker running');
  expect(running).toMatchObject({ taskQueue, namespace: 'default' });
  expect(logLines(worker).find((line) => line.msg === 'model')).toMatchObject({ offline: true });
  // This machine has the sandbox: the worker verifies too, beside the runs' queue.
  expect(logLines(worker).find((line) => line.msg === 'verification on: code runs in the sandbox')).toMatchObject({
    taskQueue: verificationTaskQueue(taskQueue),
  });

  const connection = await Connection.connect({ address });
  try {
    const client = new Client({ connection });
    const handle = await client.workflow.start('taskWorkflow', {
      taskQueue,
      workflowId: `worker-process-${randomUUID()}`,
      args: [{ task: 'Create a hello world python function' }],
    });
    const result = (await within(handle.result(), 60_000, 'workflow result')) as ProgressSnapshot;
    expect(result.status).toBe('completed');
    expect(result.model).toEqual({ name: 'offline model', offline: true, price: { inputPerMillion: 0, outputPerMillion: 0 } });
    expect(result.result).toContain('def hello_world() -> str:');
  } finally {
    await connection.close();
  }

  worker.child.kill('SIGTERM');
  const code = await within(worker.exited, 15_000, 'worker exit after SIGTERM');
  expect(code).toBe(0);
  expect(logLines(worker).some((line) => line.msg === 'worker stopped')).toBe(true);
  expect(worker.stderr()).toBe('');
});

test('a sandbox worker (BUILDSTORY_WORKER_ROLE=sandbox) serves the verification queue only, and stops cleanly', async () => {
  const address = process.env.BUILDSTORY_TEST_TEMPORAL_ADDRESS;
  if (!address) throw new Error('the jest globalSetup did not start the Temporal dev server');
  const taskQueue = `test-sandbox-worker-${randomUUID()}`;
  const worker = startWorker({ TEMPORAL_ADDRESS: address, TEMPORAL_TASK_QUEUE: taskQueue, BUILDSTORY_WORKER_ROLE: 'sandbox' });
  await waitForLog(worker, 'worker running', 60_000);
  expect(logLines(worker).find((line) => line.msg === 'verification on: code runs in the sandbox')).toMatchObject({
    taskQueue: verificationTaskQueue(taskQueue),
  });
  // No model: it runs no steps.
  expect(logLines(worker).some((line) => line.msg === 'model')).toBe(false);

  const connection = await Connection.connect({ address });
  try {
    const pollers = async (name: string, taskQueueType: proto.api.enums.v1.TaskQueueType) =>
      (await connection.workflowService.describeTaskQueue({ namespace: 'default', taskQueue: { name }, taskQueueType })).pollers;
    // Polls start a moment after "running".
    let verifying: unknown[] = [];
    for (let i = 0; i < 50 && verifying.length === 0; i++) {
      verifying = await pollers(verificationTaskQueue(taskQueue), TASK_QUEUE_TYPE_ACTIVITY);
      if (verifying.length === 0) await new Promise((r) => setTimeout(r, 100));
    }
    expect(verifying).toEqual([expect.objectContaining({ identity: expect.stringMatching(/\(verification\)$/) })]);
    expect(await pollers(taskQueue, TASK_QUEUE_TYPE_WORKFLOW)).toEqual([]);
    expect(await pollers(taskQueue, TASK_QUEUE_TYPE_ACTIVITY)).toEqual([]);
  } finally {
    await connection.close();
  }

  worker.child.kill('SIGTERM');
  expect(await within(worker.exited, 15_000, 'worker exit after SIGTERM')).toBe(0);
  expect(worker.stderr()).toBe('');
});

test('where the sandbox is missing there is no verification worker, and the reason says why (nothing runs unsandboxed)', async () => {
  const result = await createVerificationWorker({
    // Never reached: the sandbox is checked first.
    connection: null as never,
    namespace: 'default',
    taskQueue: 'unused',
    logger: pino({ level: 'silent' }),
    sandboxHost: { ...DEFAULT_HOST, bwrap: '/nonexistent/bwrap' },
  });
  expect(result).toEqual({ worker: null, off: expect.stringContaining('bubblewrap is not installed') });
});
