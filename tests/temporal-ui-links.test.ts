/**
 * The Temporal UI links a run to the web app, for real: a run started as the web app starts one
 * (startRun, with BUILDSTORY_PUBLIC_URL and payload encryption on) on the shared dev server, run
 * to its end by a test worker with verification. What the UI reads back: the user metadata
 * (describe: summary and details) and the current details (the `__temporal_workflow_metadata`
 * query), with links to the run's page, each file its code step wrote, and the zip; and the
 * summary, the task's first line, is stored encrypted like the task.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { OfflineProvider } from '../activities/llm/offline';
import { workerDataConverter } from '../codec/worker';
import { ENCODING_METADATA, ENCRYPTED_ENCODING } from '../codec';
import { parseEncryption } from '../config/encryption';
import type { ProgressSnapshot } from '../contract/data';
import { progressQuery } from '../contract/messages';
import { runFiles } from '../contract/run-links';
import { connectTestEnv, createTestWorker, uniqueTaskQueue } from './setup/temporal';
import './setup/web-env';

const PUBLIC_URL = 'https://buildstory.example.test';
const KEYS = `k1:${randomBytes(32).toString('base64')}`;
const TASK = 'Create a hello world python function\nand more lines the summary leaves out';
const taskQueue = uniqueTaskQueue('ui-links');
// Before the web app's modules below: they read its settings when imported (log.server.ts).
Object.assign(process.env, {
  TEMPORAL_TASK_QUEUE: taskQueue,
  // A trailing slash: the links must not get a double one.
  BUILDSTORY_PUBLIC_URL: `${PUBLIC_URL}/`,
  BUILDSTORY_ENCRYPTION_KEYS: KEYS,
});
import { startRun } from '../web/app/utils/run-start.server';
import { getClient } from '../web/app/utils/temporal-client.server';

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await connectTestEnv();
});
afterAll(async () => {
  // Jest runs other test files in this process after this one.
  for (const name of ['TEMPORAL_TASK_QUEUE', 'BUILDSTORY_PUBLIC_URL', 'BUILDSTORY_ENCRYPTION_KEYS']) delete process.env[name];
  await env?.teardown();
});

async function patiently<T>(ask: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await ask();
    } catch (err) {
      const timedOut = /DEADLINE_EXCEEDED|timed out/.test(`${(err as Error).message} ${String((err as Error).cause ?? '')}`);
      if (!timedOut || attempt === 3) throw err;
    }
  }
}

test('the Temporal UI shows the run with links to its page, each of its files and the zip', async () => {
  const worker = await createTestWorker(env, taskQueue, new OfflineProvider(1), workerDataConverter(parseEncryption(KEYS, undefined)));
  const client = await getClient();
  const { workflowId } = await startRun(randomUUID(), TASK, null);
  const handle = client.workflow.getHandle(workflowId);
  // Queries need a worker: both while it still runs. The metadata query is what the UI asks for
  // the current details, which the workflow set once its code step was verified.
  // A query of an ended run replays it on the worker; on a busy machine it can miss its deadline,
  // so each is asked again (up to 3 times) when it does: what is asserted is the answer.
  const [final, metadata] = await worker.runUntil(async () => {
    await handle.result();
    return Promise.all([
      patiently(() => handle.query(progressQuery, {}) as Promise<ProgressSnapshot>),
      patiently(() => handle.query('__temporal_workflow_metadata') as Promise<{ currentDetails?: string }>),
    ]);
  });
  expect(final.verified).toBe(true);
  const files = runFiles(final);
  expect(files.length).toBeGreaterThan(0);

  // Set when the run started: the summary and details of its user metadata.
  const description = await handle.describe();
  expect(await description.staticSummary()).toBe('Create a hello world python function');
  const page = `${PUBLIC_URL}/runs/${workflowId}`;
  expect(await description.staticDetails()).toBe(`[Open this run in Buildstory](${page})`);

  const details = metadata.currentDetails ?? '';
  expect(details).toContain(`(${page}/files.zip)`);
  for (const file of files) expect(details).toContain(`- [\`${file.path}\`](${page}/files/${file.sha256}) (${file.bytes} bytes)`);
  expect(details.match(/\/files\/[0-9a-f]{64}\)/g)).toHaveLength(files.length);

  // Encrypted as the task is: what Temporal stores (the raw answer, before the codec) is ciphertext.
  const raw = description.raw.executionConfig?.userMetadata;
  for (const payload of [raw?.summary, raw?.details]) {
    expect(Buffer.from(payload!.metadata![ENCODING_METADATA]!).toString()).toBe(ENCRYPTED_ENCODING);
    expect(Buffer.from(payload!.data!).toString('latin1')).not.toContain('hello world');
  }
});
