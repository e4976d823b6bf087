/**
 * The fault harness (faults/), small enough for every `npm test`: six runs, every LLM
 * fault kind once, one kill -9 each of a worker, the web app and the Temporal server, and one run
 * that waits for review and is approved through the web app (the default share of review runs
 * leaves five runs for the LLM faults), and two code runs (one verified, one whose tests fail in
 * every round, which completes "not verified") whose files are checked in the artifact store. It starts
 * its own Temporal dev server (it kills it), not the one jest's globalSetup shares.
 * The full version: `npm run test:faults -- --runs 50 --seed 1234`.
 */
import { ensureWebBuild } from '../devstack/processes';
import { runFaultHarness } from '../faults/harness';
import { FAULT_LABELS, type FaultKind } from '../faults/plan';
import { formatReport } from '../faults/report';

const log = (line: string) => process.stderr.write(`[faults] ${line}\n`);

// About a minute on an idle 2-core machine. The timeouts leave room for a loaded one, where each
// worker start (bundling the workflows) can take 30-60 s.
test('crashes, LLM faults and bad answers: every run ends as expected, no event lost or duplicated, no finished step redone', async () => {
  ensureWebBuild(log);
  const result = await runFaultHarness({
    runs: 6,
    seed: 20_251_126,
    concurrency: 6,
    crashes: { worker: 1, web: 1, temporal: 1 },
    minCrashGapMs: 4_000,
    runTimeoutMs: 120_000,
    log,
  });
  process.stderr.write(formatReport(result));

  expect(result.problems).toEqual([]);
  expect(result.totals).toMatchObject({
    submitted: 6,
    inExpectedState: 6,
    lost: 0,
    eventsLost: 0,
    eventsDuplicated: 0,
    eventsAltered: 0,
    eventsOutOfOrder: 0,
    redone: 0,
  });
  // One of each: the harness did what it says. The dev topology has no PostgreSQL to crash.
  const fired = new Set(result.faults.map((f) => f.kind));
  expect((Object.keys(FAULT_LABELS) as FaultKind[]).filter((kind) => kind !== 'postgres' && !fired.has(kind))).toEqual([]);
  expect(result.options.crashes.postgres).toBe(0);
  expect(result.runs.filter((r) => r.expected === 'failed').length).toBeGreaterThanOrEqual(2);
  expect(result.totals.reviews).toMatchObject({ runs: 1, lost: 0, refused: 0, appliedTwice: 0, approvedRuns: 1, asApproved: 1 });
  // The code runs verified in the real sandbox, and the check of their files read at least one back.
  expect(result.totals.code).toMatchObject({ runs: 2, byKind: { passes: 1, fails: 1 }, completed: 2, asPlanned: 2 });
  expect(result.artifacts.files).toBeGreaterThanOrEqual(1);
  expect(result.artifacts.problems).toEqual([]);
  expect(result.ok).toBe(true);
}, 240_000);
