/**
 * Readiness for load balancers and orchestrators: 200 when Temporal answers for our namespace,
 * else 503 with the reason. Liveness, which never calls Temporal, is /healthz.
 */
import { getConfig } from '~/utils/env.server';
import { TemporalUnreachableError, bounded, getClient, isUnreachable } from '~/utils/temporal-client.server';

/** Probes give up after a second or a few: answer within that whatever Temporal does. */
const READY_TIMEOUT_MS = 2_000;
const GRPC_NOT_FOUND = 5;

function text(status: number, body: string): Response {
  return new Response(`${body}\n`, {
    status,
    headers: { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' },
  });
}

export async function loader() {
  const { temporal } = getConfig();
  const timeoutMs = Math.min(temporal.rpcTimeoutMs, READY_TIMEOUT_MS);
  const notReachable = text(503, `Temporal is not reachable at ${temporal.address}`);
  let timer: NodeJS.Timeout | undefined;
  try {
    // A connect that has not failed yet may still be under way: do not wait for all of it.
    const client = await Promise.race([
      getClient(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new TemporalUnreachableError(temporal.address)), timeoutMs);
      }),
    ]);
    await bounded(client, timeoutMs, () => client.workflowService.describeNamespace({ namespace: temporal.namespace }));
    return text(200, 'ready');
  } catch (err) {
    if (isUnreachable(err)) return notReachable;
    if ((err as { code?: unknown }).code === GRPC_NOT_FOUND) {
      return text(503, `Temporal at ${temporal.address} has no namespace ${temporal.namespace}`);
    }
    return text(503, `Temporal at ${temporal.address} is not ready: ${(err as Error).message}`);
  } finally {
    clearTimeout(timer);
  }
}
