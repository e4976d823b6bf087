/**
 * A rolling deploy with Temporal Worker Versioning, as docs/deploy.md does it, against any
 * Temporal: the dev server (tests/rolling-deploy.test.ts) or the PostgreSQL-backed cluster behind
 * nginx (scripts/cluster-smoke.ts). Build A is the real taskWorkflow bundle; build B is a variant
 * with a deliberately incompatible change (tests/fixtures/incompatible-workflow.ts: a timer
 * first), so a run of A moved to B would fail its determinism check. Workers of both builds run
 * in this process on the real provider, pointed at the test LLM server (which makes runs of A fail
 * for good where asked). The commands are the Temporal CLI's, as the docs give them.
 *
 * The scenario: A current; runs of A that fail (at a step, at planning); runs of A in flight
 * (waiting for review); B started and made current; new runs; the runs in flight answered; the
 * CLI's view (current version, drainage, the runs of A in visibility); "Retry from the failed step"
 * (the caller says how: the web app in-process or over HTTP) on failed runs of A; and, on two more
 * failed runs of A, a plain reset without the web app's pin, to show what Temporal does by itself.
 * It returns what happened; `rollingDeployProblems` says what is not as it must be.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { WorkerDeploymentVersion } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import type { NativeConnection, Worker } from '@temporalio/worker';
import type { Logger } from 'pino';
import { OpenAiProvider } from '../activities/llm/openai';
import { LIMITS, type ProgressSnapshot, type TaskInput } from '../contract/data';
import { progressQuery, reviewUpdate } from '../contract/messages';
import { startTestLlmServer, type TestLlmServer } from '../tests/fixtures/llm-server';
import { findResetPoint } from '../web/app/utils/reset-point';
import { createBuildstoryWorker } from '../worker/worker';
import { writeWorkflowBundle } from './bundle';

const { EventType, WorkflowTaskFailedCause } = temporal.api.enums.v1;
/** The first command of build A's code (planTask) and of build B's (its timer). */
export const FIRST_COMMAND_OF = { A: 'EVENT_TYPE_ACTIVITY_TASK_SCHEDULED', B: 'EVENT_TYPE_TIMER_STARTED' } as const;
/** A run that never finishes on the wrong build fails workflow tasks for ever: its outcome says so after this. */
const RUN_DEADLINE_MS = 60_000;

export interface RollingDeployOptions {
  /** Where the workers connect (the dev server, or the cluster's gRPC balancer). */
  connection: NativeConnection;
  /** Starts and reads runs. */
  client: Client;
  namespace: string;
  /** Build A's workflow bundle (the real one). */
  bundleA: string;
  /** Build B's bundle is written here. */
  dir: string;
  /** The Temporal CLI, `--address` and `--namespace` added by the caller; resolves with stdout. */
  temporalCli(args: string[]): Promise<string>;
  /** "Retry from the failed step" as the web app does it; resolves once the reset is done. */
  retry(workflowId: string): Promise<void>;
  /** Also wait (up to this long) until A is `drained`: the server's refresh interval must be short. */
  drainedWithinMs?: number;
  logger: Logger;
  log?: (line: string) => void;
}

/** How one run went: its status, the build it is on, who completed its workflow tasks, what failed. */
export interface RunOutcome {
  status: string;
  buildId: string | undefined;
  /** `override` when a versioning override pins it (the web app's retry sets one), else `worker`, or none. */
  pinnedBy: 'override' | 'worker' | null;
  completedBy: string[];
  /** Workflow task failures other than the one a reset writes: a determinism failure shows here. */
  taskFailures: string[];
  /** The first command after its first completed workflow task: which build's code ran first. */
  firstCommand: string;
}

export interface RollingDeployReport {
  deploymentName: string;
  taskQueue: string;
  /** Failed for good on A, before B: at its first step, and at planning. */
  failedOnA: Record<'atStep' | 'atPlanning', RunOutcome>;
  /** Started on A, waiting for review while B rolled out, answered after. */
  inFlight: RunOutcome[];
  /** Started once B was current. */
  fresh: RunOutcome[];
  cli: {
    currentVersion: string | null;
    drainageOfA: string | null;
    /** `drained` seen this long after the last run of A closed (when asked to wait for it). */
    drainedAfterMs: number | null;
    /** Every run of A that the list of `TemporalWorkerDeploymentVersion = '<name>:A'` shows, and none of B. */
    listedOfA: { expected: number; found: number; ofB: number };
    openOfA: string;
  };
  /** "Retry from the failed step" (the web app's) with B current. */
  retried: Record<'atStep' | 'atPlanning', RunOutcome>;
  /** A plain reset to the same point, without the web app's pin, with B current. */
  plainReset: Record<'atStep' | 'atPlanning', RunOutcome>;
  timingsMs: Record<string, number>;
}

export async function rollingDeploy(options: RollingDeployOptions): Promise<RollingDeployReport> {
  const { client, temporalCli } = options;
  const log = options.log ?? (() => undefined);
  const deploymentName = `buildstory-rolling-${randomUUID().slice(0, 8)}`;
  const taskQueue = `rolling-deploy-${randomUUID()}`;
  const A: WorkerDeploymentVersion = { deploymentName, buildId: 'A' };
  const B: WorkerDeploymentVersion = { deploymentName, buildId: 'B' };
  const timingsMs: Record<string, number> = {};
  const began = Date.now();
  const mark = (name: string) => (timingsMs[name] = Date.now() - began);
  const workers: Array<{ worker: Worker; running: Promise<void> }> = [];
  let llm: TestLlmServer | undefined;

  const startWorker = async (version: WorkerDeploymentVersion, bundle: string) => {
    const worker = await createBuildstoryWorker({
      connection: options.connection,
      namespace: options.namespace,
      taskQueue,
      provider: new OpenAiProvider({
        kind: 'openai',
        apiKey: 'test-key',
        baseURL: llm!.baseURL,
        model: 'test-model',
        timeoutMs: 10_000,
        structuredOutput: 'auto',
      }),
      logger: options.logger,
      workflowBundle: { codePath: bundle },
      progress: { intervalMs: 50 },
      shutdownGraceTime: '2 seconds',
      identity: `build-${version.buildId}`,
      deploymentVersion: version,
    });
    workers.push({ worker, running: worker.run() });
  };

  /**
   * docs/deploy.md's `temporal worker deployment set-current-version ... -y`. A version exists once
   * one of its workers has polled, shortly after it starts: until then the CLI refuses, so retry.
   */
  const setCurrentVersion = async (version: WorkerDeploymentVersion) => {
    const args = ['worker', 'deployment', 'set-current-version', '--deployment-name', deploymentName, '--build-id', version.buildId, '-y'];
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        await temporalCli(args);
        return;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await sleep(250);
      }
    }
  };

  const start = (name: string, input: Partial<TaskInput> = {}): Promise<WorkflowHandle> =>
    client.workflow.start('taskWorkflow', {
      taskQueue,
      workflowId: `task-${randomUUID()}`,
      args: [{ task: `Rolling deploy: ${name}`, ...input }],
    });

  const finished = async (workflowId: string, runId?: string) => {
    const result = client.workflow.getHandle(workflowId, runId).result();
    await Promise.race([result.catch(() => undefined), sleep(RUN_DEADLINE_MS, undefined, { ref: false })]);
  };

  const outcome = async (workflowId: string, runId?: string): Promise<RunOutcome> => {
    const run = client.workflow.getHandle(workflowId, runId);
    const description = await run.describe();
    const info = description.raw.workflowExecutionInfo?.versioningInfo;
    const events = (await run.fetchHistory()).events ?? [];
    const taskFailures = events
      .filter((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED)
      .map((e) => e.workflowTaskFailedEventAttributes)
      // A reset writes one at its reset point: that is not a failure of any worker's.
      .filter((attributes) => attributes?.cause !== WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW)
      .map((attributes) => `${attributes?.cause}: ${attributes?.failure?.message}`);
    const completedBy = events
      .filter((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)
      .map((e) => e.workflowTaskCompletedEventAttributes?.identity ?? '');
    const override = info?.versioningOverride?.pinned?.version?.buildId;
    const firstCompleted = events.findIndex((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED);
    return {
      status: description.status.name,
      buildId: override ?? info?.deploymentVersion?.buildId ?? undefined,
      pinnedBy: override ? 'override' : info?.deploymentVersion?.buildId ? 'worker' : null,
      completedBy: [...new Set(completedBy)],
      taskFailures,
      firstCommand: EventType[events[firstCompleted + 1]?.eventType ?? 0] ?? 'none',
    };
  };

  /** A run of A that fails for good (a 400 is not retried), at its first step or at planning. */
  const failOnA = async (where: 'atStep' | 'atPlanning') => {
    if (where === 'atStep') llm!.program({ kind: 'step', stepIndex: 0, status: 400, message: 'This request is refused.' });
    else llm!.program({ kind: 'plan', status: 400, message: 'This request is refused.' });
    const handle = await start(`fails ${where} on A`);
    await finished(handle.workflowId);
    return handle.workflowId;
  };

  /** Reset as the web app does (same point, same options) but without its pin: what Temporal does by itself. */
  const plainReset = async (workflowId: string): Promise<string> => {
    const { events } = await client.workflow.getHandle(workflowId).fetchHistory();
    const point = findResetPoint(events ?? []);
    if (!point) throw new Error(`no reset point in ${workflowId}`);
    const { runId } = await client.workflowService.resetWorkflowExecution({
      namespace: options.namespace,
      workflowExecution: { workflowId },
      reason: 'rolling deploy: plain reset, no versioning override',
      workflowTaskFinishEventId: point.workflowTaskCompletedEventId,
      requestId: randomUUID(),
      identity: 'buildstory-rolling-deploy',
    });
    return runId;
  };

  const describeA = async () => {
    const out = await temporalCli(['worker', 'deployment', 'describe-version', '--deployment-name', deploymentName, '--build-id', 'A']);
    return /DrainageStatus\s+(\w+)/.exec(out)?.[1] ?? null;
  };

  const latestRunId = async (workflowId: string) => (await client.workflow.getHandle(workflowId).describe()).runId;

  /** Visibility is written asynchronously: list until `ok` holds, or give the last answer after 20 s. */
  const listUntil = async (query: string, ok: (out: string) => boolean) => {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const out = await temporalCli(['workflow', 'list', '--query', query]);
      if (ok(out) || Date.now() > deadline) return out;
      await sleep(500);
    }
  };

  try {
    llm = await startTestLlmServer();
    const bundleB = writeWorkflowBundle(options.dir, 'build-b.js', {
      workflowsPath: require.resolve('../tests/fixtures/incompatible-workflow'),
    });

    // Build A: the real workflow bundle, made current.
    await startWorker(A, options.bundleA);
    await setCurrentVersion(A);
    mark('aCurrent');
    log(`rolling deploy: ${deploymentName} build A current on ${taskQueue}`);

    // Runs of A that fail for good: two at a step, two at planning (one of each retried through
    // the web app later, one of each reset plainly).
    const failed = {
      atStep: [await failOnA('atStep'), await failOnA('atStep')],
      atPlanning: [await failOnA('atPlanning'), await failOnA('atPlanning')],
    };
    const failedOnA = { atStep: await outcome(failed.atStep[0]!), atPlanning: await outcome(failed.atPlanning[0]!) };
    mark('failedOnA');

    // Runs in flight on A: each waits for its plan review.
    const inFlight = await Promise.all([start('in flight 1', { review: true }), start('in flight 2', { review: true })]);
    const reviews = await Promise.all(inFlight.map(waitingReview));

    // Build B rolls out beside A and becomes current.
    await startWorker(B, await bundleB);
    await setCurrentVersion(B);
    mark('bCurrent');
    const drainageOfA = await describeA();
    log(`rolling deploy: build B current; A ${drainageOfA}`);

    // New runs start on B and complete there.
    const fresh = await Promise.all([start('new 1'), start('new 2')]);
    await Promise.all(fresh.map((handle) => finished(handle.workflowId)));

    // The runs in flight, answered now, finish on A.
    await Promise.all(
      inFlight.map((handle, index) => {
        const requestId = randomUUID();
        const request = { requestId, revision: reviews[index]!.review!.revision, by: null, decision: 'approve' as const };
        return handle.executeUpdate(reviewUpdate, { args: [request], updateId: requestId });
      }),
    );
    await Promise.all(inFlight.map((handle) => finished(handle.workflowId)));
    mark('inFlightDone');

    // docs/deploy.md's checks: B current, A draining (read as B became current), and no run of A open any more.
    const described = await temporalCli(['worker', 'deployment', 'describe', '--name', deploymentName]);
    const runsOfA = `TemporalWorkerDeploymentVersion = '${deploymentName}:A'`;
    const ofA = [...failed.atStep, ...failed.atPlanning, ...inFlight.map((h) => h.workflowId)];
    const listed = await listUntil(runsOfA, (out) => ofA.every((id) => out.includes(id)));
    const openOfA = await listUntil(`${runsOfA} AND ExecutionStatus = 'Running'`, (out) => out.trim() === '');
    const cli: RollingDeployReport['cli'] = {
      currentVersion: /CurrentVersionBuildID\s+(\S+)/.exec(described)?.[1] ?? null,
      drainageOfA,
      drainedAfterMs: null,
      listedOfA: {
        expected: ofA.length,
        found: ofA.filter((id) => listed.includes(id)).length,
        ofB: fresh.filter((h) => listed.includes(h.workflowId)).length,
      },
      openOfA: openOfA.trim(),
    };

    // "Retry from the failed step", as the web app does it, with B current.
    await options.retry(failed.atStep[0]!);
    await options.retry(failed.atPlanning[0]!);
    // And a plain reset of the others, to the same points.
    const plainRuns = { atStep: await plainReset(failed.atStep[1]!), atPlanning: await plainReset(failed.atPlanning[1]!) };
    const retriedRuns = { atStep: await latestRunId(failed.atStep[0]!), atPlanning: await latestRunId(failed.atPlanning[0]!) };
    await Promise.all([
      finished(failed.atStep[0]!, retriedRuns.atStep),
      finished(failed.atPlanning[0]!, retriedRuns.atPlanning),
      finished(failed.atStep[1]!, plainRuns.atStep),
      finished(failed.atPlanning[1]!, plainRuns.atPlanning),
    ]);
    mark('resetsDone');
    const lastOfAClosed = Date.now();

    if (options.drainedWithinMs) {
      const deadline = Date.now() + options.drainedWithinMs;
      let status = await describeA();
      while (status !== 'drained' && Date.now() < deadline) {
        await sleep(1_000);
        status = await describeA();
      }
      // From the close of the last run of A (a retried one).
      if (status === 'drained') cli.drainedAfterMs = Date.now() - lastOfAClosed;
      mark('drained');
    }

    return {
      deploymentName,
      taskQueue,
      failedOnA,
      inFlight: await Promise.all(inFlight.map((h) => outcome(h.workflowId))),
      fresh: await Promise.all(fresh.map((h) => outcome(h.workflowId))),
      cli,
      retried: {
        atStep: await outcome(failed.atStep[0]!, retriedRuns.atStep),
        atPlanning: await outcome(failed.atPlanning[0]!, retriedRuns.atPlanning),
      },
      plainReset: {
        atStep: await outcome(failed.atStep[1]!, plainRuns.atStep),
        atPlanning: await outcome(failed.atPlanning[1]!, plainRuns.atPlanning),
      },
      timingsMs,
    };
  } finally {
    for (const { worker } of workers) worker.shutdown();
    await Promise.all(workers.map(({ running }) => running.catch(() => undefined)));
    await llm?.close();
  }
}

async function waitingReview(handle: WorkflowHandle): Promise<ProgressSnapshot> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const snapshot = await handle.query(progressQuery, { limit: LIMITS.eventsPageMax });
    if (snapshot.review) return snapshot;
    if (Date.now() > deadline) throw new Error(`no review after 30 s: ${snapshot.status}`);
    await sleep(100);
  }
}

const onBuild = (buildId: 'A' | 'B', status: string, pinnedBy: RunOutcome['pinnedBy']): RunOutcome => ({
  status,
  buildId,
  pinnedBy,
  completedBy: [`build-${buildId}`],
  taskFailures: [],
  firstCommand: FIRST_COMMAND_OF[buildId],
});

/**
 * What each run must show. Failed runs of A, the runs in flight and the web app's retries stay on
 * A; new runs go to B; no workflow task fails. The plain resets show Temporal 1.29's own rule: a
 * run reset after a workflow task of A completed (a failed step) stays on A; one reset to its first
 * workflow task (failed at planning) goes to the current version, B, and runs B's code.
 */
export const EXPECTED: Omit<RollingDeployReport, 'deploymentName' | 'taskQueue' | 'cli' | 'timingsMs'> = {
  failedOnA: { atStep: onBuild('A', 'FAILED', 'worker'), atPlanning: onBuild('A', 'FAILED', 'worker') },
  inFlight: [onBuild('A', 'COMPLETED', 'worker'), onBuild('A', 'COMPLETED', 'worker')],
  fresh: [onBuild('B', 'COMPLETED', 'worker'), onBuild('B', 'COMPLETED', 'worker')],
  retried: { atStep: onBuild('A', 'COMPLETED', 'override'), atPlanning: onBuild('A', 'COMPLETED', 'override') },
  plainReset: { atStep: onBuild('A', 'COMPLETED', 'worker'), atPlanning: onBuild('B', 'COMPLETED', 'worker') },
};

/** Everything in the report that is not as it must be, one line each; empty: the deploy went as documented. */
export function rollingDeployProblems(report: RollingDeployReport, options: { drained?: boolean } = {}): string[] {
  const problems: string[] = [];
  const compare = (what: string, got: unknown, want: unknown) => {
    if (JSON.stringify(got) !== JSON.stringify(want)) problems.push(`${what}: ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
  };
  for (const key of ['failedOnA', 'inFlight', 'fresh', 'retried', 'plainReset'] as const) {
    const want = EXPECTED[key] as Record<string, RunOutcome>;
    const got = report[key] as Record<string, RunOutcome>;
    for (const name of Object.keys(want)) compare(`${key}.${name}`, got[name], want[name]);
  }
  const { cli } = report;
  compare('current version', cli.currentVersion, 'B');
  compare('drainage of A right after B became current', cli.drainageOfA, 'draining');
  compare('runs of A listed', cli.listedOfA, { expected: cli.listedOfA.expected, found: cli.listedOfA.expected, ofB: 0 });
  compare('runs of A still open', cli.openOfA, '');
  if (options.drained && cli.drainedAfterMs === null) problems.push('A never showed as drained');
  return problems;
}
