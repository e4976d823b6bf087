/**
 * Secrets stay out of workflow inputs, history, logs and the browser: the worker and the web app
 * run as real processes with a distinctive API key, at debug log level, through a whole run.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { Client, Connection } from '@temporalio/client';
import { startRunViaForm } from '../devstack/form';
import { startPart, webPart, workerPart, type ServedPartSpec, type StartedPart } from '../devstack/parts';
import { freePort } from '../devstack/processes';
import { startTestLlmServer, type TestLlmServer } from './fixtures/llm-server';
import { startWebhookReceiver, type WebhookReceiver } from './fixtures/webhook-receiver';
import { sharedServer, uniqueTaskQueue } from './setup/temporal';

const OPENAI_KEY = 'sk-test-NEVER-SHOW-7f3a9c2e51d84b6a';
const TEMPORAL_KEY_LIKE = 'secret-grpc-meta-9d8e7f';

let llm: TestLlmServer;
let receiver: WebhookReceiver;
let worker: StartedPart | undefined;
let web: StartedPart<ServedPartSpec> | undefined;
let base: string;
let connection: Connection;
const output: string[] = [];

function capture(child: ChildProcess) {
  child.stdout?.on('data', (d: Buffer) => output.push(d.toString()));
  child.stderr?.on('data', (d: Buffer) => output.push(d.toString()));
}

beforeAll(async () => {
  llm = await startTestLlmServer();
  receiver = await startWebhookReceiver();
  const taskQueue = uniqueTaskQueue('secrets');
  const env = {
    TEMPORAL_ADDRESS: sharedServer().address,
    TEMPORAL_TASK_QUEUE: taskQueue,
    // A header sent on every call to Temporal: it must not be logged either.
    TEMPORAL_GRPC_META_X_TEST_TOKEN: TEMPORAL_KEY_LIKE,
    OPENAI_API_KEY: OPENAI_KEY,
    OPENAI_BASE_URL: llm.baseURL,
    OPENAI_MODEL: 'test-model',
    LOG_LEVEL: 'debug',
    WORKER_HEALTH_PORT: '0',
    // Webhooks: the worker signs with the secret (the web app reads only whether the URL is set).
    BUILDSTORY_WEBHOOK_URL: receiver.url,
    BUILDSTORY_WEBHOOK_SECRET: receiver.secret,
  };
  worker = startPart(workerPart({ name: 'worker:secrets', env }));
  capture(worker.child);
  web = startPart(webPart({ name: 'web:secrets', port: await freePort(), env }));
  capture(web.child);
  base = web.base;
  await web.ready();
  connection = await Connection.connect({ address: sharedServer().address });
});

afterAll(async () => {
  await connection?.close();
  await web?.stop();
  await worker?.stop();
  await llm?.close();
  await receiver?.close();
});

test('a whole run leaves the API key and the webhook secret nowhere: not in history, logs, or pages', async () => {
  const workflowId = await startRunViaForm(base, 'Create a hello world python function');
  const client = new Client({ connection });
  const result = (await client.workflow.getHandle(workflowId).result()) as { status: string };
  expect(result.status).toBe('completed');
  // The key was used: the LLM server saw the calls.
  expect(llm.calls.length).toBeGreaterThanOrEqual(4);
  // And the secret: the run's end was delivered, signed with it.
  expect(receiver.deliveries.map((d) => [d.verified?.type, d.answered])).toEqual([['run.ended', 204]]);
  const webhookSecret = receiver.secret.slice('whsec_'.length);

  const history = execFileSync(process.env.TEMPORAL_CLI!, [
    'workflow',
    'show',
    '--address',
    sharedServer().address,
    '--workflow-id',
    workflowId,
    '--output',
    'json',
  ]).toString();
  // Payload data is base64 in the JSON: decode every string that looks like it, and search both.
  const decoded = [...history.matchAll(/"data":\s*"([A-Za-z0-9+/=]+)"/g)]
    .map((m) => Buffer.from(m[1], 'base64').toString('utf8'))
    .join('\n');
  expect(decoded).toContain('Create a hello world python function'); // the search can find things
  for (const secret of [OPENAI_KEY, TEMPORAL_KEY_LIKE, webhookSecret]) {
    expect(history).not.toContain(secret);
    expect(decoded).not.toContain(secret);
  }

  const pages = await Promise.all(
    [`${base}/`, `${base}/runs/${workflowId}`, `${base}/metrics`].map(async (url) => (await fetch(url)).text()),
  );
  for (const html of pages) {
    expect(html).not.toContain(OPENAI_KEY);
    expect(html).not.toContain(webhookSecret);
  }

  const logs = output.join('');
  expect(logs).toMatch(/worker running/); // the logs were captured
  expect(logs).not.toContain(OPENAI_KEY);
  expect(logs).not.toContain(TEMPORAL_KEY_LIKE);
  expect(logs).toMatch(/webhook delivered/);
  expect(logs).not.toContain(webhookSecret);
});
