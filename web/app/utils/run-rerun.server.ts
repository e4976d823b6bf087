/**
 * "Edit and re-run from step k": a new run with the plan of an earlier one, its steps before k
 * kept (their outputs are passed on, not recomputed: no model call for them) and the rest as the
 * person edited them. The outputs come from the earlier run's story as Temporal has it, read when
 * the re-run starts: never from the form.
 */
import { LIMITS, type PlanEdit, type RerunInput } from '../../../contract/data';
import { applyPlanEdit } from '../../../contract/plan-edit';
import { lastFrom } from './rerun-from';
import { loadRun, type RunView } from './run-read.server';
import { RunNotFoundError, RunStateConflictError } from './run-control.server';
import type { Owner } from './run-owner.server';
import { startRun } from './run-start.server';
import { TemporalUnreachableError } from './temporal-client.server';
import { getConfig } from './env.server';

/** The person's edit is not a plan (a 400): the message says what to fix. */
export class InvalidEditError extends Error {
  override name = 'InvalidEditError';
}

/** What the re-run form needs: the earlier run's plan and steps, and the steps a re-run may start from. */
export interface RerunSource {
  workflowId: string;
  runId: string;
  task: string;
  view: Extract<RunView, { kind: 'ok' }>;
  /** The last step (0-based) a re-run may start from: every step before it completed. */
  lastFrom: number;
}

/** The earlier run, if it can be re-run from a step: closed, with a plan. */
export async function loadRerunSource(workflowId: string, owner: Owner): Promise<RerunSource> {
  const view = await loadRun(workflowId, owner);
  if (view.kind === 'not-found') throw new RunNotFoundError(workflowId);
  if (view.kind === 'unreachable') throw new TemporalUnreachableError(view.address);
  if (view.temporalStatus === 'RUNNING') {
    throw new RunStateConflictError('The run is still going: re-run it from a step once it has ended (or cancel it first).');
  }
  const snapshot = view.snapshot;
  if (!snapshot?.plan || snapshot.steps.length === 0) {
    throw new RunStateConflictError('This run has no plan to re-run: it ended before planning finished. Run it again instead.');
  }
  return { workflowId, runId: view.runId, task: snapshot.task, view, lastFrom: lastFrom(snapshot.steps) };
}

/**
 * Start the re-run of `workflowId` from `fromStep` (0-based) with `edit` as the steps from there
 * on. `token` names the new run as the home form's does: the same token gives the same run.
 */
export async function startRerun(
  workflowId: string,
  owner: Owner,
  request: { token: string; fromStep: number; edit: PlanEdit; by: string | null },
): Promise<{ workflowId: string }> {
  const source = await loadRerunSource(workflowId, owner);
  const snapshot = source.view.snapshot!;
  const { fromStep } = request;
  if (!Number.isInteger(fromStep) || fromStep < 0 || fromStep > source.lastFrom) {
    throw new RunStateConflictError(
      `A re-run of this run can start from step 1 to step ${source.lastFrom + 1}: the steps before must have completed.`,
    );
  }
  const applied = applyPlanEdit(snapshot.plan!, request.edit, fromStep);
  if (!applied.ok) throw new InvalidEditError(applied.error);
  const rerun: RerunInput = {
    parent: { workflowId, runId: source.runId, fromStep },
    plan: snapshot.plan!,
    model: snapshot.model ?? { name: 'unknown', offline: false },
    // At most planMaxSteps × stepOutputMaxChars characters: far below Temporal's 2 MiB per payload.
    kept: snapshot.steps.slice(0, fromStep).map((step) => ({
      output: step.output.slice(0, LIMITS.stepOutputMaxChars),
      truncated: step.truncated,
      usage: step.usage,
    })),
    edit: request.edit,
    by: request.by,
  };
  // A re-run gets the deployment's default limits, as a new run from the form does.
  return startRun(request.token, source.task, owner, { rerun, budget: getConfig().budget.default });
}
