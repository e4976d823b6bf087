/**
 * A rolling deploy with Temporal Worker Versioning on the real dev server (Temporal 1.29.1): the
 * scenario of devstack/rolling-deploy.ts (build A, then a build B with a deliberately incompatible
 * change, made current with docs/deploy.md's commands), with the web app's "Retry from the failed
 * step" called in-process. `npm run test:cluster` runs the same scenario on the PostgreSQL-backed
 * cluster, with the retry posted to the web app through nginx.
 *
 * Runs started on A stay on A's workers to the end, new runs start on B once B is current, no
 * run fails a workflow task (a determinism failure would show there), the web app's retry on a
 * failed run of A goes back to A although B is current, and a plain reset (no pin) stays on A
 * after a failed step but goes to B from the first workflow task.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { EXPECTED, rollingDeploy, rollingDeployProblems } from '../devstack/rolling-deploy';
import { connectTestEnv, sharedServer, testLogger } from './setup/temporal';
// Before the web app's modules: they read its settings when imported.
import './setup/web-env';
import { retryFromFailedStep } from '../web/app/utils/run-control.server';
import { getClient } from '../web/app/utils/temporal-client.server';

const run = promisify(execFile);

let env: TestWorkflowEnvironment;

beforeAll(async () => {
  env = await connectTestEnv();
});

afterAll(async () => {
  // The web app's connection, opened by the retry.
  await (await getClient()).connection.close();
  await env?.teardown();
});

test('runs in flight finish on build A, new runs start on build B, and a retry of a run of A goes back to A', async () => {
  const cli = process.env.TEMPORAL_CLI;
  if (!cli) throw new Error('the jest globalSetup did not set TEMPORAL_CLI');
  const report = await rollingDeploy({
    connection: env.nativeConnection,
    client: env.client,
    namespace: 'default',
    bundleA: sharedServer().bundle,
    dir: mkdtempSync(join(tmpdir(), 'buildstory-rolling-')),
    temporalCli: async (args) => (await run(cli, [...args, '--address', sharedServer().address, '--namespace', 'default'])).stdout,
    retry: async (workflowId) => void (await retryFromFailedStep(workflowId, null)),
    logger: testLogger,
  });
  // The outcomes first, for a readable diff; then every check, the CLI's included.
  expect(report).toMatchObject(EXPECTED);
  expect(rollingDeployProblems(report)).toEqual([]);
});
