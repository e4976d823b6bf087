/**
 * The run page's state: a ProgressSnapshot kept current by applying story events as they stream.
 * Pure, for the browser and the server alike. Events are keyed by sequence number: one already
 * applied is ignored, so a replayed or duplicated event changes nothing.
 */
import { pendingSteps, type ProgressSnapshot, type StepState, type StoryEvent } from '../../../contract/data';

export type StoryView = ProgressSnapshot & {
  /** The run the events belong to; a reset or retry starts a new run whose seq begins again. */
  runId: string;
  /** Set when an event arrived after a gap: the page must reload the run to be complete. */
  gap: boolean;
};

export function emptyView(runId: string, task: string, startedAt: string): StoryView {
  return {
    runId,
    gap: false,
    status: 'running',
    task,
    startedAt,
    closedAt: null,
    planning: { status: 'running', attempt: 1 },
    plan: null,
    model: null,
    steps: [],
    result: null,
    error: null,
    lastSeq: 0,
    events: [],
    hasMore: false,
  };
}

function updateStep(view: StoryView, index: number, patch: (step: StepState) => Partial<StepState>): StepState[] {
  return view.steps.map((step) => (step.index === index ? { ...step, ...patch(step) } : step));
}

function markOpen(view: StoryView, status: StepState['status']) {
  return {
    planning: view.planning.status === 'running' ? { ...view.planning, status } : view.planning,
    steps: view.steps.map((step) => (step.status === 'running' ? { ...step, status } : step)),
  };
}

export function applyEvent(view: StoryView, event: StoryEvent): StoryView {
  if (event.seq <= view.lastSeq) return view;
  if (event.seq !== view.lastSeq + 1) return { ...view, gap: true };
  // Output chunks live on in their step's output; the event list keeps the rest.
  const events = event.type === 'step.output' ? view.events : [...view.events, event];
  const next: StoryView = { ...view, lastSeq: event.seq, events };
  switch (event.type) {
    case 'run.started':
      return { ...next, task: event.task, startedAt: event.at };
    case 'plan.ready':
      return {
        ...next,
        plan: event.plan,
        model: event.model,
        planning: { ...view.planning, status: 'completed' },
        steps: pendingSteps(event.plan),
      };
    case 'step.started':
      return { ...next, steps: updateStep(view, event.stepIndex, () => ({ status: 'running', attempt: 1, output: '', startedAt: event.at })) };
    case 'step.output':
      return {
        ...next,
        steps: updateStep(view, event.stepIndex, (step) =>
          event.attempt === step.attempt ? { output: step.output + event.text } : {},
        ),
      };
    case 'step.retrying':
      if (event.stepIndex === null) return { ...next, planning: { ...view.planning, attempt: event.attempt } };
      return { ...next, steps: updateStep(view, event.stepIndex, () => ({ attempt: event.attempt, output: '', truncated: false })) };
    case 'step.finished':
      return {
        ...next,
        steps: updateStep(view, event.stepIndex, () => ({
          status: 'completed',
          durationMs: event.durationMs,
          attempt: event.attempts,
          usage: event.usage,
          truncated: event.truncated,
        })),
      };
    case 'run.completed':
      return { ...next, status: 'completed', result: event.result, closedAt: event.at };
    case 'run.failed':
      return { ...next, ...markOpen(view, 'failed'), status: 'failed', error: event.error, closedAt: event.at };
    case 'run.cancelled':
      return { ...next, ...markOpen(view, 'cancelled'), status: 'cancelled', closedAt: event.at };
    default:
      return next;
  }
}

/** The SSE event id: names the run and the sequence number. */
export function eventId(runId: string, seq: number): string {
  return `${runId}:${seq}`;
}

/** Parses `runId:seq`; null when malformed. */
export function parseEventId(value: string): { runId: string; seq: number } | null {
  const match = /^([0-9a-zA-Z-]{1,64}):(\d{1,9})$/.exec(value.trim());
  return match ? { runId: match[1], seq: Number(match[2]) } : null;
}
