/**
 * deliverWebhook alone, in MockActivityEnvironment, against real HTTP servers: what one attempt
 * sends and how it fails. The retries themselves are Temporal's (workflows/webhooks.test.ts).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { WEBHOOK_REJECTED_ERROR_TYPE, webhookDeliveryId, type WebhookRequest } from '../contract/data';
import { startWebhookReceiver, type WebhookReceiver } from '../tests/fixtures/webhook-receiver';
import { testLogger } from '../tests/setup/temporal';
import { createWebhookActivities, webhookBody } from './webhook';

const request: WebhookRequest = {
  event: 'run.ended',
  deliveryId: webhookDeliveryId('run-1', 'run.ended'),
  workflowId: 'task-1',
  runId: 'run-1',
  status: 'completed',
  at: '2026-12-01T10:00:00.000Z',
};

let receiver: WebhookReceiver;
beforeEach(async () => {
  receiver = await startWebhookReceiver();
});
afterEach(() => receiver.close());

function attempt(url: string, number = 1, requestTimeoutMs?: number): Promise<unknown> {
  const { deliverWebhook } = createWebhookActivities({
    webhook: { url, secret: receiver.secret, display: 'test' },
    logger: testLogger,
    heartbeatIntervalMs: 20,
    requestTimeoutMs,
  });
  return new MockActivityEnvironment({ attempt: number, activityType: 'deliverWebhook' }).run(deliverWebhook, request);
}

async function failure(promise: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await promise.then(
    () => new Error('expected the attempt to fail'),
    (e: unknown) => e,
  );
  if (!(err instanceof ApplicationFailure)) throw err;
  return err;
}

/** A server that answers every request with `status`, or never answers. */
async function answering(status: number | 'never'): Promise<{ url: string; server: Server }> {
  const server = createServer((_req, res) => {
    if (status !== 'never') res.writeHead(status, { location: 'http://127.0.0.1:1/elsewhere' }).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook?token=t0k3n`, server };
}

async function closed(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

test('one attempt: the body has ids, status and time; the headers verify with the library; the attempt is in the result', async () => {
  expect(await attempt(receiver.url, 4)).toEqual({ status: 204, attempts: 4 });
  const [delivery] = receiver.deliveries;
  expect(delivery.id).toBe('bs_run-1_ended');
  expect(delivery.verified).toEqual({
    type: 'run.ended',
    timestamp: '2026-12-01T10:00:00.000Z',
    data: { workflowId: 'task-1', runId: 'run-1', status: 'completed' },
  });
  expect(Math.abs(Number(delivery.timestamp) - Date.now() / 1000)).toBeLessThan(5);
});

test("with the app's public URL known, the body links to the run's page; never the task", () => {
  const body = JSON.parse(webhookBody({ ...request, url: 'https://buildstory.example/runs/task-1' })) as { data: Record<string, unknown> };
  expect(body.data).toEqual({ workflowId: 'task-1', runId: 'run-1', status: 'completed', url: 'https://buildstory.example/runs/task-1' });
});

test('a refusal, a redirect, no answer in time and no server at all each fail the attempt, retryably, without the URL in the message', async () => {
  receiver.refuse(1);
  const refused = await failure(attempt(receiver.url, 2));
  expect(refused).toMatchObject({ type: WEBHOOK_REJECTED_ERROR_TYPE, nonRetryable: false, message: 'The webhook answered HTTP 500.' });
  expect(refused.details).toEqual([{ attempt: 2, status: 500 }]);

  const redirect = await answering(302);
  const moved = await failure(attempt(redirect.url));
  expect(moved.message).toBe('The webhook answered HTTP 302.');
  await closed(redirect.server);

  const silent = await answering('never');
  const late = await failure(attempt(silent.url, 1, 300));
  expect(late).toMatchObject({ nonRetryable: false, message: 'The webhook could not be reached (TimeoutError).' });
  expect(late.details).toEqual([{ attempt: 1, status: null }]);
  await closed(silent.server);

  const nobody = await failure(attempt(silent.url));
  expect(nobody.message).toBe('The webhook could not be reached (ECONNREFUSED).');
  for (const err of [refused, moved, late, nobody]) expect(err.message).not.toMatch(/t0k3n|127\.0\.0\.1|hooks/);
});

test('no webhook on this worker: a failure Temporal does not retry', async () => {
  const { deliverWebhook } = createWebhookActivities({ webhook: null, logger: testLogger });
  const err = await failure(new MockActivityEnvironment().run(deliverWebhook, request));
  expect(err).toMatchObject({ type: 'WebhookNotConfigured', nonRetryable: true });
  expect(err.message).toContain('BUILDSTORY_WEBHOOK_URL');
});
