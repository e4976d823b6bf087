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
 * This file runs it all: the stack up, the runs scheduled `concurrency` at a time, the crashes
 * fired, the results checked. The other modules, one concern each: plan.ts (the seeded plan),
 * supervisor.ts (the processes), follower.ts (the SSE client), verify.ts (the checks), report.ts
 * (the result and its table).
 *
 * `npm run test:faults -- --runs 50 --seed 1234` runs it (scripts/faults.ts); tests/faults.test.ts
 * runs a small version inside `npm test`. See faults/README.md.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LocalArtifactStore } from '../artifacts';
import { formToken, runIdFromRedirect, submitTask } from '../devstack/form';
import { checkArtifacts } from './artifacts';
import { RunFollower } from './follower';
import { RunReviewer, type NextKill } from './reviewer';
import { planFaults, settingsFor, type CrashKind, type FaultHarnessOptions, type PlannedCrash } from './plan';
import { processWarnings, seconds, summarize, type FaultHarnessResult } from './report';
import { startClusterTemporal } from './cluster';
import { startFaultStack, stopFaultStack, type CrashTarget, type FaultStack, type NodePart } from './supervisor';
import { llmFaults, progressAfter, verifyRuns, type FaultRecord, type LoggedCall } from './verify';

export async function runFaultHarness(input: FaultHarnessOptions): Promise<FaultHarnessResult> {
  const started = Date.now();
  const options = settingsFor(input);
  const write = input.log ?? ((line: string) => process.stderr.write(`[faults] ${line}\n`));
  const log = (line: string) => write(`+${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s  ${line}`);
  const plan = planFaults(options);
  const dir = mkdtempSync(join(tmpdir(), 'buildstory-faults-'));
  log(
    `seed ${options.seed}: ${options.runs} runs, ${options.concurrency} at a time, crashes ${JSON.stringify(options.crashes)}; logs in ${dir}`,
  );

  const unexpectedExits: string[] = [];
  let stack: FaultStack | null = null;
  let stopping = false;
  const faults: FaultRecord[] = [];
  const skippedCrashes: PlannedCrash[] = [];
  const followers = new Map<number, RunFollower>();
  const reviewers = new Map<number, RunReviewer>();
  // Review answers held for a crash are sent as soon as a part has been killed.
  const killWaiters: Array<(kind: CrashKind) => void> = [];
  const nextKill: NextKill = (timeoutMs) =>
    new Promise((resolve) => {
      const timer = setTimeout(() => resolve(null), timeoutMs);
      killWaiters.push((kind) => {
        clearTimeout(timer);
        resolve(kind);
      });
    });
  const killed = (kind: CrashKind) => killWaiters.splice(0).forEach((wake) => wake(kind));
  const workflowIds = new Map<number, string>();
  const submitErrors = new Map<number, string>();
  let result: FaultHarnessResult | null = null;

  try {
    stack = await startFaultStack(
      dir,
      options,
      log,
      (what) => {
        if (stopping) return;
        unexpectedExits.push(what);
        log(`UNEXPECTED: ${what}`);
      },
      options.topology === 'cluster' ? startClusterTemporal : undefined,
    );
    const current = stack;
    for (const run of plan.runs) {
      await control(current.llmBase, 'program', {
        task: run.task,
        steps: run.steps,
        code: run.code,
        rules: run.faults.map((f) => f.rule),
      });
    }
    log(
      `stack up in ${seconds(Date.now() - started)}: web ${current.webBase}, Temporal ${current.temporal.address}, LLM ${current.llmBase}`,
    );

    // The runs, `concurrency` at a time; run i waits for the crashes aimed at runs up to i - 2
    // (unless nothing else is in flight), so every crash finds runs in flight.
    const fired = new Set<number>();
    const submittedAt = new Map<number, number>();
    let inFlight = 0;
    const waiters: Array<() => void> = [];
    const changed = () => waiters.splice(0).forEach((wake) => wake());
    const nextChange = () => new Promise<void>((resolve) => waiters.push(resolve));

    // A crash fires once its run was submitted and its delay and the gap have passed. A restart goes
    // on in the background (the next crash of that part waits for it), except Temporal's and
    // PostgreSQL's: nothing else happens while it is down.
    const chaos = (async () => {
      let lastKill = 0;
      const restarts = new Map<string, Promise<void>>();
      // Several web replicas, or the cluster's Temporal processes, take turns.
      const turns = { web: 0, temporal: 0 };
      const targetOf = (crash: PlannedCrash): CrashTarget => {
        switch (crash.kind) {
          case 'worker':
            return current.workers[crash.worker];
          case 'web':
            return current.webs[turns.web++ % current.webs.length];
          case 'temporal':
            return current.temporal.targets[turns.temporal++ % current.temporal.targets.length];
          case 'postgres':
            if (!current.temporal.postgres) throw new Error('a PostgreSQL crash was planned, but this stack has no PostgreSQL of its own');
            return current.temporal.postgres;
        }
      };
      for (const [i, crash] of plan.crashes.entries()) {
        while (!submittedAt.has(crash.afterRun)) await nextChange();
        await sleepUntil(Math.max(submittedAt.get(crash.afterRun)! + crash.delayMs, lastKill + options.minCrashGapMs));
        let target = targetOf(crash);
        let activities: number | undefined;
        if (crash.kind === 'worker') {
          // A worker is killed mid-activity (the plan or a step): the runs gated on this crash go on
          // meanwhile, and the planned worker is taken if an activity runs on it, else the other.
          await Promise.all(current.workers.map((w) => restarts.get(w.name)));
          fired.add(i);
          changed();
          const found = await workerMidActivity(current.workers, crash.worker, 15_000);
          target = current.workers[found.index];
          activities = found.activities;
        }
        const key = target.name;
        await restarts.get(key);
        if (inFlight === 0 && submittedAt.size === options.runs) {
          skippedCrashes.push(crash);
          log(`crash ${i + 1} (${crash.kind}) skipped: no run left in flight`);
        } else {
          lastKill = Date.now();
          // Caught here, so a restart that fails while nothing awaits it is reported, not fatal.
          const restart = crashOnce(target, crash, inFlight, activities, faults, log, killed).catch((err: Error) => {
            if (!stopping) unexpectedExits.push(`the ${crash.kind} restart failed: ${err.message}`);
          });
          restarts.set(key, restart);
          if (crash.kind === 'temporal' || crash.kind === 'postgres') await restart;
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
            workflowId = await submit(current.webBase, run.task, deadline, run.review !== undefined);
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
          if (run.review) {
            const reviewer = new RunReviewer(current.webBase, workflowId, run.index, run.review, deadline, nextKill);
            follower.onStory = reviewer.onStory;
            reviewers.set(run.index, reviewer);
          }
          await follower.follow();
          await reviewers.get(run.index)?.settled();
          const outcome = follower.end ? follower.end.status : follower.got204 ? '204' : 'no end (timed out)';
          const aimed = [
            ...run.faults.map((f) => `${f.kind}@${f.target === 'plan' ? 'plan' : `step${f.target + 1}`}`),
            ...(run.review ? [`review: ${run.review.kind}`] : []),
          ].join(', ');
          log(
            `run ${run.index} [${aimed || 'no LLM fault'}]: ${outcome} (expected ${run.expected}), ${follower.connections} SSE connection(s)`,
          );
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
    const runs = await verifyRuns(current.temporal.address, plan, workflowIds, followers, reviewers, submitErrors, calls);
    // The parts run without BUILDSTORY_ENCRYPTION_KEYS (supervisor.ts): the store is not sealed.
    const artifacts = await checkArtifacts(new LocalArtifactStore({ root: current.artifactsDir, encryption: null }), runs);
    log(
      `artifacts: ${artifacts.files} files of ${artifacts.runs} runs checked in ${artifacts.store}, ${artifacts.problems.length} problems`,
    );
    faults.push(...llmFaults(plan, calls));
    for (const fault of faults) fault.toNextProgressMs = progressAfter(fault, followers);
    faults.sort((a, b) => a.at - b.at);
    const startRetries = [current.llm, ...current.webs, ...current.workers]
      .filter((p) => p.startRetries > 0)
      .map((p) => `${p.name}: ${p.startRetries}`);
    result = summarize(
      options,
      plan,
      runs,
      artifacts,
      faults,
      skippedCrashes,
      unexpectedExits,
      processWarnings(dir),
      startRetries,
      started,
      dir,
    );
    writeFileSync(
      join(dir, 'result.json'),
      JSON.stringify(result, (_key, value: unknown) => (value instanceof RegExp ? String(value) : value), 2),
    );
    return result;
  } finally {
    stopping = true;
    if (stack) await stopFaultStack(stack);
    if (result?.ok && !options.keepDir) rmSync(dir, { recursive: true, force: true });
  }
}

/** Kill -9 a part, record the fault at once, restart the part after its downtime. */
async function crashOnce(
  part: CrashTarget,
  crash: PlannedCrash,
  inFlight: number,
  /** For a worker: the activities running on it just before the kill. */
  activities: number | undefined,
  faults: FaultRecord[],
  log: (line: string) => void,
  killed: (kind: CrashKind) => void,
): Promise<void> {
  const name = part.name === 'web' ? 'the web app' : part.name;
  const record: FaultRecord = {
    kind: crash.kind,
    at: Date.now(),
    runIndex: null,
    detail: `${name}: restart not finished`,
    toNextProgressMs: [],
    ...(activities === undefined ? {} : { activitiesInFlight: activities }),
  };
  const onIt = activities === undefined ? '' : `, ${activities} activit${activities === 1 ? 'y' : 'ies'} running on it`;
  log(`crash: kill -9 ${name} (${inFlight} run(s) in flight${onIt}); restart in ${seconds(crash.downMs)}`);
  await part.kill9();
  faults.push(record);
  killed(crash.kind);
  await sleep(crash.downMs);
  const restarting = Date.now();
  await part.start();
  record.backAt = Date.now();
  record.detail = `${name} down ${seconds(restarting - record.at)}, then ${seconds(Date.now() - restarting)} to start`;
  if (part.recovered) {
    record.dependentsBackMs = await part.recovered();
    record.detail += `; Temporal read from it again ${seconds(record.dependentsBackMs)} later`;
  }
  log(`crash: ${name} is back (${record.detail})`);
}

/**
 * The worker to kill mid-activity: `preferred` if an activity (plan or step) runs on it, else the
 * other one if one runs there, polled (their health servers' buildstory_worker_activities_in_flight)
 * until then or `timeoutMs`; `preferred` with 0 activities after that.
 */
async function workerMidActivity(
  workers: NodePart[],
  preferred: number,
  timeoutMs: number,
): Promise<{ index: number; activities: number }> {
  const order = [preferred, ...workers.keys()].filter((n, i, all) => all.indexOf(n) === i);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const index of order) {
      const activities = await activitiesOn(workers[index]);
      if (activities > 0) return { index, activities };
    }
    if (Date.now() > deadline) return { index: preferred, activities: 0 };
    await sleep(200);
  }
}

/** The activities running on `worker` now, from its /metrics; 0 when it cannot be read (restarting). */
async function activitiesOn(worker: NodePart): Promise<number> {
  const url = worker.spec?.readyUrl?.replace(/\/readyz$/, '/metrics');
  if (!url || !worker.running) return 0;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
    return Number(/^buildstory_worker_activities_in_flight (\d+)$/m.exec(await res.text())?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** Submit through the home form as a browser does; the same token on every retry, so one run at most. */
async function submit(base: string, task: string, deadline: number, review: boolean): Promise<string> {
  let token: string | null = null;
  let last = '';
  while (Date.now() < deadline) {
    try {
      token ??= await formToken(base, { signal: AbortSignal.timeout(10_000) });
      const res = await submitTask(base, task, token, { signal: AbortSignal.timeout(15_000), review });
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
