/** The list of recent runs, from Temporal's visibility store. */
import type { Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
// Types only: the package is CommonJS without named ESM exports.
import type { temporal as proto } from '@temporalio/proto';
import { PARENT_SEARCH_ATTRIBUTE, REVIEW_STATES, STATE_SEARCH_ATTRIBUTE, WORKFLOW_NAME, type Spend } from '../../../contract/data';
import { OWNER_SEARCH_ATTRIBUTE } from '../../../config';
import { getConfig } from './env.server';
import { log } from './log.server';
import { MissingOwnerAttributeError, OWNER_PATTERN, isMissingOwnerAttribute, type Owner } from './run-owner.server';
import { RUN_ID_PATTERN } from './run-id';
import { isRunListStatus, temporalStatusName, type RunListStatus, type TemporalStatus } from './run-status';
import { bounded, decodePayload, getClient, isUnreachable } from './temporal-client.server';
import { tsToMs } from './timestamp';

/** Runs per page of the list. */
const LIST_PAGE_SIZE_DEFAULT = 20;
const LIST_PAGE_SIZE_MAX = 100;

export interface RunSummary {
  workflowId: string;
  runId: string;
  status: TemporalStatus;
  /** Where the run stands as to reviews (its BuildstoryState search attribute, REVIEW_STATES); null when it never had one. */
  reviewState: string | null;
  /** For a re-run: the step (1-based) it ran from, as its memo says. */
  fromStep: number | null;
  /** The start of the task (from the run's memo); null for runs started without one. */
  task: string | null;
  /** ISO times. */
  startTime: string;
  closeTime: string | null;
  /** Null while the run is open. */
  durationMs: number | null;
  /** What the run has spent so far, from its memo (after each step); null before its first step, or for older runs. */
  spend: Spend | null;
}

export type RunList = { runs: RunSummary[]; nextCursor: string | null } | { unreachable: true; address: string };

/** The list's cursor is stale or was not made by us. */
export class InvalidCursorError extends Error {
  override name = 'InvalidCursorError';
  constructor() {
    super('This page of the list is no longer available.');
  }
}

const CURSOR = /^[A-Za-z0-9_-]{1,4096}$/;

/**
 * Recent runs from Temporal's visibility store, newest first (open runs lead). `cursor` is the
 * previous page's `nextCursor`. A run reset into a new run is listed once, as its latest run.
 * With an `owner`, only the runs they started. Throws InvalidCursorError for a cursor the server
 * does not accept.
 */
export async function listRuns(options: { owner: Owner; status?: RunListStatus; cursor?: string; pageSize?: number }): Promise<RunList> {
  const { temporal } = getConfig();
  const unreachable = { unreachable: true, address: temporal.address } as const;
  if (options.status !== undefined && !isRunListStatus(options.status)) throw new TypeError(`Unknown run status ${options.status}`);
  if (options.cursor !== undefined && !CURSOR.test(options.cursor)) throw new InvalidCursorError();
  const pageSize = Math.min(Math.max(Math.trunc(options.pageSize ?? LIST_PAGE_SIZE_DEFAULT), 1), LIST_PAGE_SIZE_MAX);
  if (options.owner !== null && !OWNER_PATTERN.test(options.owner)) throw new TypeError('Bad owner name.');
  let query = `WorkflowType = '${WORKFLOW_NAME}'`;
  if (options.status) query += ` AND ${statusQuery(options.status)}`;
  if (options.owner !== null) query += ` AND ${OWNER_SEARCH_ATTRIBUTE} = '${options.owner}'`;

  let client: Client;
  try {
    client = await getClient();
  } catch {
    return unreachable;
  }
  try {
    const response = await bounded(client, temporal.rpcTimeoutMs, () =>
      client.workflowService.listWorkflowExecutions({
        namespace: temporal.namespace,
        pageSize,
        query,
        nextPageToken: options.cursor ? Buffer.from(options.cursor, 'base64url') : undefined,
      }),
    );
    const seen = new Set<string>();
    const runs: RunSummary[] = [];
    for (const info of response.executions) {
      const summary = await toSummary(client, info);
      // Ordered open first, then by close time: the first row of a workflow id is its latest run.
      if (!summary || seen.has(summary.workflowId)) continue;
      seen.add(summary.workflowId);
      runs.push(summary);
    }
    const token = response.nextPageToken;
    return { runs, nextCursor: token && token.length > 0 ? Buffer.from(token).toString('base64url') : null };
  } catch (err) {
    // A token the server cannot parse fails as UNKNOWN, which the client retries until the
    // deadline: with a cursor, any failure blames the cursor (the caller retries without it).
    if (options.owner !== null && isMissingOwnerAttribute(err)) throw new MissingOwnerAttributeError(temporal.namespace);
    if (options.cursor) throw new InvalidCursorError();
    if (isUnreachable(err)) return unreachable;
    throw err;
  }
}

/** The visibility query of a list filter. */
function statusQuery(status: RunListStatus): string {
  if (status === 'WaitingForReview') return `ExecutionStatus = 'Running' AND ${STATE_SEARCH_ATTRIBUTE} = '${REVIEW_STATES.waiting}'`;
  if (status === 'Queued') return `ExecutionStatus = 'Running' AND ${STATE_SEARCH_ATTRIBUTE} = '${REVIEW_STATES.queued}'`;
  return `ExecutionStatus = '${status}'`;
}

/** Re-runs listed on their parent's page; more are rare, and the Temporal UI lists them all. */
const RERUNS_MAX = 20;

/**
 * The re-runs of `workflowId` (its BuildstoryParent children), newest first, the owner's only
 * with access control on: one list call. Empty when they cannot be listed: the parent's page
 * shows without them.
 */
export async function listReruns(workflowId: string, owner: Owner): Promise<RunSummary[]> {
  if (!RUN_ID_PATTERN.test(workflowId) || (owner !== null && !OWNER_PATTERN.test(owner))) return [];
  const { temporal } = getConfig();
  let query = `WorkflowType = '${WORKFLOW_NAME}' AND ${PARENT_SEARCH_ATTRIBUTE} = '${workflowId}'`;
  if (owner !== null) query += ` AND ${OWNER_SEARCH_ATTRIBUTE} = '${owner}'`;
  try {
    const client = await getClient();
    const response = await bounded(client, temporal.rpcTimeoutMs, () =>
      client.workflowService.listWorkflowExecutions({ namespace: temporal.namespace, pageSize: RERUNS_MAX, query }),
    );
    const runs: RunSummary[] = [];
    const seen = new Set<string>();
    for (const info of response.executions) {
      const summary = await toSummary(client, info);
      if (!summary || seen.has(summary.workflowId)) continue;
      seen.add(summary.workflowId);
      runs.push(summary);
    }
    return runs;
  } catch (err) {
    log.warn({ err, workflowId }, 'could not list the re-runs');
    return [];
  }
}

/** A Keyword search attribute's value from visibility; null when absent or not a string. */
function keyword(info: proto.api.workflow.v1.IWorkflowExecutionInfo, name: string): string | null {
  const payload = info.searchAttributes?.indexedFields?.[name];
  if (!payload) return null;
  try {
    const value = defaultPayloadConverter.fromPayload<unknown>(payload);
    return typeof value === 'string' ? value : null;
  } catch {
    return null;
  }
}

async function toSummary(client: Client, info: proto.api.workflow.v1.IWorkflowExecutionInfo): Promise<RunSummary | null> {
  const workflowId = info.execution?.workflowId;
  const runId = info.execution?.runId;
  const startMs = tsToMs(info.startTime);
  if (!workflowId || !runId || startMs === null) return null;
  const closeMs = tsToMs(info.closeTime);
  let task: string | null = null;
  let fromStep: number | null = null;
  let spend: Spend | null = null;
  const { task: memoTask, fromStep: memoFromStep, spend: memoSpend } = info.memo?.fields ?? {};
  try {
    if (memoTask) {
      const value = await decodePayload<unknown>(client, memoTask);
      if (typeof value === 'string') task = value;
    }
    if (memoFromStep) {
      const value = await decodePayload<unknown>(client, memoFromStep);
      if (typeof value === 'number' && Number.isInteger(value)) fromStep = value;
    }
    if (memoSpend) spend = asSpend(await decodePayload<unknown>(client, memoSpend));
  } catch (err) {
    log.warn({ err, workflowId }, 'could not decode the memo');
  }
  return {
    workflowId,
    runId,
    status: temporalStatusName(info.status),
    reviewState: keyword(info, STATE_SEARCH_ATTRIBUTE),
    fromStep,
    task,
    startTime: new Date(startMs).toISOString(),
    closeTime: closeMs === null ? null : new Date(closeMs).toISOString(),
    durationMs: closeMs === null ? null : Math.max(closeMs - startMs, 0),
    spend,
  };
}

/** A memo's spend, if it has the shape the workflow writes. */
function asSpend(value: unknown): Spend | null {
  const v = value as Partial<Spend> | null;
  if (!v || typeof v.tokens !== 'number' || typeof v.cost !== 'number' || typeof v.unpriced !== 'number') return null;
  return { tokens: v.tokens, cost: v.cost, unpriced: v.unpriced, estimated: v.estimated === true };
}

/** Runs read to add up a day's spend: ten pages of a hundred; more in a day is noted in the answer. */
const SPEND_PAGES_MAX = 10;
const SPEND_CACHE_MS = 2_000;
const spendCache = new Map<string, { at: number; value: Promise<SpendToday> }>();

export interface SpendToday {
  /** Since midnight UTC. */
  since: string;
  spend: Spend;
  runs: number;
  /** More runs than were read: the figures are a floor. */
  partial: boolean;
}

/**
 * What `owner`'s runs (everyone's without access control) started since midnight UTC have spent,
 * from their memos (each run's spend after its latest step): a few list calls, cached for 2 s
 * unless `fresh` (the daily cap's check). Null when Temporal cannot be reached.
 */
export async function spendToday(owner: Owner, options: { now?: number; fresh?: boolean } = {}): Promise<SpendToday | null> {
  const now = options.now ?? Date.now();
  if (owner !== null && !OWNER_PATTERN.test(owner)) throw new TypeError('Bad owner name.');
  const since = new Date(Math.floor(now / 86_400_000) * 86_400_000).toISOString();
  const key = `${owner ?? ''}\0${since}`;
  const cached = spendCache.get(key);
  if (cached && !options.fresh && now - cached.at < SPEND_CACHE_MS) return cached.value.catch(() => null);
  const value = addUpSpend(owner, since);
  spendCache.set(key, { at: now, value });
  if (spendCache.size > 1_000) spendCache.delete(spendCache.keys().next().value!);
  return value.catch((err: unknown) => {
    spendCache.delete(key);
    if (isUnreachable(err)) return null;
    throw err;
  });
}

async function addUpSpend(owner: Owner, since: string): Promise<SpendToday> {
  const { temporal } = getConfig();
  let query = `WorkflowType = '${WORKFLOW_NAME}' AND StartTime >= '${since}'`;
  if (owner !== null) query += ` AND ${OWNER_SEARCH_ATTRIBUTE} = '${owner}'`;
  const client = await getClient();
  // Per workflow id, the run that spent most: a reset run's story replays its kept steps, so its
  // spend includes its predecessor's up to the reset point (what the failed attempt spent after it
  // is not counted: the figure is a floor).
  const byWorkflow = new Map<string, Spend>();
  let nextPageToken: Uint8Array | undefined;
  let pages = 0;
  do {
    const response = await bounded(client, temporal.rpcTimeoutMs, () =>
      client.workflowService.listWorkflowExecutions({ namespace: temporal.namespace, pageSize: LIST_PAGE_SIZE_MAX, query, nextPageToken }),
    );
    for (const info of response.executions) {
      const workflowId = info.execution?.workflowId;
      const field = info.memo?.fields?.spend;
      if (!workflowId || !field) continue;
      const spend = asSpend(await decodePayload<unknown>(client, field).catch(() => null));
      const earlier = byWorkflow.get(workflowId);
      if (spend && (!earlier || spend.tokens > earlier.tokens)) byWorkflow.set(workflowId, spend);
    }
    nextPageToken = response.nextPageToken?.length ? response.nextPageToken : undefined;
    pages += 1;
  } while (nextPageToken && pages < SPEND_PAGES_MAX);
  const total: Spend = { tokens: 0, cost: 0, unpriced: 0, estimated: false };
  for (const spend of byWorkflow.values()) {
    total.tokens += spend.tokens;
    total.cost += spend.cost;
    total.unpriced += spend.unpriced;
    total.estimated ||= spend.estimated;
  }
  return { since, spend: total, runs: byWorkflow.size, partial: nextPageToken !== undefined };
}
