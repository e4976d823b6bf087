/**
 * Starting a run from the API, once per Idempotency-Key. Temporal holds the state, so it holds
 * across web replicas: the key (with the user, as for a form token) names the workflow id, whose
 * start policies (USE_EXISTING, REJECT_DUPLICATE: run-start.server.ts) let one run exist for it;
 * the run's memo keeps a hash of the request that named it, and a nonce of the request that
 * started it. Another body under the key is a conflict; the same body is the same run.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Budget } from '../../../contract/data';
import { getConfig } from './env.server';
import { API_REQUEST_MEMO_FIELD, startRun, type ApiRequestMemo } from './run-start.server';
import { uuidFrom } from './run-id';
import type { Owner } from './run-owner.server';
import { asUnreachable, bounded, getClient } from './temporal-client.server';

/** A start request, validated (StartRunBody) and with its limits held to the cap. */
export interface ApiStart {
  task: string;
  review: boolean;
  budget: Budget;
}

/** The key used with another request body than the one that named its run. */
export class IdempotencyConflictError extends Error {
  override name = 'IdempotencyConflictError';
  constructor(readonly workflowId: string) {
    super(`This Idempotency-Key was used with another request body (it named the run ${workflowId}). Use a new key for a new run.`);
  }
}

/** JSON with sorted keys: the same request hashes the same whatever its key order. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The hash of a request body as validated (the task after cleaning; the deployment's defaults not yet added). */
export function requestHash(body: unknown): string {
  return `sha256:${createHash('sha256').update(canonical(body)).digest('hex')}`;
}

/** The form-style token an API start's key stands for (startRun mixes in the owner). */
export function tokenForKey(scope: string, key: string): string {
  return uuidFrom(`api\0${scope}\0${key}`);
}

/**
 * Start the run, or find the one this key started. `created`: this request started it. Throws
 * IdempotencyConflictError for the key with another body, and what startRun throws.
 */
export async function startFromApi(
  start: ApiStart,
  owner: Owner,
  idempotency: { key: string; bodyHash: string } | null,
): Promise<{ workflowId: string; created: boolean }> {
  const options = { review: start.review, budget: start.budget };
  if (idempotency === null) return { ...(await startRun(randomUUID(), start.task, owner, options)), created: true };
  const mine: ApiRequestMemo = { bodyHash: idempotency.bodyHash, nonce: randomUUID() };
  const { workflowId } = await startRun(tokenForKey('start', idempotency.key), start.task, owner, { ...options, apiRequest: mine });
  const named = await apiRequestOf(workflowId);
  if (!named || named.bodyHash !== mine.bodyHash) throw new IdempotencyConflictError(workflowId);
  return { workflowId, created: named.nonce === mine.nonce };
}

/** The API request memo of the latest run of `workflowId` (the first run's: a reset keeps the memo). */
async function apiRequestOf(workflowId: string): Promise<ApiRequestMemo | null> {
  const { temporal } = getConfig();
  try {
    const client = await getClient();
    const description = await bounded(client, temporal.rpcTimeoutMs, () => client.workflow.getHandle(workflowId).describe());
    const memo = description.memo?.[API_REQUEST_MEMO_FIELD] as Partial<ApiRequestMemo> | undefined;
    return typeof memo?.bodyHash === 'string' && typeof memo.nonce === 'string' ? { bodyHash: memo.bodyHash, nonce: memo.nonce } : null;
  } catch (err) {
    throw asUnreachable(err);
  }
}
