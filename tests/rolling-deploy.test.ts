/**
 * A rolling deploy with Temporal Worker Versioning, on the real dev server (Temporal 1.29.1), the
 * real taskWorkflow bundle as build A and, as build B, a variant with a deliberately incompatible
 * change (tests/fixtures/incompatible-workflow.ts). The commands are docs/deploy.md's.
 *
 * Runs started on A stay on A's workers to the end, new runs start on B once B is current, no
 * run fails a workflow task (a determinism failure would show there), and the web app's "Retry
 * from the failed step" on a failed run of A goes back to A although B is current.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { WorkflowHandle } from '@temporalio/client';
import type { WorkerDeploymentVersion } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { OpenAiProvider } from '../activities/llm/openai';
import { LIMITS, type ProgressSnapshot, type TaskInput } from '../contract/data';
import { progressQuery, reviewUpdate } from '../contract/messages';
import { writeWorkflowBundle } from '../devstack/bundle';
import { createBuildstoryWorker } from '../worker/worker';
import { startTestLlmServer, type TestLlmServer } from './fixtures/llm-server';
import { connectTestEnv, sharedServer, testLogger, uniqueTaskQueue } from './setup/temporal';
// Before the web app's modules: they read its settings when imported.
import './setup/web-env';
import { retryFromFailedStep } from '../web/app/utils/run-control.server';
import { getClient } from '../web/app/utils/temporal-client.server';

const run = promisify(execFile);
const { EventType, WorkflowTaskFailedCause } = temporal.api.enums.v1;
const ON_A = 'EVENT_TYPE_ACTIVITY_TASK_SCHEDULED';
const ON_B = 'EVENT_TYPE_TIMER_STARTED';

const DEPLOYMENT = `buildstory-test-${randomUUID().slice(0, 8)}`;
const A: WorkerDeploymentVersion = { deploymentName: DEPLOYMENT, buildId: 'A' };
const B: WorkerDeploymentVersion = { deploymentName: DEPLOYMENT, buildId: 'B' };
const taskQueue = uniqueTaskQueue('rolling-deploy');

let env: TestWorkflowEnvironment;
let llm: TestLlmServer;
const workers: Array<{ worker: Worker; running: Promise<void> }> = [];

beforeAll(async () => {
  env = await connectTestEnv();
  llm = await startTestLlmServer();
});

afterAll(async () => {
  for (const { worker } of workers) worker.shutdown();
  await Promise.all(workers.map(({ running }) => running));
  // The web app's connection, opened by the retry.
  await (await getClient()).connection.close();
  await llm?.close();
  await env?.teardown();
});

async function startWorker(version: WorkerDeploymentVersion, bundle: string): Promise<void> {
  const worker = await createBuildstoryWorker({
    connection: env.nativeConnection,
    namespace: 'default',
    taskQueue,
    provider: new OpenAiProvider({
      kind: 'openai',
      apiKey: 'test-key',
      baseURL: llm.baseURL,
      model: 'test-model',
      timeoutMs: 10_000,
      structuredOutput: 'auto',
    }),
    logger: testLogger,
    workflowBundle: { codePath: bundle },
    progress: { intervalMs: 50 },
    shutdownGraceTime: '2 seconds',
    identity: `build-${version.buildId}`,
    deploymentVersion: version,
  });
  workers.push({ worker, running: worker.run() });
}

/** The Temporal CLI against the run's dev server, as docs/deploy.md runs it; resolves with its output. */
async function temporalCli(args: string[]): Promise<string> {
  const cli = process.env.TEMPORAL_CLI;
  if (!cli) throw new Error('the jest globalSetup did not set TEMPORAL_CLI');
  const { stdout } = await run(cli, [...args, '--address', sharedServer().address, '--namespace', 'default']);
  return stdout;
}

/**
 * docs/deploy.md's `temporal worker deployment set-current-version ... -y`. A version exists once
 * one of its workers has polled, shortly after it starts: until then the CLI refuses, so retry.
 */
async function setCurrentVersion(version: WorkerDeploymentVersion): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await temporalCli([
        'worker',
        'deployment',
        'set-current-version',
        '--deployment-name',
        version.deploymentName,
        '--build-id',
        version.buildId,
        '-y',
      ]);
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(250);
    }
  }
}

function start(name: string, input: Partial<TaskInput> = {}): Promise<WorkflowHandle> {
  return env.client.workflow.start('taskWorkflow', {
    taskQueue,
    workflowId: `task-${randomUUID()}`,
    args: [{ task: `Rolling deploy: ${name}`, ...input }],
  });
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

/** How the run went: its status, the version it is on, who completed its workflow tasks, what failed. */
async function outcome(handle: WorkflowHandle, runId?: string) {
  const run = env.client.workflow.getHandle(handle.workflowId, runId);
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
    .map((e) => e.workflowTaskCompletedEventAttributes?.identity);
  return {
    status: description.status.name,
    buildId: info?.versioningOverride?.pinned?.version?.buildId ?? info?.deploymentVersion?.buildId,
    completedBy: [...new Set(completedBy)],
    taskFailures,
    // Build B's code starts a timer first; A's schedules planTask.
    firstCommand:
      EventType[events[events.findIndex((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED) + 1]?.eventType ?? 0],
  };
}

async function finished(handle: WorkflowHandle, runId?: string): Promise<void> {
  const result = env.client.workflow.getHandle(handle.workflowId, runId).result();
  // A run moved to the wrong build would fail workflow tasks for ever: give up, and let the outcome say why.
  await Promise.race([result.catch(() => undefined), sleep(60_000, undefined, { ref: false })]);
}

test('runs in flight finish on build A, new runs start on build B, and a retry of a run of A goes back to A', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'buildstory-rolling-'));
  const bundleB = writeWorkflowBundle(dir, 'build-b.js', { workflowsPath: require.resolve('./fixtures/incompatible-workflow') });

  // Build A: the real workflow bundle, made current.
  await startWorker(A, sharedServer().bundle);
  await setCurrentVersion(A);

  // Runs of A that fail for good (a 400 is not retried): one at its first step, one at planning.
  llm.program({ kind: 'step', stepIndex: 0, status: 400, message: 'This request is refused.' });
  const failedAtStep = await start('fails at a step on A');
  await finished(failedAtStep);
  llm.program({ kind: 'plan', status: 400, message: 'This request is refused.' });
  const failedAtPlanning = await start('fails at planning on A');
  await finished(failedAtPlanning);
  for (const handle of [failedAtStep, failedAtPlanning]) {
    expect(await outcome(handle)).toMatchObject({ status: 'FAILED', buildId: 'A', completedBy: ['build-A'], taskFailures: [] });
  }

  // Runs in flight on A: each waits for its plan review.
  const inFlight = await Promise.all([start('in flight 1', { review: true }), start('in flight 2', { review: true })]);
  const reviews = await Promise.all(inFlight.map(waitingReview));

  // Build B rolls out beside A and becomes current.
  await startWorker(B, await bundleB);
  await setCurrentVersion(B);

  // New runs start on B and complete there (its first command, a timer, shows its code ran).
  const fresh = await Promise.all([start('new 1'), start('new 2')]);
  await Promise.all(fresh.map((handle) => finished(handle)));
  for (const handle of fresh) {
    expect(await outcome(handle)).toEqual({
      status: 'COMPLETED',
      buildId: 'B',
      completedBy: ['build-B'],
      taskFailures: [],
      firstCommand: ON_B,
    });
  }

  // The runs in flight, answered now, finish on A: no worker of B touched them.
  await Promise.all(
    inFlight.map((handle, index) => {
      const requestId = randomUUID();
      const request = { requestId, revision: reviews[index].review!.revision, by: null, decision: 'approve' as const };
      return handle.executeUpdate(reviewUpdate, { args: [request], updateId: requestId });
    }),
  );
  await Promise.all(inFlight.map((handle) => finished(handle)));
  for (const handle of inFlight) {
    expect(await outcome(handle)).toEqual({
      status: 'COMPLETED',
      buildId: 'A',
      completedBy: ['build-A'],
      taskFailures: [],
      firstCommand: ON_A,
    });
  }
  // docs/deploy.md's checks: B is current, A is draining (drained comes with the server's next
  // refresh, up to 3 minutes later), and no run of A is open any more.
  const version = ['--deployment-name', DEPLOYMENT, '--build-id', 'A'];
  expect(await temporalCli(['worker', 'deployment', 'describe', '--name', DEPLOYMENT])).toMatch(/CurrentVersionBuildID\s+B\b/);
  expect(await temporalCli(['worker', 'deployment', 'describe-version', ...version])).toMatch(/DrainageStatus\s+draining\b/);
  const runsOfA = `TemporalWorkerDeploymentVersion = '${DEPLOYMENT}:A'`;
  const listed = await temporalCli(['workflow', 'list', '--query', runsOfA]);
  for (const handle of [failedAtStep, failedAtPlanning, ...inFlight]) expect(listed).toContain(handle.workflowId);
  for (const handle of fresh) expect(listed).not.toContain(handle.workflowId);
  expect(await temporalCli(['workflow', 'list', '--query', `${runsOfA} AND ExecutionStatus = 'Running'`])).toBe('');

  // "Retry from the failed step", as the web app does it, with B current: each new run is pinned
  // back to A and completes there. Reset to its first workflow task, the run that failed at
  // planning would otherwise go to B (the current version) and run there.
  for (const handle of [failedAtStep, failedAtPlanning]) {
    const retried = await retryFromFailedStep(handle.workflowId, null);
    await finished(handle, retried.runId);
    expect({ workflowId: handle.workflowId, ...(await outcome(handle, retried.runId)) }).toEqual({
      workflowId: handle.workflowId,
      status: 'COMPLETED',
      buildId: 'A',
      completedBy: ['build-A'],
      taskFailures: [],
      firstCommand: ON_A,
    });
  }
});
