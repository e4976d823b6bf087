/**
 * The fault harness: the real parts as separate processes (the Temporal dev server on a SQLite
 * file, two workers, the web app, the test LLM server), tasks submitted through the home form and
 * followed over SSE by clients that reconnect with Last-Event-ID, while crashes and LLM faults
 * are injected at seeded random points. Then every run is checked against Temporal:
 *
 * - it reached the end state decided up front from the faults aimed at it;
 * - its SSE client saw every event of the final story once, in order, unaltered;
 * - no step (nor the plan) was sent to the LLM again after its activity had completed;
 * - how long it took, after each fault, until the next progress event arrived.
 *
 * `npm run test:faults -- --runs 50 --seed 1234` runs it (scripts/faults.ts); tests/faults.test.ts
 * runs a small version inside `npm test`. See faults/README.md.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isDeepStrictEqual } from 'node:util';
import { ApplicationFailure, Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import type { LlmCall, LlmRule } from '../tests/fixtures/llm-server';
import { formToken, runIdFromRedirect, submitTask } from '../devstack/form';
import { ROOT, freePort, waitForHttp } from '../devstack/processes';
import { readSse, type SseFrame } from '../devstack/sse';
import { percentile } from '../devstack/stats';
import { ensureTemporalCli, startDevServer, type DevServer } from '../devstack/temporal';
import { RUN_FAILED_ERROR_TYPE, type ProgressSnapshot, type RunStatus, type StoryEvent } from '../workflows/shared';

/* ----------------------------------------------------------------------------------------- */
/* Options and results                                                                       */
/* ----------------------------------------------------------------------------------------- */

export interface FaultHarnessOptions {
  runs: number;
  seed: number;
  /** Runs in flight at once (default 8). */
  concurrency?: number;
  /** Crashes of each kind (defaults scale with `runs`). */
  crashes?: Partial<Record<CrashKind, number>>;
  /** Least time between two crashes (default 8 s). */
  minCrashGapMs?: number;
  /** A run's SSE client gives up this long after the submit (default 4 minutes). */
  runTimeoutMs?: number;
  /** The LLM server's delay between stream chunks (default 40 ms). */
  chunkDelayMs?: number;
  /** The workers' OPENAI_TIMEOUT_MS (default 3000): hung and slow requests end after it. */
  openaiTimeoutMs?: number;
  /** Share of runs (after every kind has had its turn) that get a non-retryable fault (default 0.1). */
  fatalShare?: number;
  log?: (line: string) => void;
  /** Keep the temp dir (SQLite file, process logs) after a clean pass; it is always kept after a failure. */
  keepDir?: boolean;
}

export type CrashKind = 'worker' | 'web' | 'temporal';
/** LLM faults: the first six are retried by Temporal, the last two fail the run for good. */
export type LlmFaultKind =
  | 'latency'
  | 'rate-limit'
  | 'server-error'
  | 'drop'
  | 'hang'
  | 'garbled-stream'
  | 'malformed-plan'
  | 'unauthorized';
export type FaultKind = CrashKind | LlmFaultKind;

const RETRYABLE: readonly LlmFaultKind[] = ['latency', 'rate-limit', 'server-error', 'drop', 'hang', 'garbled-stream'];
const FATAL: readonly LlmFaultKind[] = ['malformed-plan', 'unauthorized'];

export const FAULT_LABELS: Record<FaultKind, string> = {
  worker: 'worker kill -9 + restart',
  web: 'web app kill -9 + restart',
  temporal: 'Temporal kill -9 + restart',
  latency: 'LLM latency spike (12 s)',
  'rate-limit': 'LLM 429 burst + Retry-After',
  'server-error': 'LLM 500',
  drop: 'LLM connection dropped',
  hang: 'LLM hung request',
  'garbled-stream': 'LLM garbled stream chunk',
  'malformed-plan': 'LLM malformed plan JSON',
  unauthorized: 'LLM 401',
};

/** Where an LLM fault is aimed: the plan, or a step (0-based). */
export type FaultTarget = 'plan' | number;

export interface PlannedLlmFault {
  kind: LlmFaultKind;
  target: FaultTarget;
  rule: LlmRule;
}

export interface PlannedRun {
  index: number;
  task: string;
  steps: number;
  faults: PlannedLlmFault[];
  expected: Exclude<RunStatus, 'running' | 'cancelled'>;
  /** For an expected failure: the message the story must end with. */
  expectedError?: RegExp;
}

export interface PlannedCrash {
  kind: CrashKind;
  /** Fires this long after run `afterRun` was submitted... */
  afterRun: number;
  delayMs: number;
  /** ...and the part is restarted this long after the kill. */
  downMs: number;
  /** Which worker (0 or 1). */
  worker: number;
}

export interface FaultPlan {
  runs: PlannedRun[];
  crashes: PlannedCrash[];
}

export interface RunReport {
  index: number;
  task: string;
  workflowId: string | null;
  runId: string | null;
  expected: PlannedRun['expected'];
  /** Status in Temporal (COMPLETED, FAILED, RUNNING...), or null when it was never found. */
  temporalStatus: string | null;
  /** The final story's status and error. */
  status: RunStatus | null;
  error: string | null;
  /** What the SSE client was told at the end (`end` event), or '204' when it got a 204 instead. */
  sseEnd: string | null;
  inExpectedState: boolean;
  lost: boolean;
  events: number;
  eventsLost: number;
  eventsDuplicated: number;
  eventsAltered: number;
  eventsOutOfOrder: number;
  /** Story frames for another run id than the final one (there are no resets here: must be 0). */
  foreignFrames: number;
  /** LLM calls for the plan or a step after its activity had completed in the run's history. */
  redone: Array<{ target: FaultTarget; at: number; completedAt: number }>;
  /** LLM calls beyond one per activity and one per programmed fault: attempts redone after crashes. */
  extraAttempts: number;
  sseConnections: number;
  problems: string[];
}

export interface FaultRecord {
  kind: FaultKind;
  at: number;
  /** The run aimed at (LLM faults), or null for a crash. */
  runIndex: number | null;
  detail: string;
  /** Time from the fault to the next story event, for each run it touched. */
  toNextProgressMs: number[];
}

export interface FaultHarnessResult {
  seed: number;
  options: Required<Omit<FaultHarnessOptions, 'log' | 'crashes'>> & { crashes: Record<CrashKind, number> };
  plan: FaultPlan;
  runs: RunReport[];
  faults: FaultRecord[];
  skippedCrashes: PlannedCrash[];
  unexpectedExits: string[];
  /** Starts of a part that exited before it was ready and were retried (e.g. a worker while Temporal restarted). */
  startRetries: string[];
  /** Runtime warnings the parts printed (Node's `(node:PID) SomeWarning: ...`), with counts: not failures, but worth a look. */
  processWarnings: string[];
  totals: {
    submitted: number;
    inExpectedState: number;
    lost: number;
    events: number;
    eventsLost: number;
    eventsDuplicated: number;
    eventsAltered: number;
    eventsOutOfOrder: number;
    foreignFrames: number;
    redone: number;
    extraAttempts: number;
  };
  /** Every reason the harness fails, one line each; empty when it passes. */
  problems: string[];
  ok: boolean;
  wallMs: number;
  dir: string;
}

/* ----------------------------------------------------------------------------------------- */
/* The plan: seeded, decided before anything starts                                          */
/* ----------------------------------------------------------------------------------------- */

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Dice {
  constructor(private readonly next: () => number) {}
  float(): number {
    return this.next();
  }
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }
  shuffle<T>(items: readonly T[]): T[] {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [out[i], out[j]] = [out[j], out[i]];
    }
    return out;
  }
}

/** Temporal retries an activity 5 times in all (workflows/index.ts, MAX_ATTEMPTS). */
const MAX_ATTEMPTS = 5;
/** Attempts one LLM fault may cost an activity (2): the rest of the budget is for crashes. */
const MAX_FAULT_ATTEMPTS = MAX_ATTEMPTS - 3;
/** Beyond the workflow's 10 s heartbeat timeout and the workers' request timeout. */
const LATENCY_SPIKE_MS = 12_000;

function ruleFor(kind: LlmFaultKind, target: FaultTarget, dice: Dice): LlmRule {
  const where: LlmRule = target === 'plan' ? { kind: 'plan' } : { kind: 'step', stepIndex: target };
  switch (kind) {
    case 'latency':
      return { ...where, delayMs: LATENCY_SPIKE_MS, times: 1 };
    case 'rate-limit':
      return { ...where, status: 429, retryAfter: dice.int(1, 2), times: dice.int(1, MAX_FAULT_ATTEMPTS) };
    case 'server-error':
      return { ...where, status: 500, times: dice.int(1, MAX_FAULT_ATTEMPTS) };
    case 'drop':
      // A plan is not streamed: its connection drops before the answer.
      return { ...where, dropAfterChunks: target === 'plan' ? 0 : dice.int(1, 4), times: 1 };
    case 'hang':
      return { ...where, hang: true, times: 1 };
    case 'garbled-stream':
      return { ...where, malformed: true, times: 1 };
    // Fatal faults answer every attempt the same way: a retry after a crash must fail too.
    case 'malformed-plan':
      return { kind: 'plan', malformed: true, times: -1 };
    case 'unauthorized':
      return { ...where, status: 401, times: -1 };
  }
}

function expectedErrorFor(fault: PlannedLlmFault): RegExp {
  const phase = fault.target === 'plan' ? 'Planning' : `Step ${fault.target + 1} \\(.+\\)`;
  return fault.kind === 'malformed-plan'
    ? new RegExp(`^${phase} failed: The model's plan is not valid: it is not JSON`)
    : new RegExp(`^${phase} failed: The model endpoint rejected the API key \\(401\\)\\. Check OPENAI_API_KEY\\.`);
}

/**
 * Which faults hit which run, and when the crashes come. Every LLM fault kind is used at least
 * once (when there are runs enough); a run with a fatal fault gets no other; a run gets at most
 * two retryable faults, on different activities, each costing at most two attempts, so crashes
 * have attempts left (5 in all) and such a run is expected to complete.
 */
export function planFaults(options: {
  runs: number;
  seed: number;
  concurrency: number;
  crashes: Record<CrashKind, number>;
  fatalShare: number;
}): FaultPlan {
  const dice = new Dice(prng(options.seed));
  const tag = options.seed.toString(36);
  const runs: PlannedRun[] = Array.from({ length: options.runs }, (_, index) => ({
    index,
    // Unique and short: the test LLM server routes by it and the plan's titles start with it.
    task: `fr${tag}n${index} write a short note about resilience`,
    steps: dice.int(2, 4),
    faults: [],
    expected: 'completed',
  }));

  const aim = (run: PlannedRun, kind: LlmFaultKind) => {
    const taken = new Set(run.faults.map((f) => f.target));
    const targets: FaultTarget[] = [
      ...(kind === 'garbled-stream' ? [] : (['plan'] as FaultTarget[])),
      ...Array.from({ length: run.steps }, (_, i) => i),
    ].filter((t) => !taken.has(t));
    const target = kind === 'malformed-plan' ? 'plan' : dice.pick(targets);
    run.faults.push({ kind, target, rule: ruleFor(kind, target, dice) });
  };

  // First, every kind once: fatal kinds alone on a run, retryable ones two to a run.
  const order = dice.shuffle(runs.map((r) => r.index));
  let next = 0;
  const must = dice.shuffle([...FATAL, ...RETRYABLE]);
  const pending: LlmFaultKind[] = [];
  for (const kind of must) {
    if (next >= order.length) break;
    if (FATAL.includes(kind)) aim(runs[order[next++]], kind);
    else if (pending.push(kind) === 2) {
      for (const k of pending.splice(0)) aim(runs[order[next]], k);
      next++;
    }
  }
  if (pending.length && next < order.length) aim(runs[order[next++]], pending[0]);
  // Then the rest at random: a few fatal, most with zero to two retryable faults.
  for (const index of order.slice(next)) {
    const run = runs[index];
    if (dice.float() < options.fatalShare) aim(run, dice.pick(FATAL));
    else for (let n = dice.pick([0, 1, 1, 2]); n > 0; n--) aim(run, dice.pick(RETRYABLE));
  }
  for (const run of runs) {
    const fatal = run.faults.find((f) => FATAL.includes(f.kind));
    if (fatal) {
      run.expected = 'failed';
      run.expectedError = expectedErrorFor(fatal);
    }
  }

  // Crashes, spread over the runs, each after a run whose neighbours are still in flight.
  const kinds = dice.shuffle(
    (Object.keys(options.crashes) as CrashKind[]).flatMap((kind) => Array<CrashKind>(options.crashes[kind]).fill(kind)),
  );
  const span = Math.max(1, options.runs - Math.ceil(options.concurrency / 2));
  // Worker crashes alternate between the two workers, so one is not killed again while it restarts.
  let workerTurn = dice.int(0, 1);
  const crashes = kinds.map((kind, i) => ({
    kind,
    afterRun: Math.min(options.runs - 1, Math.floor(((i + 0.5) * span) / kinds.length)),
    delayMs: dice.int(500, 4_000),
    downMs: kind === 'worker' ? dice.int(0, 1_500) : kind === 'web' ? dice.int(200, 2_000) : dice.int(500, 3_000),
    worker: kind === 'worker' ? workerTurn++ % 2 : 0,
  }));
  return { runs, crashes };
}

/* ----------------------------------------------------------------------------------------- */
/* Processes                                                                                 */
/* ----------------------------------------------------------------------------------------- */

type Env = Record<string, string | undefined>;

/** Our environment without the settings the parts read, so nothing from outside leaks in. */
function baseEnv(): Env {
  const env: Env = { ...process.env };
  for (const name of Object.keys(env)) {
    if (/^(TEMPORAL_|OPENAI_|OFFLINE_MODEL_|WORKER_HEALTH_|BUILDSTORY_|LOG_LEVEL$|PORT$|HOST$|NODE_ENV$)/.test(name)) delete env[name];
  }
  return env;
}

/**
 * What we started and is still alive: process groups (our tsx parts) by their leader's pid, as
 * negative numbers, and plain processes (the Temporal server) by pid. An exit of ours, even a
 * crash, takes them along.
 */
const alive = new Set<number>();
process.once('exit', () => {
  for (const id of alive) {
    try {
      process.kill(id, 'SIGKILL');
    } catch {
      // gone already
    }
  }
});

/**
 * A `tsx` process in its own process group: tsx runs the script in a child node process, so a
 * kill -9 must reach the group, or the real process would live on.
 */
class NodePart {
  child: ChildProcess | null = null;
  /** The settings of the current start. */
  env: Env = {};
  private exited: Promise<void> = Promise.resolve();
  private expectingExit = false;
  private starting = false;
  private stopped = false;
  /** Starts that failed (the process exited before it was ready) and were retried. */
  startRetries = 0;

  constructor(
    readonly name: string,
    private readonly script: string,
    private readonly logFile: string,
    private readonly makeEnv: () => Promise<Env>,
    private readonly ready: (part: NodePart) => Promise<void>,
    private readonly onUnexpectedExit: (part: NodePart, code: number | null, signal: string | null) => void,
  ) {}

  /**
   * Start and wait until ready. A process that exits while starting (a worker cannot reach a
   * Temporal server that is itself restarting) is started again, as a supervisor would.
   */
  async start(): Promise<void> {
    this.stopped = false;
    for (let attempt = 1; ; attempt++) {
      await this.spawnOnce();
      try {
        await this.ready(this);
        this.starting = false;
        return;
      } catch (err) {
        if (this.running || this.stopped || attempt >= 10) {
          this.starting = false;
          throw err;
        }
        this.startRetries++;
        await sleep(1_000);
      }
    }
  }

  private async spawnOnce(): Promise<void> {
    this.env = await this.makeEnv();
    const out = openSync(this.logFile, 'a');
    const child = spawn(join(ROOT, 'node_modules', '.bin', 'tsx'), [join(ROOT, this.script)], {
      cwd: ROOT,
      env: { ...baseEnv(), ...this.env },
      stdio: ['ignore', out, out],
      detached: true,
    });
    closeSync(out);
    this.child = child;
    this.expectingExit = false;
    this.starting = true;
    const group = -child.pid!;
    alive.add(group);
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        alive.delete(group);
        if (!this.expectingExit && !this.starting) this.onUnexpectedExit(this, code, signal);
        resolve();
      }),
    );
  }

  get running(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** SIGKILL to the whole group: no shutdown hook runs, as in a power cut. */
  async kill9(): Promise<void> {
    if (!this.child || !this.running) return;
    this.expectingExit = true;
    killGroup(this.child.pid!, 'SIGKILL');
    await this.exited;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (!this.child || !this.running) return;
    this.expectingExit = true;
    const pid = this.child.pid!;
    killGroup(pid, 'SIGTERM');
    const timer = setTimeout(() => killGroup(pid, 'SIGKILL'), 10_000).unref();
    await this.exited;
    clearTimeout(timer);
  }
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // gone already
  }
}

class TemporalPart {
  server: DevServer | null = null;
  private expectingExit = false;

  constructor(
    private readonly cli: string,
    readonly port: number,
    private readonly dbFile: string,
    private readonly logFile: string,
    private readonly onUnexpectedExit: (code: number | null, signal: string | null) => void,
  ) {}

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.expectingExit = false;
    // Same file, same port: the restarted server carries on with the same runs.
    const server = await startDevServer({
      cli: this.cli,
      port: this.port,
      dbFile: this.dbFile,
      logFile: this.logFile,
      headless: true,
      log: () => undefined,
    });
    this.server = server;
    const pid = server.process.pid!;
    alive.add(pid);
    server.process.once('exit', (code, signal) => {
      alive.delete(pid);
      if (!this.expectingExit) this.onUnexpectedExit(code, signal);
    });
  }

  async kill9(): Promise<void> {
    const child = this.server?.process;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    this.expectingExit = true;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await exited;
  }

  /** Like DevServer.stop, with no timer left behind to keep a test process alive. */
  async stop(): Promise<void> {
    const child = this.server?.process;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    this.expectingExit = true;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
    await exited;
    clearTimeout(timer);
  }
}

/* ----------------------------------------------------------------------------------------- */
/* The SSE client: follows one run, reconnecting with Last-Event-ID until the end or a 204     */
/* ----------------------------------------------------------------------------------------- */

interface ReceivedFrame {
  event: string;
  id: string | undefined;
  data: string;
  /** When it arrived. */
  at: number;
  /** Story frames: when the workflow recorded the event (its `at`). */
  recordedAt?: number;
}

/** With pings every 15 s, this long without a byte means the stream is dead. */
const STREAM_IDLE_MS = 40_000;
const RECONNECT_DELAY_MS = 250;

class RunFollower {
  readonly frames: ReceivedFrame[] = [];
  lastEventId: string | undefined;
  connections = 0;
  /** Non-200, non-204 answers, by status. */
  readonly badStatuses: number[] = [];
  end: { runId: string; status: string } | null = null;
  got204 = false;
  finishedAt: number | null = null;

  constructor(
    private readonly url: string,
    private readonly deadline: number,
  ) {}

  get active(): boolean {
    return this.finishedAt === null;
  }

  /** When the first story event the workflow recorded after `at` arrived, or null. */
  nextStoryAfter(at: number): number | null {
    return this.frames.find((f) => f.recordedAt !== undefined && f.recordedAt > at)?.at ?? null;
  }

  async follow(): Promise<void> {
    try {
      while (Date.now() < this.deadline && !this.end && !this.got204) {
        await this.connectOnce();
        if (!this.end && !this.got204) await sleep(RECONNECT_DELAY_MS);
      }
    } finally {
      this.finishedAt = Date.now();
    }
  }

  private async connectOnce(): Promise<void> {
    const controller = new AbortController();
    const overall = setTimeout(() => controller.abort(), Math.max(this.deadline - Date.now(), 0));
    let idle: NodeJS.Timeout | undefined;
    const touch = () => {
      clearTimeout(idle);
      idle = setTimeout(() => controller.abort(), STREAM_IDLE_MS);
    };
    try {
      const headers: Record<string, string> = { Accept: 'text/event-stream' };
      if (this.lastEventId !== undefined) headers['Last-Event-ID'] = this.lastEventId;
      touch();
      const res = await fetch(this.url, { headers, signal: controller.signal });
      this.connections++;
      if (res.status === 204) {
        this.got204 = true;
        return;
      }
      if (res.status !== 200 || !res.body) {
        this.badStatuses.push(res.status);
        await res.text().catch(() => '');
        await sleep(1_000);
        return;
      }
      await readSse(res.body, (_text, frames) => {
        touch();
        for (const frame of frames) this.onFrame(frame);
      });
    } catch {
      // refused (the web app is down), reset (it was killed), or our own abort
    } finally {
      clearTimeout(idle);
      clearTimeout(overall);
    }
  }

  private onFrame({ event, id, data }: SseFrame): void {
    const frame: ReceivedFrame = { event, id, data, at: Date.now() };
    if (frame.event === 'story') frame.recordedAt = Date.parse((JSON.parse(frame.data) as StoryEvent).at);
    if (frame.event === 'message' && frame.id === undefined && frame.data === '') return;
    this.frames.push(frame);
    // As EventSource does: the last id seen is what a reconnect sends.
    if (frame.id !== undefined) this.lastEventId = frame.id;
    if (frame.event === 'end') this.end = JSON.parse(frame.data) as { runId: string; status: string };
  }
}

/* ----------------------------------------------------------------------------------------- */
/* The harness                                                                               */
/* ----------------------------------------------------------------------------------------- */

interface Stack {
  dir: string;
  temporal: TemporalPart;
  workers: NodePart[];
  web: NodePart;
  llm: NodePart;
  webBase: string;
  llmBase: string;
  taskQueue: string;
}

interface LoggedCall extends LlmCall {
  task: string;
}

function defaults(options: FaultHarnessOptions): FaultHarnessResult['options'] {
  const runs = options.runs;
  return {
    runs,
    seed: options.seed,
    concurrency: options.concurrency ?? 8,
    crashes: {
      worker: options.crashes?.worker ?? Math.max(1, Math.round(runs / 12)),
      web: options.crashes?.web ?? Math.max(1, Math.round(runs / 16)),
      temporal: options.crashes?.temporal ?? Math.max(1, Math.round(runs / 16)),
    },
    minCrashGapMs: options.minCrashGapMs ?? 8_000,
    runTimeoutMs: options.runTimeoutMs ?? 240_000,
    chunkDelayMs: options.chunkDelayMs ?? 40,
    openaiTimeoutMs: options.openaiTimeoutMs ?? 3_000,
    fatalShare: options.fatalShare ?? 0.1,
    keepDir: options.keepDir ?? false,
  };
}

export async function runFaultHarness(input: FaultHarnessOptions): Promise<FaultHarnessResult> {
  const started = Date.now();
  const options = defaults(input);
  const write = input.log ?? ((line: string) => process.stderr.write(`[faults] ${line}\n`));
  const log = (line: string) => write(`+${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s  ${line}`);
  const plan = planFaults(options);
  const dir = mkdtempSync(join(tmpdir(), 'buildstory-faults-'));
  log(`seed ${options.seed}: ${options.runs} runs, ${options.concurrency} at a time, crashes ${JSON.stringify(options.crashes)}; logs in ${dir}`);

  const unexpectedExits: string[] = [];
  let stack: Stack | null = null;
  let stopping = false;
  const faults: FaultRecord[] = [];
  const skippedCrashes: PlannedCrash[] = [];
  const followers = new Map<number, RunFollower>();
  const workflowIds = new Map<number, string>();
  const submitErrors = new Map<number, string>();
  let result: FaultHarnessResult | null = null;

  try {
    stack = await startStack(dir, options, log, (what) => {
      if (stopping) return;
      unexpectedExits.push(what);
      log(`UNEXPECTED: ${what}`);
    });
    const current = stack;
    for (const run of plan.runs) {
      await control(current.llmBase, 'program', {
        task: run.task,
        steps: run.steps,
        rules: run.faults.map((f) => f.rule),
      });
    }
    log(`stack up in ${seconds(Date.now() - started)}: web ${current.webBase}, Temporal ${current.temporal.address}, LLM ${current.llmBase}`);

    // The runs, `concurrency` at a time; run i waits for the crashes aimed at runs up to i - 2
    // (unless nothing else is in flight), so every crash finds runs in flight.
    const fired = new Set<number>();
    const submittedAt = new Map<number, number>();
    let inFlight = 0;
    let waiters: Array<() => void> = [];
    const changed = () => waiters.splice(0).forEach((wake) => wake());
    const nextChange = () => new Promise<void>((resolve) => waiters.push(resolve));

    // A crash fires once its run was submitted and its delay and the gap have passed. A restart goes
    // on in the background (the next crash of that part waits for it), except Temporal's: nothing
    // else happens while it is down.
    const chaos = (async () => {
      let lastKill = 0;
      const restarts = new Map<string, Promise<void>>();
      for (const [i, crash] of plan.crashes.entries()) {
        while (!submittedAt.has(crash.afterRun)) await nextChange();
        await sleepUntil(Math.max(submittedAt.get(crash.afterRun)! + crash.delayMs, lastKill + options.minCrashGapMs));
        const key = crash.kind === 'worker' ? `worker-${crash.worker}` : crash.kind;
        await restarts.get(key);
        if (inFlight === 0 && submittedAt.size === options.runs) {
          skippedCrashes.push(crash);
          log(`crash ${i + 1} (${crash.kind}) skipped: no run left in flight`);
        } else {
          lastKill = Date.now();
          // Caught here, so a restart that fails while nothing awaits it is reported, not fatal.
          const restart = crashOnce(current, crash, inFlight, faults, log).catch((err: Error) => {
            if (!stopping) unexpectedExits.push(`the ${crash.kind} restart failed: ${err.message}`);
          });
          restarts.set(key, restart);
          if (crash.kind === 'temporal') await restart;
        }
        fired.add(i);
        changed();
      }
      await Promise.all(restarts.values());
    })().catch((err: Error) => {
      // A part that does not come back ends the chaos; the runs go on and the report says why.
      if (stopping) return;
      unexpectedExits.push(`a crash or restart failed: ${err.message}`);
      plan.crashes.forEach((_, i) => fired.add(i));
      changed();
    });

    let nextRun = 0;
    const slot = async () => {
      while (nextRun < plan.runs.length) {
        const run = plan.runs[nextRun++];
        const gate = plan.crashes.flatMap((c, i) => (c.afterRun <= run.index - 2 ? [i] : []));
        while (inFlight > 0 && !gate.every((i) => fired.has(i))) await nextChange();
        inFlight++;
        try {
          const deadline = Date.now() + options.runTimeoutMs;
          let workflowId: string;
          try {
            workflowId = await submit(current.webBase, run.task, deadline);
          } catch (err) {
            submitErrors.set(run.index, (err as Error).message);
            log(`run ${run.index}: not submitted: ${(err as Error).message}`);
            continue;
          } finally {
            submittedAt.set(run.index, Date.now());
            changed();
          }
          workflowIds.set(run.index, workflowId);
          const follower = new RunFollower(`${current.webBase}/runs/${workflowId}/events`, deadline);
          followers.set(run.index, follower);
          await follower.follow();
          const outcome = follower.end ? follower.end.status : follower.got204 ? '204' : 'no end (timed out)';
          const aimed = run.faults.map((f) => `${f.kind}@${f.target === 'plan' ? 'plan' : `step${f.target + 1}`}`).join(', ');
          log(`run ${run.index} [${aimed || 'no LLM fault'}]: ${outcome} (expected ${run.expected}), ${follower.connections} SSE connection(s)`);
        } finally {
          inFlight--;
          changed();
        }
      }
    };
    await Promise.all(Array.from({ length: options.concurrency }, slot));
    // A restart still going on when the runs are done has nothing left to serve: wait a little, then stop.
    if (!(await Promise.race([chaos.then(() => true), sleep(10_000, false, { ref: false })]))) {
      log('a restart is still going on after the last run; stopping it');
    }

    log('all runs followed; checking them against Temporal and the LLM call log');
    const calls = ((await control(current.llmBase, 'calls')) as { calls: LoggedCall[] }).calls;
    const runs = await verifyRuns(current, plan, workflowIds, followers, submitErrors, calls);
    faults.push(...llmFaults(plan, calls));
    for (const fault of faults) fault.toNextProgressMs = progressAfter(fault, followers);
    faults.sort((a, b) => a.at - b.at);
    const startRetries = [current.llm, current.web, ...current.workers].filter((p) => p.startRetries > 0).map((p) => `${p.name}: ${p.startRetries}`);
    result = summarize(options, plan, runs, faults, skippedCrashes, unexpectedExits, processWarnings(dir), startRetries, started, dir);
    writeFileSync(join(dir, 'result.json'), JSON.stringify(result, (_key, value: unknown) => (value instanceof RegExp ? String(value) : value), 2));
    return result;
  } finally {
    stopping = true;
    if (stack) await stopStack(stack);
    if (result?.ok && !options.keepDir) rmSync(dir, { recursive: true, force: true });
  }
}

async function startStack(
  dir: string,
  options: FaultHarnessResult['options'],
  log: (line: string) => void,
  unexpected: (what: string) => void,
): Promise<Stack> {
  const cli = await ensureTemporalCli(log);
  const [temporalPort, webPort, llmPort] = [await freePort(), await freePort(), await freePort()];
  const taskQueue = `faults-${options.seed}-${process.pid}`;
  const webBase = `http://127.0.0.1:${webPort}`;
  const llmBase = `http://127.0.0.1:${llmPort}`;

  const parts: Array<NodePart | TemporalPart> = [];
  const restartOnUnexpectedExit = (part: NodePart, code: number | null, signal: string | null) => {
    unexpected(`${part.name} exited by itself (code ${code}, signal ${signal}); restarting it`);
    void part.start().catch((err: Error) => unexpected(`${part.name} did not come back: ${err.message}`));
  };
  const temporal = new TemporalPart(cli, temporalPort, join(dir, 'temporal.db'), join(dir, 'temporal.log'), (code, signal) => {
    unexpected(`the Temporal server exited by itself (code ${code}, signal ${signal}); restarting it`);
    void temporal.start().catch((err: Error) => unexpected(`the Temporal server did not come back: ${err.message}`));
  });
  const llm = new NodePart(
    'llm-server',
    'tests/fixtures/llm-server-main.ts',
    join(dir, 'llm-server.log'),
    async () => ({ PORT: String(llmPort), LLM_CHUNK_DELAY_MS: String(options.chunkDelayMs) }),
    (part) => waitForHttp(`${llmBase}/__control/health`, 60_000, part.child ?? undefined),
    restartOnUnexpectedExit,
  );
  const common = () => ({ TEMPORAL_ADDRESS: temporal.address, TEMPORAL_TASK_QUEUE: taskQueue, HOST: '127.0.0.1' });
  const workers = [0, 1].map(
    (n) =>
      new NodePart(
        `worker-${n + 1}`,
        'worker/index.ts',
        join(dir, `worker-${n + 1}.log`),
        async () => ({
          ...common(),
          // Its own health port each start: /readyz says when it polls again after a restart.
          WORKER_HEALTH_PORT: String(await freePort()),
          OPENAI_API_KEY: 'test',
          OPENAI_BASE_URL: `${llmBase}/v1`,
          OPENAI_MODEL: 'test-model',
          OPENAI_TIMEOUT_MS: String(options.openaiTimeoutMs),
          LOG_LEVEL: 'info',
        }),
        async (part) => {
          await waitForHttp(`http://127.0.0.1:${part.env.WORKER_HEALTH_PORT}/readyz`, 120_000, part.child ?? undefined);
        },
        restartOnUnexpectedExit,
      ),
  );
  const web = new NodePart(
    'web',
    'web/server.ts',
    join(dir, 'web.log'),
    // The harness is one client submitting many runs: the per-client submission limit is not under test here.
    async () => ({ ...common(), PORT: String(webPort), NODE_ENV: 'production', LOG_LEVEL: 'info', SUBMIT_RATE_LIMIT_PER_MINUTE: '0' }),
    (part) => waitForHttp(`${webBase}/healthz`, 60_000, part.child ?? undefined),
    restartOnUnexpectedExit,
  );
  parts.push(temporal, llm, web, ...workers);
  const stack: Stack = { dir, temporal, workers, web, llm, webBase, llmBase, taskQueue };
  try {
    await Promise.all([temporal.start(), llm.start()]);
    await Promise.all([web.start(), ...workers.map((w) => w.start())]);
  } catch (err) {
    await stopStack(stack);
    throw err;
  }
  return stack;
}

async function stopStack(stack: Stack): Promise<void> {
  await Promise.all([stack.web.stop(), ...stack.workers.map((w) => w.stop())]);
  await Promise.all([stack.llm.stop(), stack.temporal.stop()]);
}

/** Kill -9 a part, record the fault at once, restart the part after its downtime. */
async function crashOnce(
  stack: Stack,
  crash: PlannedCrash,
  inFlight: number,
  faults: FaultRecord[],
  log: (line: string) => void,
): Promise<void> {
  const part = crash.kind === 'worker' ? stack.workers[crash.worker] : crash.kind === 'web' ? stack.web : stack.temporal;
  const name = crash.kind === 'worker' ? `worker-${crash.worker + 1}` : crash.kind === 'web' ? 'the web app' : 'the Temporal server';
  const record: FaultRecord = { kind: crash.kind, at: Date.now(), runIndex: null, detail: `${name}: restart not finished`, toNextProgressMs: [] };
  log(`crash: kill -9 ${name} (${inFlight} run(s) in flight); restart in ${seconds(crash.downMs)}`);
  await part.kill9();
  faults.push(record);
  await sleep(crash.downMs);
  const restarting = Date.now();
  await part.start();
  record.detail = `${name} down ${seconds(restarting - record.at)}, then ${seconds(Date.now() - restarting)} to start`;
  log(`crash: ${name} is back (${record.detail})`);
}

/** Submit through the home form as a browser does; the same token on every retry, so one run at most. */
async function submit(base: string, task: string, deadline: number): Promise<string> {
  let token: string | null = null;
  let last = '';
  while (Date.now() < deadline) {
    try {
      token ??= await formToken(base, { signal: AbortSignal.timeout(10_000) });
      const res = await submitTask(base, task, token, { signal: AbortSignal.timeout(15_000) });
      const runId = runIdFromRedirect(res);
      if (runId !== null) return runId;
      last = `the form answered ${res.status} ${res.headers.get('location') ?? ''}`;
      // 503: Temporal is unreachable (being restarted); anything else is worth a retry or two too.
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(500);
  }
  throw new Error(`no run started before the deadline; last: ${last}`);
}

async function control(base: string, what: 'program' | 'calls', body?: unknown): Promise<unknown> {
  const res = await fetch(`${base}/__control/${what}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`LLM server control ${what}: ${res.status} ${await res.text()}`);
  return res.json();
}

async function sleepUntil(time: number): Promise<void> {
  const wait = time - Date.now();
  if (wait > 0) await sleep(wait);
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/* ----------------------------------------------------------------------------------------- */
/* Checking the runs                                                                         */
/* ----------------------------------------------------------------------------------------- */

type HistoryEvent = NonNullable<Awaited<ReturnType<ReturnType<Client['workflow']['getHandle']>['fetchHistory']>>['events']>[number];

function eventMs(event: HistoryEvent): number {
  const time = event.eventTime;
  return Number(time?.seconds?.toString() ?? 0) * 1_000 + Math.floor((time?.nanos ?? 0) / 1e6);
}

/** When each activity (the plan, each step) completed in the run's history. */
function completions(events: HistoryEvent[]): Map<FaultTarget, number> {
  const scheduled = new Map<string, FaultTarget>();
  const done = new Map<FaultTarget, number>();
  for (const event of events) {
    const attributes = event.activityTaskScheduledEventAttributes;
    if (attributes && event.eventId != null) {
      const name = attributes.activityType?.name;
      if (name === 'planTask') scheduled.set(String(event.eventId), 'plan');
      if (name === 'executeStep') {
        const input = defaultPayloadConverter.fromPayload<{ stepIndex: number }>(attributes.input?.payloads?.[0] as Payload);
        scheduled.set(String(event.eventId), input.stepIndex);
      }
    }
    const completed = event.activityTaskCompletedEventAttributes;
    if (completed?.scheduledEventId != null) {
      const target = scheduled.get(String(completed.scheduledEventId));
      if (target !== undefined && !done.has(target)) done.set(target, eventMs(event));
    }
  }
  return done;
}

async function finalState(client: Client, workflowId: string): Promise<{
  runId: string;
  temporalStatus: string;
  snapshot: ProgressSnapshot | null;
  history: HistoryEvent[];
}> {
  const handle = client.workflow.getHandle(workflowId);
  // Give a run that is still open a while to close: the harness reports it lost otherwise.
  const deadline = Date.now() + 30_000;
  let description = await handle.describe();
  while (description.status.name === 'RUNNING' && Date.now() < deadline) {
    await sleep(1_000);
    description = await handle.describe();
  }
  const runHandle = client.workflow.getHandle(workflowId, description.runId);
  let snapshot: ProgressSnapshot | null = null;
  if (description.status.name === 'COMPLETED') snapshot = (await runHandle.result()) as ProgressSnapshot;
  if (description.status.name === 'FAILED') {
    try {
      await runHandle.result();
    } catch (err) {
      const failure = err instanceof WorkflowFailedError ? err.cause : undefined;
      if (failure instanceof ApplicationFailure && failure.type === RUN_FAILED_ERROR_TYPE) {
        snapshot = (failure.details?.[0] as ProgressSnapshot | undefined) ?? null;
      }
    }
  }
  const history = (await runHandle.fetchHistory()).events ?? [];
  return { runId: description.runId, temporalStatus: description.status.name, snapshot, history };
}

async function verifyRuns(
  stack: Stack,
  plan: FaultPlan,
  workflowIds: Map<number, string>,
  followers: Map<number, RunFollower>,
  submitErrors: Map<number, string>,
  calls: LoggedCall[],
): Promise<RunReport[]> {
  const connection = await Connection.connect({ address: stack.temporal.address });
  const client = new Client({ connection });
  try {
    const reports: RunReport[] = [];
    for (const run of plan.runs) reports.push(await verifyRun(client, run, workflowIds.get(run.index) ?? null, followers.get(run.index), submitErrors.get(run.index), calls));
    return reports;
  } finally {
    await connection.close();
  }
}

async function verifyRun(
  client: Client,
  run: PlannedRun,
  workflowId: string | null,
  follower: RunFollower | undefined,
  submitError: string | undefined,
  allCalls: LoggedCall[],
): Promise<RunReport> {
  const report: RunReport = {
    index: run.index,
    task: run.task,
    workflowId,
    runId: null,
    expected: run.expected,
    temporalStatus: null,
    status: null,
    error: null,
    sseEnd: follower?.end?.status ?? (follower?.got204 ? '204' : null),
    inExpectedState: false,
    lost: true,
    events: 0,
    eventsLost: 0,
    eventsDuplicated: 0,
    eventsAltered: 0,
    eventsOutOfOrder: 0,
    foreignFrames: 0,
    redone: [],
    extraAttempts: 0,
    sseConnections: follower?.connections ?? 0,
    problems: [],
  };
  if (!workflowId || !follower) {
    report.problems.push(`never submitted: ${submitError ?? 'unknown'}`);
    return report;
  }
  let state: Awaited<ReturnType<typeof finalState>>;
  try {
    state = await finalState(client, workflowId);
  } catch (err) {
    report.problems.push(`not found in Temporal: ${(err as Error).message}`);
    return report;
  }
  const { runId, temporalStatus, snapshot, history } = state;
  Object.assign(report, { runId, temporalStatus, status: snapshot?.status ?? null, error: snapshot?.error ?? null });

  // The end state.
  const closed = temporalStatus === 'COMPLETED' || temporalStatus === 'FAILED';
  const sawEnd = follower.end !== null || follower.got204;
  report.lost = !closed || !snapshot || !sawEnd;
  if (!closed) report.problems.push(`still ${temporalStatus} in Temporal`);
  else if (!snapshot) report.problems.push(`${temporalStatus} without a final snapshot`);
  if (!sawEnd) report.problems.push(`the SSE client never saw the end (${follower.connections} connections, statuses ${JSON.stringify(follower.badStatuses)})`);
  if (follower.end && follower.end.runId !== runId) report.problems.push(`the SSE end named run ${follower.end.runId}, not ${runId}`);
  if (follower.end && snapshot && follower.end.status !== snapshot.status) {
    report.problems.push(`the SSE end said ${follower.end.status}, the run is ${snapshot.status}`);
  }
  const statusMatches = snapshot?.status === run.expected && temporalStatus === run.expected.toUpperCase();
  const errorMatches = run.expected === 'completed' ? snapshot?.error === null : (run.expectedError?.test(snapshot?.error ?? '') ?? false);
  report.inExpectedState = !report.lost && statusMatches && errorMatches && (!follower.end || follower.end.status === run.expected);
  if (snapshot && !statusMatches) report.problems.push(`ended ${snapshot.status} (Temporal ${temporalStatus}), expected ${run.expected}: ${snapshot.error ?? ''}`);
  else if (snapshot && !errorMatches) report.problems.push(`failed with "${snapshot.error}", expected ${run.expectedError}`);
  if (snapshot?.status === 'completed' && snapshot.steps.length !== run.steps) {
    report.problems.push(`completed with ${snapshot.steps.length} steps, the plan had ${run.steps}`);
  }

  // Events: what the client saw for the final run against the final story.
  if (snapshot) {
    const expected = new Map(snapshot.events.map((e) => [e.seq, e]));
    report.events = snapshot.events.length;
    const seen = new Map<number, StoryEvent>();
    let previous = 0;
    for (const frame of follower.frames) {
      if (frame.event !== 'story') continue;
      const [frameRun, seqText] = (frame.id ?? '').split(':');
      if (frameRun !== runId) {
        report.foreignFrames++;
        continue;
      }
      const event = JSON.parse(frame.data) as StoryEvent;
      const seq = Number(seqText);
      if (event.seq !== seq) report.eventsAltered++;
      if (seen.has(seq)) {
        report.eventsDuplicated++;
        continue;
      }
      if (seq <= previous) report.eventsOutOfOrder++;
      previous = seq;
      seen.set(seq, event);
      if (!isDeepStrictEqual(event, expected.get(seq))) report.eventsAltered++;
    }
    report.eventsLost = [...expected.keys()].filter((seq) => !seen.has(seq)).length;
    if (report.eventsLost) report.problems.push(`${report.eventsLost} of ${report.events} events never reached the SSE client`);
    if (report.eventsDuplicated) report.problems.push(`${report.eventsDuplicated} events reached the SSE client twice`);
    if (report.eventsAltered) report.problems.push(`${report.eventsAltered} events differ from the final story`);
    if (report.eventsOutOfOrder) report.problems.push(`${report.eventsOutOfOrder} events arrived out of order`);
    if (report.foreignFrames) report.problems.push(`${report.foreignFrames} story frames of another run id`);
  }

  // Redone work: an LLM call for an activity after that activity had completed.
  const done = completions(history);
  const calls = allCalls.filter((c) => c.task === run.task);
  for (const call of calls) {
    const target: FaultTarget = call.kind === 'plan' ? 'plan' : (call.stepIndex ?? -1);
    const completedAt = done.get(target);
    if (completedAt !== undefined && call.at > completedAt) report.redone.push({ target, at: call.at, completedAt });
  }
  for (const redo of report.redone) {
    report.problems.push(
      `${redo.target === 'plan' ? 'the plan' : `step ${redo.target + 1}`} was sent to the LLM again ${redo.at - redo.completedAt} ms after its activity completed`,
    );
  }
  for (const target of done.keys()) {
    const mine = calls.filter((c) => (c.kind === 'plan' ? 'plan' : c.stepIndex) === target);
    report.extraAttempts += Math.max(0, mine.length - mine.filter((c) => c.rule).length - 1);
  }
  return report;
}

/** Each LLM call a programmed rule answered is one fault, at the time it arrived. */
function llmFaults(plan: FaultPlan, calls: LoggedCall[]): FaultRecord[] {
  const byTask = new Map(plan.runs.map((r) => [r.task, r]));
  const out: FaultRecord[] = [];
  for (const call of calls) {
    if (!call.rule) continue;
    const run = byTask.get(call.task);
    if (!run) continue;
    const target: FaultTarget = call.kind === 'plan' ? 'plan' : (call.stepIndex ?? -1);
    const fault = run.faults.find((f) => f.target === target);
    if (!fault) continue;
    out.push({
      kind: fault.kind,
      at: call.at,
      runIndex: run.index,
      detail: `run ${run.index}, ${target === 'plan' ? 'plan' : `step ${target + 1}`}`,
      toNextProgressMs: [],
    });
  }
  return out;
}

/** Crashes touch every run in flight; an LLM fault only its own run. */
function progressAfter(fault: FaultRecord, followers: Map<number, RunFollower>): number[] {
  const touched =
    fault.runIndex === null
      ? [...followers.values()].filter((f) => f.frames.length > 0 && f.frames[0].at <= fault.at && (f.finishedAt ?? Infinity) > fault.at)
      : [followers.get(fault.runIndex)].filter((f): f is RunFollower => f !== undefined);
  return touched.map((f) => f.nextStoryAfter(fault.at)).filter((at): at is number => at !== null).map((at) => at - fault.at);
}

function summarize(
  options: FaultHarnessResult['options'],
  plan: FaultPlan,
  runs: RunReport[],
  faults: FaultRecord[],
  skippedCrashes: PlannedCrash[],
  unexpectedExits: string[],
  warnings: string[],
  startRetries: string[],
  started: number,
  dir: string,
): FaultHarnessResult {
  const sum = (f: (r: RunReport) => number) => runs.reduce((n, r) => n + f(r), 0);
  const totals = {
    submitted: runs.filter((r) => r.workflowId).length,
    inExpectedState: runs.filter((r) => r.inExpectedState).length,
    lost: runs.filter((r) => r.lost).length,
    events: sum((r) => r.events),
    eventsLost: sum((r) => r.eventsLost),
    eventsDuplicated: sum((r) => r.eventsDuplicated),
    eventsAltered: sum((r) => r.eventsAltered),
    eventsOutOfOrder: sum((r) => r.eventsOutOfOrder),
    foreignFrames: sum((r) => r.foreignFrames),
    redone: sum((r) => r.redone.length),
    extraAttempts: sum((r) => r.extraAttempts),
  };
  const problems: string[] = [];
  for (const run of runs) for (const problem of run.problems) problems.push(`run ${run.index} (${run.workflowId ?? 'not submitted'}): ${problem}`);
  for (const exit of unexpectedExits) problems.push(exit);
  for (const crash of skippedCrashes) problems.push(`the ${crash.kind} crash after run ${crash.afterRun} was skipped: no run was in flight`);
  // A planned fault that never fired means the run did not test what it was meant to.
  for (const run of plan.runs) {
    for (const fault of run.faults) {
      if (!faults.some((f) => f.runIndex === run.index && f.kind === fault.kind)) {
        problems.push(`run ${run.index}: the ${fault.kind} fault aimed at ${fault.target === 'plan' ? 'the plan' : `step ${fault.target + 1}`} never fired`);
      }
    }
  }
  const ok =
    totals.submitted === options.runs &&
    totals.inExpectedState === options.runs &&
    totals.lost === 0 &&
    totals.eventsLost + totals.eventsDuplicated + totals.eventsAltered + totals.eventsOutOfOrder + totals.foreignFrames === 0 &&
    totals.redone === 0 &&
    problems.length === 0;
  return {
    seed: options.seed,
    options,
    plan,
    runs,
    faults,
    skippedCrashes,
    unexpectedExits,
    processWarnings: warnings,
    startRetries,
    totals,
    problems,
    ok,
    wallMs: Date.now() - started,
    dir,
  };
}

/** Node's runtime warnings in the parts' logs, e.g. "web: MaxListenersExceededWarning: ... (x12)". */
function processWarnings(dir: string): string[] {
  const counts = new Map<string, number>();
  for (const file of readdirSync(dir).filter((name) => name.endsWith('.log') && name !== 'temporal.log')) {
    const path = join(dir, file);
    if (!existsSync(path)) continue;
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      const match = /^\(node:\d+\) (\w*Warning: .*)$/.exec(line);
      if (!match) continue;
      const key = `${file.replace(/\.log$/, '')}: ${match[1]}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  }
  return [...counts].map(([warning, n]) => `${warning} (x${n})`);
}

/* ----------------------------------------------------------------------------------------- */
/* The report                                                                                */
/* ----------------------------------------------------------------------------------------- */

/** Seconds, or '-' for the percentile of no samples (NaN). */
function ms(value: number): string {
  return Number.isNaN(value) ? '-' : `${(value / 1000).toFixed(1)} s`;
}

export function formatReport(result: FaultHarnessResult): string {
  const { totals, options } = result;
  const row = (label: string, value: string, note = '') => `  ${label.padEnd(38)} ${value.padStart(9)}  ${note}`;
  const completed = result.runs.filter((r) => r.expected === 'completed').length;
  const lines = [
    '',
    `Fault harness: seed ${result.seed}, ${options.runs} runs, ${options.concurrency} at a time, wall time ${seconds(result.wallMs)}`,
    '',
    row('Runs in their expected end state', `${totals.inExpectedState} / ${totals.submitted}`, `(${completed} expected completed, ${options.runs - completed} expected failed)`),
    row('Runs lost', String(totals.lost)),
    row('Events lost (SSE vs final story)', String(totals.eventsLost), `of ${totals.events} events`),
    row('Events duplicated', String(totals.eventsDuplicated)),
    row('Events altered / out of order / foreign', `${totals.eventsAltered}/${totals.eventsOutOfOrder}/${totals.foreignFrames}`),
    row('Completed steps executed again', String(totals.redone)),
    row('Attempts redone while in flight', String(totals.extraAttempts), '(allowed: the step in flight at a crash)'),
    row('Unexpected process exits', String(result.unexpectedExits.length)),
    row('Starts retried (exited while starting)', String(result.startRetries.length), result.startRetries.join(', ')),
    row('SSE connections (incl. reconnects)', String(result.runs.reduce((n, r) => n + r.sseConnections, 0))),
    '',
    `  ${'Fault'.padEnd(30)} ${'count'.padStart(5)} ${'samples'.padStart(7)} ${'p50'.padStart(7)} ${'p95'.padStart(7)} ${'max'.padStart(7)}   (time to the next progress event)`,
  ];
  const all: number[] = [];
  for (const kind of Object.keys(FAULT_LABELS) as FaultKind[]) {
    const mine = result.faults.filter((f) => f.kind === kind);
    if (mine.length === 0) continue;
    const samples = mine.flatMap((f) => f.toNextProgressMs);
    all.push(...samples);
    lines.push(
      `  ${FAULT_LABELS[kind].padEnd(30)} ${String(mine.length).padStart(5)} ${String(samples.length).padStart(7)} ${ms(percentile(samples, 50)).padStart(7)} ${ms(percentile(samples, 95)).padStart(7)} ${ms(percentile(samples, 100)).padStart(7)}`,
    );
  }
  lines.push(
    `  ${'all faults'.padEnd(30)} ${String(result.faults.length).padStart(5)} ${String(all.length).padStart(7)} ${ms(percentile(all, 50)).padStart(7)} ${ms(percentile(all, 95)).padStart(7)} ${ms(percentile(all, 100)).padStart(7)}`,
  );
  if (result.processWarnings.length) lines.push('', '  Warnings printed by the parts (not counted as failures):', ...result.processWarnings.map((w) => `  - ${w}`));
  if (result.skippedCrashes.length) lines.push('', `  Crashes skipped (no run in flight): ${result.skippedCrashes.map((c) => c.kind).join(', ')}`);
  lines.push('', result.ok ? '  PASS' : `  FAIL (${result.problems.length} problems; logs kept in ${result.dir})`);
  for (const problem of result.problems) lines.push(`  - ${problem}`);
  return `${lines.join('\n')}\n`;
}
