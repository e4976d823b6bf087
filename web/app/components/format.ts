/** Formatting shared by the run page's components; deterministic so server and browser agree. */

export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '';
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(1)} s`;
  const minutes = Math.floor(ms / 60_000);
  const seconds = Math.round((ms % 60_000) / 1_000);
  return `${minutes} min ${seconds} s`;
}

/** Time of an event relative to the run's start, e.g. "+3.2 s". */
export function formatOffset(at: string, startedAt: string): string {
  const ms = Date.parse(at) - Date.parse(startedAt);
  return Number.isFinite(ms) ? `+${formatDuration(Math.max(ms, 0))}` : at;
}

export function formatTokens(total: number | null | undefined): string {
  return typeof total === 'number' ? `${total.toLocaleString('en-US')} tokens` : '';
}

export function stepLabel(stepIndex: number | null): string {
  return stepIndex === null ? 'Planning' : `Step ${stepIndex + 1}`;
}

/** US dollars: four decimals under a cent, two above. */
export function formatCost(cost: number): string {
  return `$${cost < 0.01 ? cost.toFixed(4) : cost.toFixed(2)}`;
}

/** A step's cost: dollars, "no price" when its model has none, nothing before it is known. */
export function stepCost(step: { cost: number | null; usage: unknown }): string {
  if (step.cost !== null) return formatCost(step.cost);
  return step.usage ? 'no price' : '';
}
