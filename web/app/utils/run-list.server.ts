/** The list of recent runs, from Temporal's visibility store. */
import type { Client } from '@temporalio/client';
// Types only: the package is CommonJS without named ESM exports.
import type { temporal as proto } from '@temporalio/proto';
import { WORKFLOW_NAME } from '../../../contract/data';
import { OWNER_SEARCH_ATTRIBUTE } from '../../../config';
import { getConfig } from './env.server';
import { log } from './log.server';
import { MissingOwnerAttributeError, OWNER_PATTERN, isMissingOwnerAttribute, type Owner } from './run-owner.server';
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
  /** The start of the task (from the run's memo); null for runs started without one. */
  task: string | null;
  /** ISO times. */
  startTime: string;
  closeTime: string | null;
  /** Null while the run is open. */
  durationMs: number | null;
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
  if (options.status) query += ` AND ExecutionStatus = '${options.status}'`;
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

async function toSummary(client: Client, info: proto.api.workflow.v1.IWorkflowExecutionInfo): Promise<RunSummary | null> {
  const workflowId = info.execution?.workflowId;
  const runId = info.execution?.runId;
  const startMs = tsToMs(info.startTime);
  if (!workflowId || !runId || startMs === null) return null;
  const closeMs = tsToMs(info.closeTime);
  let task: string | null = null;
  const memoTask = info.memo?.fields?.task;
  if (memoTask) {
    try {
      const value = await decodePayload<unknown>(client, memoTask);
      if (typeof value === 'string') task = value;
    } catch (err) {
      log.warn({ err, workflowId }, 'could not decode the memo');
    }
  }
  return {
    workflowId,
    runId,
    status: temporalStatusName(info.status),
    task,
    startTime: new Date(startMs).toISOString(),
    closeTime: closeMs === null ? null : new Date(closeMs).toISOString(),
    durationMs: closeMs === null ? null : Math.max(closeMs - startMs, 0),
  };
}
