/**
 * The report: a harness run's result (totals, every problem on one line, whether it passes) and
 * the table `npm run test:faults` prints.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { percentile } from '../devstack/stats';
import { CRASH_KINDS, FAULT_LABELS, type CrashKind, type FaultKind, type FaultPlan, type HarnessSettings, type PlannedCrash } from './plan';
import type { ArtifactCheck } from './artifacts';
import type { FaultRecord, RunReport } from './verify';

export interface FaultHarnessResult {
  seed: number;
  options: HarnessSettings;
  plan: FaultPlan;
  runs: RunReport[];
  /** Every completed run's recorded files against the artifact store. */
  artifacts: ArtifactCheck;
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
    reviews: ReviewTotals;
    code: CodeTotals;
  };
  /** Every reason the harness fails, one line each; empty when it passes. */
  problems: string[];
  ok: boolean;
  wallMs: number;
  dir: string;
}

/** What the review runs did: answers sent through the web app, and what became of them. */
export interface ReviewTotals {
  runs: number;
  byKind: Record<string, number>;
  answers: number;
  withOutcome: number;
  lost: number;
  refused: number;
  appliedTwice: number;
  /** Approved runs whose final plan and LLM steps are exactly what was approved, of those approved. */
  asApproved: number;
  approvedRuns: number;
  /** Posts beyond the first of a token, and why they were needed. */
  resends: number;
  misses503: number;
  missesNetwork: number;
  /** Answers during which (from review.waiting seen to the outcome) a part was killed. */
  acrossCrash: number;
  /** Answers first sent right after a kill -9, while that part was down, by part. */
  sentWhileDown: Record<string, number>;
}

/** What the code runs did: verification in the sandbox, by how it was planned to go. */
export interface CodeTotals {
  runs: number;
  byKind: Record<string, number>;
  /** Completed code runs whose verification went as planned (verified or not, after the planned rounds). */
  asPlanned: number;
  completed: number;
  /** Verification rounds in the completed runs' stories. */
  rounds: number;
  /** verifyCode attempts retried (their worker killed mid-sandbox), from the histories. */
  verifyRetries: number;
}

function codeTotals(plan: FaultPlan, runs: RunReport[]): CodeTotals {
  const byKind: Record<string, number> = {};
  for (const run of plan.runs) if (run.code) byKind[run.code.kind] = (byKind[run.code.kind] ?? 0) + 1;
  const reports = runs.flatMap((r) => (r.code ? [r.code] : []));
  return {
    runs: plan.runs.filter((r) => r.code).length,
    byKind,
    asPlanned: reports.filter((r) => r.asPlanned).length,
    completed: reports.length,
    rounds: reports.reduce((n, r) => n + r.verdicts.length, 0),
    verifyRetries: reports.reduce((n, r) => n + r.verifyRetries, 0),
  };
}

function reviewTotals(runs: RunReport[], faults: FaultRecord[]): ReviewTotals {
  const reviewed = runs.flatMap((r) => (r.review ? [r.review] : []));
  const answers = reviewed.flatMap((r) => r.answers);
  const crashes = faults.filter((f) => CRASH_KINDS.includes(f.kind as CrashKind)).map((f) => f.at);
  const approved = reviewed.filter((r) => r.kind !== 'reject');
  const byKind: Record<string, number> = {};
  for (const r of reviewed) byKind[r.kind] = (byKind[r.kind] ?? 0) + 1;
  const sentWhileDown: Record<string, number> = {};
  for (const a of answers) if (a.sentWhileDown) sentWhileDown[a.sentWhileDown] = (sentWhileDown[a.sentWhileDown] ?? 0) + 1;
  return {
    runs: reviewed.length,
    byKind,
    answers: answers.length,
    withOutcome: answers.filter((a) => a.outcomeAt !== null).length,
    lost: reviewed.reduce((n, r) => n + r.lost, 0),
    refused: reviewed.reduce((n, r) => n + r.refused, 0),
    appliedTwice: reviewed.reduce((n, r) => n + r.appliedTwice, 0),
    asApproved: approved.filter((r) => r.planAsApproved && r.stepsAsApproved).length,
    approvedRuns: approved.length,
    resends: answers.reduce((n, a) => n + Math.max(0, a.attempts - 1), 0),
    misses503: answers.reduce((n, a) => n + a.misses.filter((m) => m === 503).length, 0),
    missesNetwork: answers.reduce((n, a) => n + a.misses.filter((m) => m === 'network').length, 0),
    acrossCrash: answers.filter((a) => crashes.some((at) => at >= a.seenAt && at <= (a.outcomeAt ?? Infinity))).length,
    sentWhileDown,
  };
}

/** The result: totals over the runs, and every reason to fail on one line. */
export function summarize(
  options: HarnessSettings,
  plan: FaultPlan,
  runs: RunReport[],
  artifacts: ArtifactCheck,
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
    reviews: reviewTotals(runs, faults),
    code: codeTotals(plan, runs),
  };
  const problems: string[] = [];
  for (const run of runs)
    for (const problem of run.problems) problems.push(`run ${run.index} (${run.workflowId ?? 'not submitted'}): ${problem}`);
  problems.push(...artifacts.problems);
  for (const exit of unexpectedExits) problems.push(exit);
  for (const crash of skippedCrashes)
    problems.push(`the ${crash.kind} crash after run ${crash.afterRun} was skipped: no run was in flight`);
  // A planned fault that never fired means the run did not test what it was meant to.
  for (const run of plan.runs) {
    for (const fault of run.faults) {
      if (!faults.some((f) => f.runIndex === run.index && f.kind === fault.kind)) {
        problems.push(
          `run ${run.index}: the ${fault.kind} fault aimed at ${fault.target === 'plan' ? 'the plan' : `step ${fault.target + 1}`} never fired`,
        );
      }
    }
  }
  const ok =
    totals.submitted === options.runs &&
    totals.inExpectedState === options.runs &&
    totals.lost === 0 &&
    totals.eventsLost + totals.eventsDuplicated + totals.eventsAltered + totals.eventsOutOfOrder + totals.foreignFrames === 0 &&
    totals.redone === 0 &&
    totals.reviews.lost + totals.reviews.refused + totals.reviews.appliedTwice === 0 &&
    totals.reviews.asApproved === totals.reviews.approvedRuns &&
    problems.length === 0;
  return {
    seed: options.seed,
    options,
    plan,
    runs,
    artifacts,
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
export function processWarnings(dir: string): string[] {
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

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** Seconds, or '-' for the percentile of no samples (NaN). */
function ms(value: number): string {
  return Number.isNaN(value) ? '-' : `${(value / 1000).toFixed(1)} s`;
}

/** "Artifacts checked: 6 files of 3 runs, all match (local directory ...)". */
export function artifactLine(check: ArtifactCheck): string {
  const verdict = check.problems.length === 0 ? 'all match' : `${check.problems.length} do not match`;
  return `Artifacts checked: ${check.files} files of ${check.runs} runs, ${verdict} (recorded sha256 and bytes against the ${check.store})`;
}

export function formatReport(result: FaultHarnessResult): string {
  const { totals, options } = result;
  const row = (label: string, value: string, note = '') => `  ${label.padEnd(38)} ${value.padStart(9)}  ${note}`;
  const completed = result.runs.filter((r) => r.expected === 'completed').length;
  const rejected = result.runs.filter((r) => r.expected === 'rejected').length;
  const reviews = totals.reviews;
  const workerKills = result.faults.filter((f) => f.kind === 'worker');
  const pgRestarts = result.faults.filter((f) => f.kind === 'postgres');
  const pgBackMs = pgRestarts.flatMap((f) => (f.dependentsBackMs === undefined ? [] : [f.dependentsBackMs]));
  const pgBack = `${ms(percentile(pgBackMs, 50))} p50, ${ms(percentile(pgBackMs, 100))} max`;
  const postgresNote = options.externalPostgres
    ? '(not crashed: external PostgreSQL, BUILDSTORY_CLUSTER_POSTGRES_HOST, is not ours to restart)'
    : `(SIGKILL to the postmaster and its backends, started again on its data; Temporal read from it again ${pgBack} after)`;
  const kinds = Object.entries(reviews.byKind)
    .map(([kind, n]) => `${n} ${kind}`)
    .join(', ');
  const lines = [
    '',
    `Fault harness: seed ${result.seed}, ${options.runs} runs, ${options.concurrency} at a time, wall time ${seconds(result.wallMs)}`,
    '',
    row(
      'Runs in their expected end state',
      `${totals.inExpectedState} / ${totals.submitted}`,
      `(${completed} expected completed, ${rejected} rejected, ${options.runs - completed - rejected} failed)`,
    ),
    row('Runs with review (via the web app)', String(reviews.runs), kinds ? `(${kinds})` : ''),
    row(
      'Review answers with an outcome',
      `${reviews.withOutcome} / ${reviews.answers}`,
      `(${reviews.acrossCrash} across a crash; ${reviews.resends} resends: ${reviews.misses503}× 503, ${reviews.missesNetwork}× app down)`,
    ),
    row(
      'Review answers sent while a part was down',
      String(Object.values(reviews.sentWhileDown).reduce((n, k) => n + k, 0)),
      Object.keys(reviews.sentWhileDown).length
        ? `(${Object.entries(reviews.sentWhileDown)
            .map(([kind, n]) => `${n} ${kind}`)
            .join(', ')}; sent right after its kill -9)`
        : '',
    ),
    row(
      'Review answers lost / refused / twice',
      `${reviews.lost}/${reviews.refused}/${reviews.appliedTwice}`,
      "(by each answer's token on the story's decisions)",
    ),
    row('Approved runs ran exactly the approval', `${reviews.asApproved} / ${reviews.approvedRuns}`),
    row(
      'Code runs (tests run in the sandbox)',
      String(totals.code.runs),
      `(${Object.entries(totals.code.byKind)
        .map(([kind, n]) => `${n} ${kind}`)
        .join(', ')}; ${totals.code.rounds} verification rounds, ${totals.code.verifyRetries} attempts retried after a crash)`,
    ),
    row(
      'Code runs verified as planned',
      `${totals.code.asPlanned} / ${totals.code.completed}`,
      '(verified or not, after the planned rounds)',
    ),
    row('Runs lost', String(totals.lost)),
    row('Events lost (SSE vs final story)', String(totals.eventsLost), `of ${totals.events} events`),
    row('Events duplicated', String(totals.eventsDuplicated)),
    row('Events altered / out of order / foreign', `${totals.eventsAltered}/${totals.eventsOutOfOrder}/${totals.foreignFrames}`),
    row('Completed steps executed again', String(totals.redone)),
    row('Attempts redone while in flight', String(totals.extraAttempts), '(allowed: the step in flight at a crash)'),
    row('Unexpected process exits', String(result.unexpectedExits.length)),
    row('Starts retried (exited while starting)', String(result.startRetries.length), result.startRetries.join(', ')),
    row('SSE connections (incl. reconnects)', String(result.runs.reduce((n, r) => n + r.sseConnections, 0))),
    row(
      'Worker kills with an activity running',
      `${workerKills.filter((f) => (f.activitiesInFlight ?? 0) > 0).length} / ${workerKills.length}`,
      '(on the killed worker, from its /metrics just before the kill)',
    ),
    ...(options.topology === 'cluster' ? [row('PostgreSQL kill -9 + restarts', String(pgRestarts.length), postgresNote)] : []),
    '',
    `  ${artifactLine(result.artifacts)}`,
    '',
    `  ${'Fault'.padEnd(30)} ${'count'.padStart(5)} ${'samples'.padStart(7)} ${'p50'.padStart(7)} ${'p95'.padStart(7)} ${'max'.padStart(7)} ${'back p50'.padStart(8)} ${'back p95'.padStart(8)}`,
  ];
  const all: number[] = [];
  for (const kind of Object.keys(FAULT_LABELS) as FaultKind[]) {
    const mine = result.faults.filter((f) => f.kind === kind);
    if (mine.length === 0) continue;
    const samples = mine.flatMap((f) => f.toNextProgressMs);
    const fromBack = mine.flatMap((f) => (f.backAt === undefined ? [] : f.toNextProgressMs.map((t) => Math.max(0, f.at + t - f.backAt!))));
    all.push(...samples);
    lines.push(
      `  ${FAULT_LABELS[kind].padEnd(30)} ${String(mine.length).padStart(5)} ${String(samples.length).padStart(7)} ${ms(percentile(samples, 50)).padStart(7)} ${ms(percentile(samples, 95)).padStart(7)} ${ms(percentile(samples, 100)).padStart(7)} ${ms(percentile(fromBack, 50)).padStart(8)} ${ms(percentile(fromBack, 95)).padStart(8)}`,
    );
  }
  lines.push(
    `  ${'all faults'.padEnd(30)} ${String(result.faults.length).padStart(5)} ${String(all.length).padStart(7)} ${ms(percentile(all, 50)).padStart(7)} ${ms(percentile(all, 95)).padStart(7)} ${ms(percentile(all, 100)).padStart(7)}`,
  );
  lines.push('  (p50/p95/max: from the fault to the next progress event; back: from the part started again to it)');
  if (result.processWarnings.length)
    lines.push('', '  Warnings printed by the parts (not counted as failures):', ...result.processWarnings.map((w) => `  - ${w}`));
  if (result.skippedCrashes.length)
    lines.push('', `  Crashes skipped (no run in flight): ${result.skippedCrashes.map((c) => c.kind).join(', ')}`);
  lines.push('', result.ok ? '  PASS' : `  FAIL (${result.problems.length} problems; logs kept in ${result.dir})`);
  for (const problem of result.problems) lines.push(`  - ${problem}`);
  return `${lines.join('\n')}\n`;
}
