/** Where "Edit and re-run from step k" may start. Pure, for the run page and the server alike. */
import type { StepState } from '../../../contract/data';

/** The last step (0-based) a re-run may start from: any step up to the first one that did not complete. */
export function lastFrom(steps: StepState[]): number {
  const firstOpen = steps.findIndex((step) => step.status !== 'completed');
  return firstOpen === -1 ? steps.length - 1 : firstOpen;
}

/** The re-run page for starting from step `fromStep` (0-based). */
export function rerunHref(workflowId: string, fromStep: number): string {
  return `/runs/${encodeURIComponent(workflowId)}/rerun?from=${fromStep + 1}`;
}
