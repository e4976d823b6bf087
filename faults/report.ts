/**
 * The report: a harness run's result (totals, every problem on one line, whether it passes) and
 * the table `npm run test:faults` prints.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { percentile } from '../devstack/stats';
import { FAULT_LABELS, type FaultKind, type FaultPlan, type HarnessSettings, type PlannedCrash } from './plan';
import type { FaultRecord, RunReport } from './verify';

export interface FaultHarnessResult {
  seed: number;
  options: HarnessSettings;
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

/** The result: totals over the runs, and every reason to fail on one line. */
export function summarize(
  options: HarnessSettings,
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
  for (const run of runs)
    for (const problem of run.problems) problems.push(`run ${run.index} (${run.workflowId ?? 'not submitted'}): ${problem}`);
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

export function formatReport(result: FaultHarnessResult): string {
  const { totals, options } = result;
  const row = (label: string, value: string, note = '') => `  ${label.padEnd(38)} ${value.padStart(9)}  ${note}`;
  const completed = result.runs.filter((r) => r.expected === 'completed').length;
  const lines = [
    '',
    `Fault harness: seed ${result.seed}, ${options.runs} runs, ${options.concurrency} at a time, wall time ${seconds(result.wallMs)}`,
    '',
    row(
      'Runs in their expected end state',
      `${totals.inExpectedState} / ${totals.submitted}`,
      `(${completed} expected completed, ${options.runs - completed} expected failed)`,
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
  if (result.processWarnings.length)
    lines.push('', '  Warnings printed by the parts (not counted as failures):', ...result.processWarnings.map((w) => `  - ${w}`));
  if (result.skippedCrashes.length)
    lines.push('', `  Crashes skipped (no run in flight): ${result.skippedCrashes.map((c) => c.kind).join(', ')}`);
  lines.push('', result.ok ? '  PASS' : `  FAIL (${result.problems.length} problems; logs kept in ${result.dir})`);
  for (const problem of result.problems) lines.push(`  - ${problem}`);
  return `${lines.join('\n')}\n`;
}
