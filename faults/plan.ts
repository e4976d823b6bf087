/**
 * The fault plan: the harness's options, the kinds of fault, and which faults hit which run and
 * when the crashes come, decided from the seed before anything starts. The same seed gives the
 * same plan: the same tasks, faults and crash points.
 */
import { existingPostgres } from '../devstack/cluster/postgres';
import type { CodeStepOptions, LlmRule } from '../tests/fixtures/llm-server';
import { VERIFY_LIMITS, type RunStatus } from '../contract/data';

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
  /**
   * Runs started with review on, answered through the web app's review form (default: a third of
   * the runs, leaving five for the LLM faults' first turn). They get no LLM fault.
   */
  reviews?: number;
  /**
   * Code runs (default a quarter of the runs, at least one): one plan step writes Python and its
   * test, verified in the sandbox, whose files must be in the artifact store as recorded. They are
   * picked among the runs without review or fatal fault; their retryable LLM faults and crashes stay.
   */
  codeRuns?: number;
  log?: (line: string) => void;
  /** Keep the temp dir (SQLite file, process logs) after a clean pass; it is always kept after a failure. */
  keepDir?: boolean;
  /**
   * `dev` (default): the Temporal dev server and one web app. `cluster`: PostgreSQL, Temporal as
   * five processes, two web replicas, nginx in front (faults/cluster.ts).
   */
  topology?: 'dev' | 'cluster';
}

/** `postgres`: the cluster topology's private PostgreSQL (none in the dev topology nor with an external one). */
export type CrashKind = 'worker' | 'web' | 'temporal' | 'postgres';
export const CRASH_KINDS: readonly CrashKind[] = ['worker', 'web', 'temporal', 'postgres'];
/** LLM faults: the first six are retried by Temporal, the last two fail the run for good. */
export type LlmFaultKind =
  'latency' | 'rate-limit' | 'server-error' | 'drop' | 'hang' | 'garbled-stream' | 'malformed-plan' | 'unauthorized';
export type FaultKind = CrashKind | LlmFaultKind;

const RETRYABLE: readonly LlmFaultKind[] = ['latency', 'rate-limit', 'server-error', 'drop', 'hang', 'garbled-stream'];
const FATAL: readonly LlmFaultKind[] = ['malformed-plan', 'unauthorized'];

export const FAULT_LABELS: Record<FaultKind, string> = {
  worker: 'worker kill -9 + restart',
  web: 'web app kill -9 + restart',
  temporal: 'Temporal kill -9 + restart',
  postgres: 'PostgreSQL kill -9 + restart',
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

/**
 * How a person answers a run that waits for review: approve the plan as proposed; approve it with
 * an edit (step 1's instructions changed, the last step removed when there are three or more, a
 * step added); approve it asking to be asked again before the last step, then approve at that
 * gate; or reject it.
 */
export type ReviewKind = 'approve' | 'approve-edited' | 'step-gate' | 'reject';
export const REVIEW_KINDS: readonly ReviewKind[] = ['approve', 'approve-edited', 'step-gate', 'reject'];

export interface PlannedReview {
  kind: ReviewKind;
  /** Each answer is sent this long after its `review.waiting` reached the run's SSE client (two for a step gate)... */
  delaysMs: number[];
  /** ...or, where true, right after the next kill -9 (while that part is down; at most 20 s later, if none comes). */
  atCrash: boolean[];
}

/**
 * How a code run's verification goes: passes at once; fails in round 1 and is fixed in round 2;
 * fails in every round (the run still completes, "not verified").
 */
export type CodeKind = 'passes' | 'fixed' | 'fails';
export const CODE_KINDS: readonly CodeKind[] = ['passes', 'fails', 'fixed'];

export interface PlannedCode extends CodeStepOptions {
  kind: CodeKind;
  /** The story's `verified` at the end: whether the last round passed. */
  verified: boolean;
}

export interface PlannedRun {
  index: number;
  task: string;
  steps: number;
  faults: PlannedLlmFault[];
  /** A code run: the test LLM server's plan has this code step (tests/fixtures/llm-server.ts). */
  code?: PlannedCode;
  /** Started with review on and answered as planned; such a run has no LLM fault. */
  review?: PlannedReview;
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

/** The options as a run uses them, defaults filled in (and recorded in its result). */
export type HarnessSettings = Required<Omit<FaultHarnessOptions, 'log' | 'crashes'>> & {
  crashes: Record<CrashKind, number>;
  /** Cluster topology on BUILDSTORY_CLUSTER_POSTGRES_HOST: not ours to restart, so no PostgreSQL crash. */
  externalPostgres: boolean;
};

/** The reason a planned rejection gives, and what the story's error must then say. */
export function rejectionReason(runIndex: number): string {
  return `Not this plan (fault harness, run ${runIndex}).`;
}

/** The options with their defaults filled in. */
export function settingsFor(options: FaultHarnessOptions): HarnessSettings {
  const runs = options.runs;
  const cluster = options.topology === 'cluster';
  const externalPostgres = cluster && existingPostgres() !== null;
  return {
    runs,
    seed: options.seed,
    concurrency: options.concurrency ?? 8,
    crashes: {
      worker: options.crashes?.worker ?? Math.max(1, Math.round(runs / 12)),
      web: options.crashes?.web ?? Math.max(1, Math.round(runs / 16)),
      // The cluster has five server processes to take turns: at 50 runs each is crashed once.
      temporal: options.crashes?.temporal ?? Math.max(1, Math.round(runs / (cluster ? 10 : 16))),
      postgres: cluster && !externalPostgres ? (options.crashes?.postgres ?? Math.max(1, Math.round(runs / 16))) : 0,
    },
    externalPostgres,
    minCrashGapMs: options.minCrashGapMs ?? 8_000,
    runTimeoutMs: options.runTimeoutMs ?? 240_000,
    chunkDelayMs: options.chunkDelayMs ?? 40,
    openaiTimeoutMs: options.openaiTimeoutMs ?? 3_000,
    fatalShare: options.fatalShare ?? 0.1,
    reviews: Math.min(options.reviews ?? Math.max(0, Math.min(Math.round(runs / 3), runs - 5)), runs),
    codeRuns: options.codeRuns ?? Math.max(1, Math.round(runs / 4)),
    keepDir: options.keepDir ?? false,
    topology: options.topology ?? 'dev',
  };
}

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

/**
 * Review runs, from the runs left after every LLM fault kind had its turn, with dice of their own:
 * the other runs' faults and the crashes stay what the seed gave them before reviews existed. A
 * review run's faults are dropped: an edit renumbers the steps a fault was aimed at.
 */
function planReviews(runs: PlannedRun[], candidates: number[], options: { seed: number; reviews: number }): void {
  const dice = new Dice(prng(options.seed ^ 0x5eed));
  const chosen = dice.shuffle(candidates).slice(0, options.reviews);
  // Every kind once first, then at random (approvals more often than rejections).
  const kinds = [...dice.shuffle(REVIEW_KINDS)];
  chosen.forEach((index, i) => {
    const kind = kinds[i] ?? dice.pick<ReviewKind>(['approve', 'approve-edited', 'approve-edited', 'step-gate', 'reject']);
    const run = runs[index];
    run.faults = [];
    // Spread over 0.5-8 s, so that answers go out before, during and after the crashes (8 s apart or more).
    const answers = kind === 'step-gate' ? 2 : 1;
    run.review = {
      kind,
      delaysMs: Array.from({ length: answers }, () => dice.int(500, 8_000)),
      atCrash: Array.from({ length: answers }, () => dice.float() < 0.5),
    };
    if (kind === 'reject') {
      run.expected = 'rejected';
      run.expectedError = new RegExp(`^Rejected by .+: ${rejectionReason(index).replace(/[.()]/g, '\\$&')}$`);
    }
  });
}

/**
 * Code runs, among the runs without review (an edit would renumber the code step) that are meant
 * to complete (a fatal fault would end them before any verification), with dice of their own: the
 * other runs' faults, reviews and crashes stay what the seed gave them before. Each kind once first
 * ('passes', 'fails', 'fixed'), then at random. The code step is one of the run's steps; its LLM
 * faults stay (they are retried like any step's).
 */
function planCode(runs: PlannedRun[], options: { seed: number; codeRuns: number }): void {
  const dice = new Dice(prng(options.seed ^ 0xc0de));
  const candidates = runs.filter((r) => !r.review && !r.faults.some((f) => FATAL.includes(f.kind))).map((r) => r.index);
  dice
    .shuffle(candidates)
    .slice(0, options.codeRuns)
    .forEach((index, i) => {
      const run = runs[index];
      const kind = CODE_KINDS[i] ?? dice.pick(CODE_KINDS);
      // 'fails': a bug in every round the run has (VERIFY_LIMITS.roundsDefault, the web app's default).
      const failingRounds = kind === 'passes' ? 0 : kind === 'fixed' ? 1 : VERIFY_LIMITS.roundsDefault;
      run.task = run.task.replace('write a short note about resilience', 'write a python function that greets');
      run.code = { kind, stepIndex: dice.int(0, run.steps - 1), language: 'python', failingRounds, verified: kind !== 'fails' };
    });
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
  reviews: number;
  codeRuns: number;
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
  planReviews(runs, order.slice(next), options);
  planCode(runs, options);
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
    downMs: kind === 'worker' ? dice.int(0, 1_500) : kind === 'web' ? dice.int(200, 2_000) : dice.int(500, 3_000), // temporal, postgres
    worker: kind === 'worker' ? workerTurn++ % 2 : 0,
  }));
  return { runs, crashes };
}
