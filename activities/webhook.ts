/**
 * deliverWebhook: one attempt to POST a run's event to the deployment's webhook, signed per the
 * Standard Webhooks scheme (standardwebhooks: HMAC-SHA256 over `id.timestamp.body`). Temporal owns
 * the retries (the workflow's retry policy); each attempt signs again with its own timestamp and
 * the same webhook-id, so a receiver checks freshness and drops duplicates. The URL and the secret
 * come from the worker's configuration, never from the workflow.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Logger } from 'pino';
import { Webhook } from 'standardwebhooks';
import type { WebhookConfig } from '../config/webhooks';
import {
  WEBHOOK_NOT_CONFIGURED_ERROR_TYPE,
  WEBHOOK_REJECTED_ERROR_TYPE,
  type WebhookAttemptDetails,
  type WebhookDelivery,
  type WebhookRequest,
} from '../contract/data';

/** One attempt's HTTP request may take this long; the workflow's policy retries after it. */
export const WEBHOOK_REQUEST_TIMEOUT_MS = 10_000;

export interface WebhookDeps {
  webhook: WebhookConfig | null;
  logger: Logger;
  heartbeatIntervalMs?: number;
  requestTimeoutMs?: number;
}

/** The body: Standard Webhooks' `{type, timestamp, data}`, with ids, status, times and the run page's URL only. */
export function webhookBody(request: WebhookRequest): string {
  const { event, at, workflowId, runId, status, review, url } = request;
  return JSON.stringify({
    type: event,
    timestamp: at,
    data: { workflowId, runId, status, ...(review ? { review } : {}), ...(url ? { url } : {}) },
  });
}

export function createWebhookActivities(deps: WebhookDeps) {
  const heartbeatIntervalMs = deps.heartbeatIntervalMs ?? 1_000;
  const requestTimeoutMs = deps.requestTimeoutMs ?? WEBHOOK_REQUEST_TIMEOUT_MS;
  return {
    async deliverWebhook(request: WebhookRequest): Promise<WebhookDelivery> {
      const ctx = Context.current();
      const attempt = ctx.info.attempt;
      const log = deps.logger.child({
        workflowId: request.workflowId,
        runId: request.runId,
        activity: 'deliverWebhook',
        event: request.event,
        deliveryId: request.deliveryId,
        attempt,
      });
      const failure = (message: string, status: number | null, nonRetryable = false) =>
        ApplicationFailure.create({
          message,
          type: nonRetryable ? WEBHOOK_NOT_CONFIGURED_ERROR_TYPE : WEBHOOK_REJECTED_ERROR_TYPE,
          nonRetryable,
          details: [{ attempt, status } satisfies WebhookAttemptDetails],
        });
      if (!deps.webhook) {
        log.warn('webhook not delivered: this worker has no BUILDSTORY_WEBHOOK_URL');
        throw failure('No webhook is set on this worker (BUILDSTORY_WEBHOOK_URL and BUILDSTORY_WEBHOOK_SECRET).', null, true);
      }
      const body = webhookBody(request);
      // Signed per attempt: receivers refuse a timestamp more than five minutes off, and a retry may come later.
      const now = new Date();
      const headers = {
        'content-type': 'application/json',
        'user-agent': 'Buildstory-Webhooks/1',
        'webhook-id': request.deliveryId,
        'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
        'webhook-signature': new Webhook(deps.webhook.secret).sign(request.deliveryId, now, body),
      };
      ctx.heartbeat();
      const beat = setInterval(() => ctx.heartbeat(), heartbeatIntervalMs);
      let status: number;
      try {
        const response = await fetch(deps.webhook.url, {
          method: 'POST',
          headers,
          body,
          // A redirect is an answer, not a place to send the signed body on to.
          redirect: 'manual',
          signal: AbortSignal.any([ctx.cancellationSignal, AbortSignal.timeout(requestTimeoutMs)]),
        });
        status = response.status;
        await response.body?.cancel();
      } catch (err) {
        if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason ?? err;
        // The URL is not in the message (it may carry a token): the cause's code or name says enough.
        const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
        log.warn({ err: cause }, 'webhook not reached; Temporal retries');
        throw failure(`The webhook could not be reached (${cause}).`, null);
      } finally {
        clearInterval(beat);
      }
      if (status < 200 || status > 299) {
        log.warn({ status }, 'webhook refused the delivery; Temporal retries');
        throw failure(`The webhook answered HTTP ${status}.`, status);
      }
      log.info({ status }, 'webhook delivered');
      return { status, attempts: attempt };
    },
  };
}
