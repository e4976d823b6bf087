/**
 * Owners: with access control on, a run records who started it in a Keyword search attribute, and
 * a user sees and acts on their own runs only. Any other run is "not found", so ids do not leak.
 */
import type { Client } from '@temporalio/client';
import { SearchAttributeType, defaultPayloadConverter, defineSearchAttributeKey } from '@temporalio/common';
import { status as Status } from '@grpc/grpc-js';
// Types only: the package is CommonJS without named ESM exports.
import type { temporal as proto } from '@temporalio/proto';
import { OWNER_SEARCH_ATTRIBUTE } from '../../../config';
import { getConfig } from './env.server';
import { RUN_ID_PATTERN } from './run-id';
import { temporalStatusName, type TemporalStatus } from './run-status';
import { workerMissing } from './task-tracker.server';
import { pinnedVersionOf, type DeploymentVersion } from './run-version';
import { bounded, grpcCode, message } from './temporal-client.server';

/** Who started a run, recorded when access control is on (see auth.server.ts). */
export const OWNER_KEY = defineSearchAttributeKey(OWNER_SEARCH_ATTRIBUTE, SearchAttributeType.KEYWORD);

/**
 * The `owner` argument below: the signed-in user, who sees and acts on their own runs only (any
 * other run is "not found", so ids do not leak); null when access control is off, meaning no
 * check and no owner recorded.
 */
export type Owner = string | null;

/** User names are checked at start (config/auth.ts); this keeps the visibility query safe regardless. */
export const OWNER_PATTERN = /^[A-Za-z0-9._@-]{1,64}$/;

/** Whether `owner` may see a run with these search attributes (from describeWorkflowExecution). */
function ownedBy(searchAttributes: proto.api.common.v1.ISearchAttributes | null | undefined, owner: Owner): boolean {
  if (owner === null) return true;
  const payload = searchAttributes?.indexedFields?.[OWNER_SEARCH_ATTRIBUTE];
  if (!payload) return false;
  try {
    // Search attributes skip the codecs (the server indexes them): the default converter reads them.
    return defaultPayloadConverter.fromPayload<unknown>(payload) === owner;
  } catch {
    return false;
  }
}

/** The namespace lacks the owner search attribute that access control needs. */
export class MissingOwnerAttributeError extends Error {
  override name = 'MissingOwnerAttributeError';
  constructor(namespace: string) {
    super(
      `Temporal's namespace ${namespace} has no search attribute ${OWNER_SEARCH_ATTRIBUTE}, which access control needs: ` +
        `temporal operator search-attribute create --name ${OWNER_SEARCH_ATTRIBUTE} --type Keyword --namespace ${namespace}`,
    );
  }
}

export function isMissingOwnerAttribute(err: unknown): boolean {
  return grpcCode(err) === Status.INVALID_ARGUMENT && message(err).includes(OWNER_SEARCH_ATTRIBUTE);
}

/**
 * The latest run of a workflow id if `owner` may see it (one describe), with the build it is
 * pinned to (Worker Versioning; null when unversioned), or null: no such run, a
 * malformed id, or someone else's run, which are all the same to the caller. Errors reaching
 * Temporal are thrown as they are.
 */
export async function describeOwnedRun(
  client: Client,
  workflowId: string,
  owner: Owner,
): Promise<{
  runId: string;
  status: TemporalStatus;
  pinnedVersion: DeploymentVersion | null;
  /** Work of the run has waited for a worker a while (workerMissing): read from the same describe. */
  waitsForWorker: boolean;
} | null> {
  if (!RUN_ID_PATTERN.test(workflowId)) return null;
  const { temporal } = getConfig();
  try {
    const description = await bounded(client, temporal.rpcTimeoutMs, () =>
      client.workflowService.describeWorkflowExecution({ namespace: temporal.namespace, execution: { workflowId } }),
    );
    const info = description.workflowExecutionInfo;
    if (!info?.execution?.runId || !ownedBy(info.searchAttributes, owner)) return null;
    return {
      runId: info.execution.runId,
      status: temporalStatusName(info.status),
      pinnedVersion: pinnedVersionOf(info.versioningInfo),
      waitsForWorker: workerMissing(description, Date.now()),
    };
  } catch (err) {
    if (grpcCode(err) === Status.NOT_FOUND) return null;
    throw err;
  }
}
