/**
 * Webhooks on the real dev server with the real activities: a test receiver verifies every
 * delivery's Standard Webhooks signature with the library and counts deliveries by webhook-id. A
 * run that notifies delivers run.ended once it ended (retried with the same id while the receiver
 * refuses), run.waiting at a review, run.ended for a cancelled run too; each outcome is in the
 * story. A run that does not notify schedules no delivery; the secret and the URL never reach the
 * history.
 */
import type { WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { randomUUID } from 'node:crypto';
import { startTestLlmServer, type TestLlmServer } from '../tests/fixtures/llm-server';
import { startWebhookReceiver, type WebhookReceiver } from '../tests/fixtures/webhook-receiver';
import { connectTestEnv, createTestWorker, testLlmProvider, uniqueTaskQueue, waitForSnapshot } from '../tests/setup/temporal';
import { reviewUpdate } from '../contract/messages';
import { RUN_FAILED_ERROR_TYPE, webhookDeliveryId, type ProgressSnapshot, type StoryEvent, type TaskInput } from '../contract/data';
import type { WebhookConfig } from '../config/webhooks';
import { taskWorkflow } from '.';

let env: TestWorkflowEnvironment;
let llm: TestLlmServer;
let receiver: WebhookReceiver;

beforeAll(async () => {
  env = await connectTestEnv();
  llm = await startTestLlmServer({ steps: 1 });
});
afterAll(async () => {
  await llm?.close();
  await env?.teardown();
});
beforeEach(async () => {
  llm.reset();
  receiver = await startWebhookReceiver();
});
afterEach(() => receiver.close());

const TASK = 'Create a hello world python function';

function webhook(): WebhookConfig {
  return { url: receiver.url, secret: receiver.secret, display: 'http://127.0.0.1' };
}

async function withWorker<T>(name: string, config: WebhookConfig | null, body: (taskQueue: string) => Promise<T>): Promise<T> {
  const taskQueue = uniqueTaskQueue(name);
  const worker = await createTestWorker(env, taskQueue, testLlmProvider(llm.baseURL), undefined, { webhook: config });
  return worker.runUntil(body(taskQueue));
}

function start(taskQueue: string, input: Partial<TaskInput> = {}): Promise<WorkflowHandle<typeof taskWorkflow>> {
  return env.client.workflow.start(taskWorkflow, {
    taskQueue,
    workflowId: `webhooks-${randomUUID()}`,
    args: [{ task: TASK, notify: true, ...input }],
  });
}

const webhookEvents = (events: StoryEvent[]) => events.filter((e) => e.type.startsWith('webhook.'));

/** The history as JSON, payloads as text: what Temporal stores for the run. */
async function historyText(handle: WorkflowHandle): Promise<string> {
  const history = await handle.fetchHistory();
  return JSON.stringify(history, (_key, value: unknown) => (value instanceof Uint8Array ? Buffer.from(value).toString('utf8') : value));
}

test('a completed run delivers run.ended once, signed; the story and the result show it; neither the secret nor the URL is in the history', async () => {
  await withWorker('webhook-completed', webhook(), async (taskQueue) => {
    const handle = await start(taskQueue);
    const result = await handle.result();
    expect(result.status).toBe('completed');
    const { runId } = await handle.describe();
    const id = webhookDeliveryId(runId, 'run.ended');

    expect(receiver.deliveries).toHaveLength(1);
    const [delivery] = receiver.deliveries;
    expect(delivery.id).toBe(id);
    expect(delivery.answered).toBe(204);
    expect(delivery.verified).toEqual({
      type: 'run.ended',
      timestamp: expect.any(String),
      data: { workflowId: handle.workflowId, runId, status: 'completed' },
    });
    // Ids and status only: nothing of the task or its output leaves.
    expect(delivery.body).not.toContain('hello');

    expect(webhookEvents(result.events)).toEqual([
      expect.objectContaining({ type: 'webhook.delivered', event: 'run.ended', deliveryId: id, attempts: 1, status: 204 }),
    ]);
    // Recorded after the end, and the run stays as it ended.
    expect(result.events.findIndex((e) => e.type === 'run.completed')).toBeLessThan(result.events.length - 1);

    const history = await historyText(handle);
    expect(history).toContain('deliverWebhook');
    expect(history).not.toContain(receiver.secret.slice('whsec_'.length));
    expect(history).not.toContain(receiver.url);
    expect(history).not.toContain('/hooks/buildstory');
  });
});

test('a receiver that refuses twice gets the same webhook-id three times, each signed afresh; the story shows 3 attempts; the body links to the run page', async () => {
  receiver.refuse(2);
  await withWorker('webhook-retried', webhook(), async (taskQueue) => {
    const handle = await start(taskQueue, { appUrl: 'https://buildstory.example' });
    const result = await handle.result();
    expect(result.status).toBe('completed');
    const { runId } = await handle.describe();
    const id = webhookDeliveryId(runId, 'run.ended');
    expect(receiver.deliveries.map((d) => [d.id, d.answered, d.verified !== null])).toEqual([
      [id, 500, true],
      [id, 500, true],
      [id, 204, true],
    ]);
    // Signed again per attempt: the retries (after 1 s, then 2 s) carry later timestamps.
    const times = receiver.deliveries.map((d) => Number(d.timestamp));
    expect(times[2]).toBeGreaterThan(times[0]);
    // One event, one id: a receiver that keeps ids drops the repeats.
    expect([...receiver.byId().keys()]).toEqual([id]);
    // The web app's public URL in the run's input: the body names the run's page.
    expect((receiver.deliveries[2]!.verified as { data: { url?: string } }).data.url).toBe(
      `https://buildstory.example/runs/${handle.workflowId}`,
    );
    expect(webhookEvents(result.events)).toEqual([
      expect.objectContaining({ type: 'webhook.delivered', event: 'run.ended', deliveryId: id, attempts: 3, status: 204 }),
    ]);
  });
});

test('a failed run delivers run.ended (status failed); the failure still carries the snapshot, now with the delivery', async () => {
  llm.program({ kind: 'step', stepIndex: 0, status: 401 });
  await withWorker('webhook-failed', webhook(), async (taskQueue) => {
    const handle = await start(taskQueue);
    const err = await handle.result().then(
      () => null,
      (e: unknown) => e as { cause?: { type?: string; details?: unknown[] } },
    );
    expect(err?.cause?.type).toBe(RUN_FAILED_ERROR_TYPE);
    const snapshot = err!.cause!.details![0] as ProgressSnapshot;
    expect(snapshot.status).toBe('failed');
    const { runId } = await handle.describe();
    expect(webhookEvents(snapshot.events)).toEqual([
      expect.objectContaining({ type: 'webhook.delivered', event: 'run.ended', deliveryId: webhookDeliveryId(runId, 'run.ended') }),
    ]);
    expect(receiver.deliveries.map((d) => d.verified?.data.status)).toEqual(['failed']);
  });
});

test('a review wait delivers run.waiting while the run waits; the rejected run then delivers run.ended', async () => {
  await withWorker('webhook-review', webhook(), async (taskQueue) => {
    const handle = await start(taskQueue, { review: true });
    const waiting = await waitForSnapshot(handle, (s) => s.review !== null && webhookEvents(s.events).length > 0);
    const { runId } = await handle.describe();
    const waitingId = webhookDeliveryId(runId, 'run.waiting', 1);
    expect(receiver.deliveries).toHaveLength(1);
    expect(receiver.deliveries[0].id).toBe(waitingId);
    expect(receiver.deliveries[0].verified).toEqual({
      type: 'run.waiting',
      timestamp: expect.any(String),
      data: {
        workflowId: handle.workflowId,
        runId,
        status: 'running',
        review: { revision: 1, stage: 'plan', deadline: waiting.review!.deadline },
      },
    });
    expect(webhookEvents(waiting.events)).toEqual([
      expect.objectContaining({ type: 'webhook.delivered', event: 'run.waiting', deliveryId: waitingId, attempts: 1 }),
    ]);

    const requestId = randomUUID();
    await handle.executeUpdate(reviewUpdate, {
      args: [{ requestId, revision: 1, decision: 'reject', by: 'ann', reason: 'Not now.' }],
      updateId: requestId,
    });
    const result = await handle.result();
    expect(result.status).toBe('rejected');
    const endedId = webhookDeliveryId(runId, 'run.ended');
    expect(receiver.deliveries.map((d) => d.id)).toEqual([waitingId, endedId]);
    expect(receiver.deliveries[1].verified?.data).toMatchObject({ status: 'rejected' });
  });
});

test('a cancelled run still delivers run.ended (status cancelled) before it closes as cancelled', async () => {
  await withWorker('webhook-cancelled', webhook(), async (taskQueue) => {
    const handle = await start(taskQueue, { review: true });
    await receiver.received(1); // run.waiting
    await handle.cancel();
    const err = await handle.result().then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(err?.name).toBe('WorkflowFailedError');
    expect((await handle.describe()).status.name).toBe('CANCELLED');
    const { runId } = await handle.describe();
    expect(receiver.deliveries.map((d) => [d.id, d.verified?.data.status])).toEqual([
      [webhookDeliveryId(runId, 'run.waiting', 1), 'running'],
      [webhookDeliveryId(runId, 'run.ended'), 'cancelled'],
    ]);
  });
});

test('a run that does not notify schedules no delivery and records no patch, even where the worker has a webhook', async () => {
  await withWorker('webhook-off', webhook(), async (taskQueue) => {
    const handle = await start(taskQueue, { notify: undefined });
    const result: ProgressSnapshot = await handle.result();
    expect(result.status).toBe('completed');
    expect(webhookEvents(result.events)).toEqual([]);
    const history = await historyText(handle);
    expect(history).not.toContain('deliverWebhook');
    expect(history).not.toContain('webhooks-v1');
  });
  expect(receiver.deliveries).toHaveLength(0);
});

test('a run that notifies on a worker without a webhook records one failed delivery and completes as it would', async () => {
  await withWorker('webhook-unset', null, async (taskQueue) => {
    const handle = await start(taskQueue);
    const result = await handle.result();
    expect(result.status).toBe('completed');
    const { runId } = await handle.describe();
    expect(webhookEvents(result.events)).toEqual([
      expect.objectContaining({
        type: 'webhook.failed',
        event: 'run.ended',
        deliveryId: webhookDeliveryId(runId, 'run.ended'),
        attempts: 1,
        status: null,
        error: expect.stringContaining('BUILDSTORY_WEBHOOK_URL'),
      }),
    ]);
  });
});
