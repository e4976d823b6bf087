/**
 * The story's one reducer: events in, the state they add up to out. The workflow folds each event
 * as it records it (workflows/story.ts) and answers queries with the result; the run page folds
 * the events it streams (web/app/utils/story-view.ts). So both hold the same state by
 * construction, and a new event type is handled here, once.
 *
 * Pure: no clock, no I/O, nothing from Temporal; a state is never changed in place.
 */
import type { BudgetKind, Plan, StepState, StepStatus, StoryEvent, StoryState, TokenUsage } from './data';

/** "Budget reached: tokens (10,234 of 10,000)", for people. */
export function describeBudget(kind: BudgetKind, used: number, limit: number): string {
  const show = (n: number) =>
    kind === 'cost'
      ? `$${n.toFixed(n < 1 ? 4 : 2)}`
      : kind === 'timeMs'
        ? `${Math.round(n / 1000).toLocaleString('en-US')} s`
        : n.toLocaleString('en-US');
  const name = kind === 'timeMs' ? 'time' : kind;
  return `Budget reached: ${name} (${show(used)} of ${show(limit)})`;
}

/** A story before its first event; `run.started` sets the task and the start time. */
export function emptyStory(task = '', startedAt = ''): StoryState {
  return {
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
    review: null,
    queue: null,
    parent: null,
    spend: { tokens: 0, cost: 0, unpriced: 0, estimated: false },
    lastSeq: 0,
  };
}

/** The steps of a plan that has just been made: all pending. */
function pendingSteps(plan: Plan): StepState[] {
  return plan.steps.map((step, index) => ({
    index,
    title: step.title,
    instructions: step.instructions,
    status: 'pending',
    attempt: 0,
    output: '',
    truncated: false,
    startedAt: null,
    durationMs: null,
    usage: null,
    cost: null,
    ask: false,
    kept: false,
  }));
}

/** The steps after an edit: the locked ones (done, or kept) stay as they are; the rest are the edit's, pending. */
function editedSteps(state: StoryState, plan: Plan, ask: number[]): StepState[] {
  const fresh = pendingSteps(plan);
  return fresh.map((step, index) => {
    const old = state.steps[index];
    const unchanged = old && old.status !== 'pending' && old.title === step.title && old.instructions === step.instructions;
    return unchanged ? old : { ...step, ask: ask.includes(index) };
  });
}

const who = (by: string | null) => by ?? 'someone';

/** The spend after one more call with this usage and cost. */
function spent(spend: StoryState['spend'], usage: TokenUsage | null | undefined, cost: number | null | undefined): StoryState['spend'] {
  if (!usage) return spend;
  return {
    tokens: spend.tokens + usage.totalTokens,
    cost: spend.cost + (cost ?? 0),
    unpriced: spend.unpriced + (cost === null || cost === undefined ? 1 : 0),
    estimated: spend.estimated || usage.estimated === true,
  };
}

function updateStep(steps: StepState[], index: number, patch: (step: StepState) => Partial<StepState>): StepState[] {
  return steps.map((step) => (step.index === index ? { ...step, ...patch(step) } : step));
}

/** true when every verified step's last round passed, false when one did not, null when none was verified. */
function verifiedOf(steps: StepState[]): boolean | null {
  const verified = steps.filter((step) => step.verification && step.verification.status !== 'running');
  return verified.length === 0 ? null : verified.every((step) => step.verification!.status === 'passed');
}

/** A run that ends while planning or a step is under way ends them too. */
function endActive(state: StoryState, status: StepStatus): Pick<StoryState, 'planning' | 'steps'> {
  return {
    planning: state.planning.status === 'running' ? { ...state.planning, status } : state.planning,
    steps: state.steps.map((step) => (step.status === 'running' ? { ...step, status } : step)),
  };
}

/**
 * The state after one more event. Only the next event in sequence (seq = lastSeq + 1) applies:
 * any other leaves the state as it is, so an event seen twice changes nothing. Fields beyond
 * StoryState (the page's run id, say) are kept.
 */
export function foldStoryEvent<S extends StoryState>(state: S, event: StoryEvent): S {
  if (event.seq !== state.lastSeq + 1) return state;
  const next = { ...state, lastSeq: event.seq };
  switch (event.type) {
    case 'run.started':
      return { ...next, task: event.task, startedAt: event.at, parent: event.parent ?? null };
    case 'run.queued':
      return { ...next, queue: { since: event.at } };
    case 'run.dequeued':
      return { ...next, queue: null };
    case 'plan.ready':
      return {
        ...next,
        plan: event.plan,
        model: event.model,
        planning: { ...state.planning, status: 'completed' },
        steps: pendingSteps(event.plan),
        spend: spent(state.spend, event.usage, event.cost),
      };
    case 'step.kept':
      return {
        ...next,
        steps: updateStep(state.steps, event.stepIndex, () => ({
          status: 'completed',
          kept: true,
          output: event.output,
          truncated: event.truncated,
          usage: event.usage,
        })),
      };
    case 'review.waiting':
      return {
        ...next,
        // A budget stop ends what was under way (a step the time limit cancelled runs again if the owner goes on).
        ...(event.stage.kind === 'budget' ? endActive(state, 'cancelled') : {}),
        review: { revision: event.revision, stage: event.stage, since: event.at, deadline: event.deadline },
      };
    case 'plan.edited':
      return { ...next, plan: event.plan, steps: editedSteps(state, event.plan, event.ask) };
    case 'review.approved':
      return { ...next, review: null };
    case 'review.rejected': {
      // At a budget stop, rejecting is stopping the run where the budget ran out.
      const stop = state.review?.stage.kind === 'budget' ? state.review.stage : null;
      return {
        ...next,
        ...endActive(state, 'cancelled'),
        review: null,
        status: stop ? 'budget-reached' : 'rejected',
        error: stop
          ? `${describeBudget(stop.budget, stop.used, stop.limit)}: stopped by ${who(event.by)}: ${event.reason}`
          : `Rejected by ${who(event.by)}: ${event.reason}`,
        closedAt: event.at,
      };
    }
    case 'review.expired': {
      const stop = state.review?.stage.kind === 'budget' ? state.review.stage : null;
      return {
        ...next,
        ...endActive(state, 'cancelled'),
        review: null,
        status: stop ? 'budget-reached' : 'expired',
        error: stop
          ? `${describeBudget(stop.budget, stop.used, stop.limit)}: nobody raised it in time.`
          : 'Nobody answered the review in time, so the run expired. Run the task again to get a new plan.',
        closedAt: event.at,
      };
    }
    case 'budget.raised':
      return next;
    case 'budget.reached':
      return {
        ...next,
        ...endActive(state, 'cancelled'),
        review: null,
        status: 'budget-reached',
        error: describeBudget(event.kind, event.used, event.limit),
        closedAt: event.at,
      };
    case 'step.started':
      return {
        ...next,
        steps: updateStep(state.steps, event.stepIndex, () => ({ status: 'running', attempt: 1, output: '', startedAt: event.at })),
      };
    case 'step.output':
      return {
        ...next,
        steps: updateStep(state.steps, event.stepIndex, (step) =>
          event.attempt !== step.attempt ? {} : { output: step.output + event.text, truncated: step.truncated || event.truncated === true },
        ),
      };
    case 'step.retrying':
      if (event.stepIndex === null) return { ...next, planning: { ...state.planning, attempt: event.attempt } };
      return { ...next, steps: updateStep(state.steps, event.stepIndex, () => ({ attempt: event.attempt, output: '', truncated: false })) };
    case 'step.finished':
      // The activity's result is authoritative: its output replaces the streamed one when it differs.
      return {
        ...next,
        steps: updateStep(state.steps, event.stepIndex, (step) => ({
          status: 'completed',
          attempt: event.attempts,
          output: event.output ?? step.output,
          truncated: event.truncated,
          durationMs: event.durationMs,
          usage: event.usage,
          cost: event.cost ?? null,
        })),
        spend: spent(state.spend, event.usage, event.cost),
      };
    case 'step.verifying':
      return {
        ...next,
        steps: updateStep(state.steps, event.stepIndex, (step) => ({
          verification: { round: event.round, status: 'running', report: step.verification?.report ?? null },
        })),
      };
    case 'step.verified': {
      const steps = updateStep(state.steps, event.stepIndex, () => ({
        verification: { round: event.report.round, status: event.report.verdict, report: event.report },
      }));
      return { ...next, steps, verified: verifiedOf(steps) };
    }
    case 'step.fixing':
      // The step is written again; its last report stays until the next round's.
      return {
        ...next,
        steps: updateStep(state.steps, event.stepIndex, () => ({
          status: 'running',
          attempt: 1,
          output: '',
          truncated: false,
          startedAt: event.at,
          durationMs: null,
        })),
      };
    case 'run.completed':
      return { ...next, status: 'completed', result: event.result, closedAt: event.at };
    case 'run.failed':
      return {
        ...next,
        ...endActive(state, 'failed'),
        review: null,
        queue: null,
        status: 'failed',
        error: event.error,
        closedAt: event.at,
      };
    case 'run.cancelled':
      return { ...next, ...endActive(state, 'cancelled'), review: null, queue: null, status: 'cancelled', closedAt: event.at };
    default:
      // webhook.delivered and webhook.failed: a delivery's outcome is told in the story and
      // changes nothing of the run (an ended run stays as it ended). So does an event type this
      // code does not know (from a newer workflow): counted, nothing else.
      return next;
  }
}
