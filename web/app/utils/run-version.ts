/**
 * Which build a run is pinned to (Temporal Worker Versioning), and how a reset keeps the new run
 * there. Temporal 1.29 sends a run reset to its first workflow task (a planning retry) to the task
 * queue's current version: after a rolling deploy, another build. (Reset later, after a workflow
 * task of its version completed, it stays; the pin makes that hold in every case.) Unversioned
 * runs have no version and are reset as they always were.
 */
// Types only: the package is CommonJS without named ESM exports, so its enums are spelled as numbers below.
import type { temporal as proto } from '@temporalio/proto';

export interface DeploymentVersion {
  deploymentName: string;
  buildId: string;
}

// proto.api.enums.v1.VersioningBehavior.VERSIONING_BEHAVIOR_PINNED and
// proto.api.workflow.v1.VersioningOverride.PinnedOverrideBehavior.PINNED_OVERRIDE_BEHAVIOR_PINNED.
const VERSIONING_BEHAVIOR_PINNED = 1 as proto.api.enums.v1.VersioningBehavior;
const PINNED_OVERRIDE_BEHAVIOR_PINNED = 1 as proto.api.workflow.v1.VersioningOverride.PinnedOverrideBehavior;

function complete(version: proto.api.deployment.v1.IWorkerDeploymentVersion | null | undefined): DeploymentVersion | null {
  return version?.deploymentName && version.buildId ? { deploymentName: version.deploymentName, buildId: version.buildId } : null;
}

/**
 * The version a run is pinned to, from its describe's versioningInfo: a pinned override (a run
 * retried before carries one) wins over the version its worker pinned it to; null when the run is
 * unversioned or auto-upgrading.
 */
export function pinnedVersionOf(info: proto.api.workflow.v1.IWorkflowExecutionVersioningInfo | null | undefined): DeploymentVersion | null {
  const override = complete(info?.versioningOverride?.pinned?.version);
  if (override) return override;
  return info?.behavior === VERSIONING_BEHAVIOR_PINNED ? complete(info.deploymentVersion) : null;
}

/**
 * The reset's post-reset operations: pin the new run to `version` (applied before its first
 * workflow task, so no worker of another build ever sees it). None for an unversioned run.
 */
export function pinAfterReset(version: DeploymentVersion | null): proto.api.workflow.v1.IPostResetOperation[] {
  if (!version) return [];
  return [
    {
      updateWorkflowOptions: {
        workflowExecutionOptions: { versioningOverride: { pinned: { behavior: PINNED_OVERRIDE_BEHAVIOR_PINNED, version } } },
        updateMask: { paths: ['versioning_override'] },
      },
    },
  ];
}
