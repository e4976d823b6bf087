/**
 * Webhooks from the web app: with BUILDSTORY_WEBHOOK_URL set, a run submitted on the home form
 * asks to notify (TaskInput.notify); the worker (with the URL and the secret) delivers run.ended to
 * a receiver that verifies the signature, and the run page's story shows the delivery.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { OfflineProvider } from '../activities/llm/offline';
import { webhookDeliveryId } from '../contract/data';
import { formToken, submitTask } from '../devstack/form';
import { startPart, webPart, type ServedPartSpec, type StartedPart } from '../devstack/parts';
import { freePort } from '../devstack/processes';
import { startWebhookReceiver, type WebhookReceiver } from './fixtures/webhook-receiver';
import { connectTestEnv, createTestWorker, sharedServer, uniqueTaskQueue } from './setup/temporal';

let env: TestWorkflowEnvironment;
let receiver: WebhookReceiver;
let worker: Worker;
let workerRun: Promise<void>;
let web: StartedPart<ServedPartSpec> | undefined;

beforeAll(async () => {
  env = await connectTestEnv();
  receiver = await startWebhookReceiver();
  const taskQueue = uniqueTaskQueue('webhooks-web');
  worker = await createTestWorker(env, taskQueue, new OfflineProvider(1), undefined, {
    webhook: { url: receiver.url, secret: receiver.secret, display: 'test receiver' },
  });
  workerRun = worker.run();
  web = startPart(
    webPart({
      port: await freePort(),
      env: {
        TEMPORAL_ADDRESS: sharedServer().address,
        TEMPORAL_TASK_QUEUE: taskQueue,
        LOG_LEVEL: 'warn',
        BUILDSTORY_WEBHOOK_URL: receiver.url,
        BUILDSTORY_VERIFY_ROUNDS: '0',
      },
    }),
  );
  await web.ready();
});

afterAll(async () => {
  await web?.stop();
  worker?.shutdown();
  await workerRun;
  await receiver?.close();
  await env?.teardown();
});

test('a run submitted on the form notifies: run.ended reaches the receiver, signed, and the run page tells the delivery', async () => {
  const base = web!.base;
  const token = await formToken(base);
  const res = await submitTask(base, 'Say hello', token);
  expect(res.status).toBe(302);
  const workflowId = `task-${token}`;
  const handle = env.client.workflow.getHandle(workflowId);
  await handle.result();
  const { runId } = await handle.describe();

  expect(receiver.deliveries).toHaveLength(1);
  expect(receiver.deliveries[0]).toMatchObject({ id: webhookDeliveryId(runId, 'run.ended'), answered: 204 });
  expect(receiver.deliveries[0].verified).toMatchObject({ type: 'run.ended', data: { workflowId, runId, status: 'completed' } });

  const html = (await (await fetch(`${base}/runs/${workflowId}`)).text()).replace(/<!-- -->/g, '');
  expect(html).toContain('webhook.delivered');
  expect(html).toContain(`run.ended delivered: HTTP 204, attempt 1 · ${webhookDeliveryId(runId, 'run.ended')}`);
});
