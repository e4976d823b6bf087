/** Helpers for tests that talk to the run's shared dev server (see globalSetup). */
import { randomUUID } from 'node:crypto';
import { dirname, join } from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, type Worker } from '@temporalio/worker';
import pino from 'pino';
import type { DataConverter } from '@temporalio/common';
import type { WorkflowHandle } from '@temporalio/client';
import { OpenAiProvider } from '../../activities/llm/openai';
import type { LlmProvider } from '../../activities/llm/provider';
import type { WebhookConfig } from '../../config/webhooks';
import { progressQuery } from '../../contract/messages';
import { LIMITS, type Price, type ProgressSnapshot } from '../../contract/data';
import { createBuildstoryWorker, withVerification } from '../../worker/worker';
import { LocalArtifactStore } from '../../artifacts';
import { ROOT } from '../../devstack/processes';
import { writeWorkflowBundle } from '../../devstack/bundle';

export const testLogger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

// The SDK logs expected failures (a failed run is a test outcome here) at WARN: keep errors only.
try {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
} catch {
  // Already installed in this process.
}

export function sharedServer(): { address: string; bundle: string } {
  const address = process.env.BUILDSTORY_TEST_TEMPORAL_ADDRESS;
  const bundle = process.env.BUILDSTORY_TEST_WORKFLOW_BUNDLE;
  if (!address || !bundle) throw new Error('the jest globalSetup did not start the Temporal dev server');
  return { address, bundle };
}

export async function connectTestEnv(): Promise<TestWorkflowEnvironment> {
  return TestWorkflowEnvironment.createFromExistingServer({ address: sharedServer().address });
}

/** A fresh task queue per test keeps tests on one server apart. */
export function uniqueTaskQueue(name: string): string {
  return `test-${name}-${randomUUID()}`;
}

const bundles = new Map<string, Promise<string>>();

/**
 * The workflow bundle for a worker with this data converter: the run's shared one, or (for a
 * custom failure converter, as with encryption on) one made with it, once per test file.
 */
function bundleFor(dataConverter: DataConverter | undefined): Promise<string> {
  const failureConverterPath = dataConverter?.failureConverterPath;
  if (!failureConverterPath) return Promise.resolve(sharedServer().bundle);
  let bundle = bundles.get(failureConverterPath);
  if (!bundle) {
    bundle = writeWorkflowBundle(dirname(sharedServer().bundle), `workflow-bundle-${randomUUID()}.js`, { failureConverterPath });
    bundles.set(failureConverterPath, bundle);
  }
  return bundle;
}

/**
 * A worker of the run's workflows and activities on `taskQueue`, and with it, as the worker
 * process does, one of the verification queue beside it (the sandbox must be available: CI
 * installs bubblewrap), started and stopped with it: its `run` (and so `runUntil`) runs both.
 */
export async function createTestWorker(
  env: TestWorkflowEnvironment,
  taskQueue: string,
  provider: LlmProvider,
  dataConverter?: DataConverter,
  options: { webhook?: WebhookConfig | null } = {},
): Promise<Worker> {
  const worker = await createBuildstoryWorker({
    dataConverter,
    webhook: options.webhook ?? null,
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    taskQueue,
    provider,
    logger: testLogger,
    workflowBundle: { codePath: await bundleFor(dataConverter) },
    // Short interval so tests see several batches without waiting long.
    progress: { intervalMs: 50 },
    shutdownGraceTime: '2 seconds',
  });
  return withVerification(worker, {
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    taskQueue,
    logger: testLogger,
    dataConverter,
    shutdownGraceTime: '2 seconds',
    store: testArtifactStore(),
  });
}

let artifacts: LocalArtifactStore | null = null;

/** Where test workers keep the files code steps write: the directory the web app reads by default (.data/artifacts). */
export function testArtifactStore(): LocalArtifactStore {
  artifacts ??= new LocalArtifactStore({ root: join(ROOT, '.data', 'artifacts'), encryption: null });
  return artifacts;
}

/**
 * The real OpenAI-compatible provider pointed at the test LLM server: what the workflow tests run
 * (the model is `test-model`; no price unless given, as a model missing from the price table).
 */
export function testLlmProvider(baseURL: string, options: { price?: Price | null; timeoutMs?: number } = {}): OpenAiProvider {
  return new OpenAiProvider({
    kind: 'openai',
    apiKey: 'test-key',
    baseURL,
    model: 'test-model',
    timeoutMs: options.timeoutMs ?? 5_000,
    structuredOutput: 'auto',
    price: options.price ?? null,
  });
}

/** Poll the run's progress query until `predicate` holds (a worker must be running). */
export async function waitForSnapshot(
  handle: WorkflowHandle,
  predicate: (snapshot: ProgressSnapshot) => boolean,
  timeoutMs = 30_000,
): Promise<ProgressSnapshot> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const snapshot = await handle.query(progressQuery, { limit: LIMITS.eventsPageMax });
    if (predicate(snapshot)) return snapshot;
    if (Date.now() > deadline) throw new Error(`condition not met; last status ${snapshot.status}, events ${snapshot.lastSeq}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
