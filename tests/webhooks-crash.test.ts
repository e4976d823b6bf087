/**
 * Webhook deliveries survive kill -9 of the worker: the worker runs as a process of its own (as
 * the fault harness runs it) with BUILDSTORY_WEBHOOK_URL and _SECRET pointing at a test receiver
 * that verifies each signature with the standardwebhooks library. The receiver holds a delivery
 * without answering while the worker is killed with SIGKILL, twice: at the review wait
 * (run.waiting) and at the end (run.ended). A new worker takes each delivery up again once the
 * heartbeat times out. Every event is delivered at least once, a repeat carries the same
 * webhook-id, and the secret is in no log line.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { freePort } from '../devstack/processes';
import { workerPart } from '../devstack/parts';
import { NodePart } from '../faults/supervisor';
import { progressQuery, reviewUpdate } from '../contract/messages';
import { WORKFLOW_NAME, webhookDeliveryId, type ProgressSnapshot, type TaskWorkflow } from '../contract/data';
import { startWebhookReceiver, type WebhookReceiver } from './fixtures/webhook-receiver';
import { connectTestEnv, sharedServer, uniqueTaskQueue } from './setup/temporal';

let env: TestWorkflowEnvironment;
let receiver: WebhookReceiver;
let worker: NodePart;
const taskQueue = uniqueTaskQueue('webhook-crash');
const logFile = join(mkdtempSync(join(tmpdir(), 'bs-webhook-crash-')), 'worker.log');

beforeAll(async () => {
  env = await connectTestEnv();
  receiver = await startWebhookReceiver();
  worker = new NodePart(
    'worker',
    logFile,
    async () =>
      workerPart({
        healthPort: await freePort(),
        env: {
          TEMPORAL_ADDRESS: sharedServer().address,
          TEMPORAL_TASK_QUEUE: taskQueue,
          LOG_LEVEL: 'info',
          OFFLINE_MODEL_DELAY_MS: '1',
          BUILDSTORY_WEBHOOK_URL: receiver.url,
          BUILDSTORY_WEBHOOK_SECRET: receiver.secret,
        },
      }),
    120_000,
    (part) => {
      throw new Error(`${part.name} exited by itself`);
    },
  );
  await worker.start();
}, 180_000);

afterAll(async () => {
  await worker?.stop();
  await receiver?.close();
  await env?.teardown();
});

test('kill -9 of the worker while a delivery waits for its answer, at the review and at the end: each event is delivered, repeats carry the same id', async () => {
  receiver.hold(1);
  const handle = await env.client.workflow.start<TaskWorkflow>(WORKFLOW_NAME, {
    taskQueue,
    workflowId: `webhook-crash-${randomUUID()}`,
    // No code steps to verify: this is about the deliveries.
    args: [{ task: 'Create a hello world python function', review: true, verifyRounds: 0, notify: true }],
  });
  const { runId } = await handle.describe();
  const waitingId = webhookDeliveryId(runId, 'run.waiting', 1);
  const endedId = webhookDeliveryId(runId, 'run.ended');

  // run.waiting reaches the receiver, which holds it; the worker dies before any answer.
  await receiver.received(1);
  await worker.kill9();
  await worker.start();
  // The new worker takes the delivery up once the dead one's heartbeat times out (10 s).
  await receiver.received(2, 90_000);
  expect(receiver.deliveries[1]).toMatchObject({ id: waitingId, answered: 204 });

  // Approved: the run goes on and ends; run.ended is held in turn, and the worker killed again.
  receiver.hold(1);
  const requestId = randomUUID();
  await handle.executeUpdate(reviewUpdate, { args: [{ requestId, revision: 1, decision: 'approve', by: 'ann' }], updateId: requestId });
  await receiver.received(3, 60_000);
  await worker.kill9();
  await worker.start();
  const result: ProgressSnapshot = await handle.result();
  expect(result.status).toBe('completed');

  // Every event at least once; each repeat under its event's id; every signature verified.
  expect(receiver.deliveries.map((d) => [d.id, d.answered, d.verified?.type])).toEqual([
    [waitingId, null, 'run.waiting'],
    [waitingId, 204, 'run.waiting'],
    [endedId, null, 'run.ended'],
    [endedId, 204, 'run.ended'],
  ]);
  expect([...receiver.byId().keys()]).toEqual([waitingId, endedId]);
  // The story tells each delivery once, at the attempt that got through.
  const told = result.events.filter((e) => e.type === 'webhook.delivered');
  expect(told).toEqual([
    expect.objectContaining({ event: 'run.waiting', deliveryId: waitingId, attempts: 2, status: 204 }),
    expect.objectContaining({ event: 'run.ended', deliveryId: endedId, attempts: 2, status: 204 }),
  ]);
  // A closed run's story reads the same by replay.
  expect((await handle.query(progressQuery, {})).events.filter((e) => e.type === 'webhook.delivered')).toHaveLength(2);

  // The worker logged its deliveries, never the secret nor the URL's path.
  const log = readFileSync(logFile, 'utf8');
  expect(log).toContain('webhook delivered');
  expect(log).not.toContain(receiver.secret.slice('whsec_'.length));
  expect(log).not.toContain('/hooks/buildstory');
}, 300_000);
