/**
 * The run's story: an ordered, bounded list of events plus the state they add up to.
 *
 * Pure and deterministic (the clock is passed in), so the workflow can own it and tests can drive
 * it directly. Nothing here awaits or touches I/O.
 */
import {
  LIMITS,
  pendingSteps,
  type ActivityProgress,
  type ModelInfo,
  type Plan,
  type ProgressQueryArgs,
  type ProgressSnapshot,
  type RunStatus,
  type StepResult,
  type StepState,
  type StepStatus,
  type StoryEvent,
  type StoryEventBody,
  type StoryPage,
} from '../contract/data';

/** The story records at most this many events; beyond it only output chunks are dropped from the log. */
export const MAX_STORY_EVENTS = 5_000;

const LOST_ATTEMPT_REASON = 'The previous attempt stopped without reporting why (worker lost or timed out).';

export function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

interface StepProgressState extends StepState {
  /** Characters received for the current attempt, including any beyond the kept output. */
  received: number;
}

/** `after` and `limit` from untrusted query arguments: whole numbers, limit within 1..eventsPageMax. */
function pageBounds(args: ProgressQueryArgs): { after: number; limit: number } {
  const after = Math.max(0, Math.floor(Number(args.after ?? 0)) || 0);
  const limit = Math.min(
    LIMITS.eventsPageMax,
    Math.max(1, Math.floor(Number(args.limit ?? LIMITS.eventsPageDefault)) || LIMITS.eventsPageDefault),
  );
  return { after, limit };
}

export class Story {
  private readonly events: StoryEvent[] = [];
  private status: RunStatus = 'running';
  private readonly startedAt: string;
  private closedAt: string | null = null;
  private planning = { status: 'running' as StepStatus, attempt: 1 };
  private plan: Plan | null = null;
  private model: ModelInfo | null = null;
  private steps: StepProgressState[] = [];
  private result: string | null = null;
  private error: string | null = null;
  /** Reason reported by a failed attempt, keyed by `${stepIndex}:${attempt}`. */
  private readonly failures = new Map<string, string>();

  constructor(
    readonly task: string,
    private readonly now: () => Date,
  ) {
    this.startedAt = now().toISOString();
    this.record({ type: 'run.started', task });
  }

  get lastSeq(): number {
    return this.events.length === 0 ? 0 : this.events[this.events.length - 1].seq;
  }

  get isOpen(): boolean {
    return this.status === 'running';
  }

  private record(body: StoryEventBody): void {
    if (body.type === 'step.output' && this.events.length >= MAX_STORY_EVENTS) return;
    this.events.push({ ...body, seq: this.lastSeq + 1, at: this.now().toISOString() });
  }

  planReady(plan: Plan, model: ModelInfo): void {
    this.plan = plan;
    this.model = model;
    this.planning = { ...this.planning, status: 'completed' };
    this.steps = pendingSteps(plan).map((step) => ({ ...step, received: 0 }));
    this.record({ type: 'plan.ready', plan, model });
  }

  stepStarted(stepIndex: number): void {
    const step = this.steps[stepIndex];
    Object.assign(step, { status: 'running', attempt: 1, output: '', received: 0, startedAt: this.now().toISOString() });
    this.record({ type: 'step.started', stepIndex, title: step.title });
  }

  stepFinished(stepIndex: number, result: StepResult): void {
    const step = this.steps[stepIndex];
    const durationMs = this.now().getTime() - new Date(step.startedAt ?? this.startedAt).getTime();
    const output = clip(result.output, LIMITS.stepOutputMaxChars);
    // The activity sends its last output in the result, not in a signal (ProgressReporter.finish):
    // what the signals did not bring is recorded here, as output chunks before step.finished.
    if (output.length > step.output.length && output.startsWith(step.output)) {
      for (let i = step.output.length; i < output.length; i += LIMITS.chunkMaxChars) {
        this.record({ type: 'step.output', stepIndex, attempt: step.attempt, text: output.slice(i, i + LIMITS.chunkMaxChars) });
      }
    }
    // The activity's returned output is authoritative: it replaces whatever partial text arrived.
    Object.assign(step, {
      status: 'completed',
      output,
      truncated: result.truncated || result.output.length > LIMITS.stepOutputMaxChars,
      durationMs,
      usage: result.usage,
    });
    this.record({
      type: 'step.finished',
      stepIndex,
      durationMs,
      attempts: Math.max(step.attempt, 1),
      usage: result.usage,
      truncated: step.truncated,
    });
  }

  /** Apply progress reported by an activity. Stale, repeated or out-of-order items change nothing. */
  applyProgress(items: ActivityProgress[]): void {
    for (const item of items) {
      if (item.kind === 'attempt.failed') {
        this.failures.set(`${item.stepIndex}:${item.attempt}`, clip(item.reason, LIMITS.messageMaxChars));
      } else if (item.kind === 'attempt.started') {
        this.attemptStarted(item.stepIndex, item.attempt);
      } else {
        this.output(item);
      }
    }
  }

  private attemptStarted(stepIndex: number | null, attempt: number): void {
    const target = stepIndex === null ? this.planning : this.steps[stepIndex];
    if (!target || target.status !== 'running' || attempt <= target.attempt) return;
    const reason = this.failures.get(`${stepIndex}:${attempt - 1}`) ?? LOST_ATTEMPT_REASON;
    target.attempt = attempt;
    if (stepIndex !== null) Object.assign(this.steps[stepIndex], { output: '', received: 0, truncated: false });
    this.record({ type: 'step.retrying', stepIndex, attempt, reason });
  }

  private output(item: Extract<ActivityProgress, { kind: 'output' }>): void {
    const step = this.steps[item.stepIndex];
    if (!step || step.status !== 'running') return;
    // A chunk of a newer attempt whose start we never heard of starts that attempt now.
    if (item.attempt > step.attempt) this.attemptStarted(item.stepIndex, item.attempt);
    if (item.attempt !== step.attempt || item.offset !== step.received || item.text.length === 0) return;
    step.received += item.text.length;
    const room = LIMITS.stepOutputMaxChars - step.output.length;
    const kept = item.text.slice(0, Math.max(room, 0));
    if (kept.length < item.text.length) step.truncated = true;
    if (kept.length === 0) return;
    step.output += kept;
    this.record({ type: 'step.output', stepIndex: item.stepIndex, attempt: item.attempt, text: kept });
  }

  /** Earlier outputs for the next step, within LIMITS.digestMaxChars in all. */
  digest(): string {
    const done = this.steps.filter((step) => step.status === 'completed');
    if (done.length === 0) return '';
    const separator = '\n\n';
    // The separators count against the limit too.
    const budget = Math.floor((LIMITS.digestMaxChars - separator.length * (done.length - 1)) / done.length);
    return done
      .map((step) => clip(`Step ${step.index + 1} (${step.title}):\n${step.output}`, budget))
      .join(separator);
  }

  /** The final document: every step's output under its title. */
  assemble(): string {
    const parts = this.steps.map((step) => `## ${step.index + 1}. ${step.title}\n\n${step.output.trim()}`);
    const summary = this.plan?.summary ? `${this.plan.summary}\n\n` : '';
    return clip(`# ${clip(this.task.split('\n')[0], 200)}\n\n${summary}${parts.join('\n\n')}\n`, LIMITS.resultMaxChars);
  }

  completed(result: string): void {
    this.result = result;
    this.close('completed');
    this.record({ type: 'run.completed', result });
  }

  failed(error: string): void {
    this.error = clip(error, LIMITS.messageMaxChars);
    this.markActive('failed');
    this.close('failed');
    this.record({ type: 'run.failed', error: this.error });
  }

  cancelled(): void {
    this.markActive('cancelled');
    this.close('cancelled');
    this.record({ type: 'run.cancelled' });
  }

  private markActive(status: StepStatus): void {
    if (this.planning.status === 'running') this.planning.status = status;
    for (const step of this.steps) if (step.status === 'running') step.status = status;
  }

  private close(status: RunStatus): void {
    this.status = status;
    this.closedAt = this.now().toISOString();
  }

  /** The state and a page of events after `after`; `limit` is clamped to LIMITS.eventsPageMax. */
  snapshot(args: ProgressQueryArgs = {}): ProgressSnapshot {
    const { after, limit } = pageBounds(args);
    return this.page(after, limit);
  }

  /** A page of events after `after`, without the state (see storyQuery). */
  eventsPage(args: ProgressQueryArgs = {}): StoryPage {
    const { after, limit } = pageBounds(args);
    return this.eventsSlice(after, limit);
  }

  /** Every event, for the workflow's result: bounded by LIMITS and MAX_STORY_EVENTS, so it fits one payload. */
  fullSnapshot(): ProgressSnapshot {
    return this.page(0, this.events.length);
  }

  private eventsSlice(after: number, limit: number): StoryPage {
    // seq is dense (1..n), so the page starts at index `after`.
    const events = this.events.slice(after, after + limit);
    return { status: this.status, lastSeq: this.lastSeq, events, hasMore: after + events.length < this.events.length };
  }

  private page(after: number, limit: number): ProgressSnapshot {
    return {
      ...this.eventsSlice(after, limit),
      task: this.task,
      startedAt: this.startedAt,
      closedAt: this.closedAt,
      planning: { ...this.planning },
      plan: this.plan,
      model: this.model,
      steps: this.steps.map(({ received: _received, ...step }) => ({ ...step })),
      result: this.result,
      error: this.error,
    };
  }
}
