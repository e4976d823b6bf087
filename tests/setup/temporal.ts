/** Helpers for tests that talk to the run's shared dev server (see globalSetup). */
import { randomUUID } from 'node:crypto';
import { dirname } from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, type Worker } from '@temporalio/worker';
import pino from 'pino';
import type { DataConverter } from '@temporalio/common';
import type { LlmProvider } from '../../activities/llm/provider';
import { createBuildstoryWorker } from '../../worker/worker';
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

export async function createTestWorker(
  env: TestWorkflowEnvironment,
  taskQueue: string,
  provider: LlmProvider,
  dataConverter?: DataConverter,
): Promise<Worker> {
  return createBuildstoryWorker({
    dataConverter,
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
}
