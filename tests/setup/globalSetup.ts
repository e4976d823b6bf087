/**
 * One real Temporal dev server (the CLI, started by TestWorkflowEnvironment.createLocal with an
 * existing-path executable) and one workflow bundle for the whole jest run (a test file whose
 * workers encrypt failures makes one more: bundleFor in temporal.ts).
 */
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { createSearchAttributes, ensureTemporalCli, TEMPORAL_CLI_VERSION } from '../../devstack/temporal';
import { writeWorkflowBundle } from '../../devstack/bundle';

declare global {
  var __BUILDSTORY_TEST_ENV__: TestWorkflowEnvironment | undefined;
}

export default async function globalSetup(): Promise<void> {
  const cli = await ensureTemporalCli((line) => process.stderr.write(`[temporal] ${line}\n`));
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: cli },
      ui: false,
      extraArgs: ['--log-level', 'error'],
    },
  });
  globalThis.__BUILDSTORY_TEST_ENV__ = env;
  // As `npm start` does: the web app records run owners in it when access control is on.
  await createSearchAttributes(cli, env.address, env.namespace ?? 'default');

  const dir = join(tmpdir(), `buildstory-test-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  const codePath = await writeWorkflowBundle(dir, 'workflow-bundle.js');

  // Test files run in worker processes that inherit this environment.
  process.env.BUILDSTORY_TEST_TEMPORAL_ADDRESS = env.address;
  process.env.BUILDSTORY_TEST_WORKFLOW_BUNDLE = codePath;
  process.env.TEMPORAL_CLI = cli;
  process.stderr.write(`\n[temporal] real dev server for this run: Temporal CLI ${TEMPORAL_CLI_VERSION} (${cli}) at ${env.address}\n`);
}
