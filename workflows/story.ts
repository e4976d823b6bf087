/**
 * The run's story: an ordered, bounded list of events plus the state they add up to. The state is
 * the events folded by the shared reducer (contract/story-reducer.ts), the one the run page folds
 * too; this class decides which events to record, from the workflow's calls and the activities'
 * progress, with bookkeeping of its own that the events do not carry.
 *
 * Pure and deterministic (the clock is passed in), so the workflow can own it and tests can drive
 * it directly. Nothing here awaits or touches I/O.
 */
import {
  LIMITS,
  cleanOutput,
  costOf,
  type TokenUsage,
  type ActivityProgress,
  type Budget,
  type BudgetKind,
  type KeptStep,
  type ModelInfo,
  type Plan,
  type ReviewOutcome,
  type ReviewRequest,
  type ReviewStage,
  type RunLink,
  type SlotGrant,
  type ProgressQueryArgs,
  type ProgressSnapshot,
  type StepResult,
  type StepState,
  type StoryEvent,
  type StoryEventBody,
  type StoryPage,
  type VerificationReport,
  type StoryState,
  type WebhookDelivery,
  type WebhookEventType,
} from '../contract/data';
import { applyPlanEdit, type AppliedEdit } from '../contract/plan-edit';
import { ReviewRequestSchema } from '../contract/schemas';
import { runFiles, type RunFile } from '../contract/run-links';
import { emptyStory, foldStoryEvent } from '../contract/story-reducer';

/** The story records at most this many events; beyond it only output chunks are dropped from the log. */
export const MAX_STORY_EVENTS = 5_000;

const LOST_ATTEMPT_REASON = 'The previous attempt stopped without reporting why (worker lost or timed out).';

export function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
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
  /** Every recorded event folded: what queries report. Replaced, never changed in place. */
  private state: StoryState = emptyStory();
  /** Characters received for each step's current attempt, including any beyond the kept output. */
  private received: number[] = [];
  /** Reason reported by a failed attempt, keyed by `${stepIndex}:${attempt}`. */
  private readonly failures = new Map<string, string>();
  /** Every review answer applied, by request id: the same request is applied once, whatever Temporal remembers. */
  private readonly answers = new Map<string, ReviewOutcome>();
  private revisions = 0;
  /** The most a person may raise a limit to at a budget stop (the deployment's cap). */
  budgetCap: Budget = {};
  private raised: Budget | null = null;
  /** Called after each recorded event (the workflow publishes the story to its history). */
  onRecord: (() => void) | null = null;

  constructor(
    readonly task: string,
    private readonly now: () => Date,
    parent?: RunLink,
  ) {
    this.record({ type: 'run.started', task, ...(parent ? { parent } : {}) });
  }

  /** The files of each code step's latest verification round (what the run page lists). */
  get files(): RunFile[] {
    return runFiles(this.state);
  }

  get status(): StoryState['status'] {
    return this.state.status;
  }

  /** The plan as it stands (after any edits); null before planning. */
  get plan(): Plan | null {
    return this.state.plan;
  }

  /** What the run has spent so far. */
  get spend(): StoryState['spend'] {
    return this.state.spend;
  }

  get stepCount(): number {
    return this.state.steps.length;
  }

  /** The review the run waits for now, if any. */
  get waitingReview(): StoryState['review'] {
    return this.state.review;
  }

  /** A person asked to be asked before this step runs. */
  asksBefore(stepIndex: number): boolean {
    return this.step(stepIndex)?.ask === true;
  }

  get lastSeq(): number {
    return this.state.lastSeq;
  }

  get isOpen(): boolean {
    return this.state.status === 'running';
  }

  private record(body: StoryEventBody): void {
    if (body.type === 'step.output' && this.events.length >= MAX_STORY_EVENTS) return;
    const event: StoryEvent = { ...body, seq: this.lastSeq + 1, at: this.now().toISOString() };
    this.events.push(event);
    this.state = foldStoryEvent(this.state, event);
    this.onRecord?.();
  }

  private step(stepIndex: number): StepState | undefined {
    return this.state.steps[stepIndex];
  }

  /** Fair share: the run waits for a slot. */
  queued(owner: string): void {
    this.record({ type: 'run.queued', owner });
  }

  /** The scheduler gave the run its slot. */
  dequeued(grant: SlotGrant): void {
    this.record({ type: 'run.dequeued', order: grant.order, passedBy: grant.passedBy });
  }

  /** The plan, the model that made it and what planning spent (none for a re-run's kept plan). */
  planReady(plan: Plan, model: ModelInfo, usage?: TokenUsage | null): void {
    this.received = plan.steps.map(() => 0);
    this.record({ type: 'plan.ready', plan, model, ...(usage !== undefined ? { usage, cost: costOf(usage, model.price) } : {}) });
  }

  /** A re-run keeps a step of its parent: recorded as done, with the parent's output. */
  stepKept(stepIndex: number, kept: KeptStep): void {
    const output = clip(cleanOutput(kept.output), LIMITS.stepOutputMaxChars);
    this.record({ type: 'step.kept', stepIndex, output, truncated: kept.truncated || output !== kept.output, usage: kept.usage });
  }

  /** A person edited the plan (a re-run's form, or an approval with edits). */
  planEdited(edit: Extract<AppliedEdit, { ok: true }>, by: string | null): void {
    if (edit.changes.length === 0 && edit.ask.length === 0) return;
    this.record({ type: 'plan.edited', by, changes: edit.changes, plan: edit.plan, ask: edit.ask });
    this.received = this.state.steps.map((_, i) => this.received[i] ?? 0);
  }

  /** The run waits for a person from now until `deadline`; returns the review's revision. */
  reviewWaiting(stage: ReviewStage, deadline: Date): number {
    this.revisions += 1;
    this.record({ type: 'review.waiting', revision: this.revisions, stage, deadline: deadline.toISOString() });
    return this.revisions;
  }

  reviewExpired(): void {
    const review = this.state.review;
    if (review) this.record({ type: 'review.expired', revision: review.revision });
  }

  /** The steps a review may change start here: every step at a plan review, the next step on at a step's or a budget stop. */
  private lockedBefore(stage: ReviewStage): number {
    return stage.kind === 'plan' ? 0 : stage.stepIndex;
  }

  /** The limits a person set at the last budget stop, once (null when none since). */
  raisedBudget(): Budget | null {
    const raised = this.raised;
    this.raised = null;
    return raised;
  }

  /** Why new limits cannot be accepted at this budget stop, or null. */
  private checkRaise(stage: Extract<ReviewStage, { kind: 'budget' }>, budget: Budget | undefined): string | null {
    const name = (kind: string) => (kind === 'timeMs' ? 'time' : kind);
    if (!budget || budget[stage.budget] === undefined) {
      return `To go on, raise the ${name(stage.budget)} limit above what the run has used: or reject to stop the run.`;
    }
    if (budget[stage.budget]! <= stage.used) return `The new ${name(stage.budget)} limit must be above what the run has used.`;
    for (const [kind, value] of Object.entries(budget) as Array<[keyof Budget, number]>) {
      const cap = this.budgetCap[kind];
      if (cap !== undefined && value > cap) return `The ${name(kind)} limit can be at most ${cap} here.`;
    }
    return null;
  }

  /**
   * Why `request` cannot be applied now, or null when it can (or was applied already). Read-only:
   * the review update's validator.
   */
  checkReview(untrusted: ReviewRequest): string | null {
    // The arguments come from whoever sent the update (the web app, a terminal): checked here.
    const parsed = ReviewRequestSchema.safeParse(untrusted);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const [field, , stepIndex] = issue?.path ?? [];
      if (field === 'edit' && typeof stepIndex === 'number') {
        const lockedBefore = this.state.review ? this.lockedBefore(this.state.review.stage) : 0;
        return `Step ${lockedBefore + stepIndex + 1}: ${issue?.message}`;
      }
      if (field === 'reason' || field === 'edit') return issue?.message ?? 'The review answer is not valid.';
      return `The review answer is not valid: ${issue?.path.join('.')}: ${issue?.message}`;
    }
    const request = parsed.data;
    if (this.answers.has(request.requestId)) return null;
    const review = this.state.review;
    const answered = [...this.answers.values()].find((answer) => answer.revision === request.revision);
    if (answered) {
      const what = `${answered.decision === 'approve' ? 'approved' : 'rejected'} by ${answered.by ?? 'someone'}`;
      return `This review was already answered: ${what}.${review ? ' The run waits for another review now: reload the page.' : ''}`;
    }
    if (!review) {
      return this.state.status === 'running'
        ? 'The run is not waiting for a review now.'
        : `The run has ended (${this.state.status}): there is nothing to review.`;
    }
    if (request.revision !== review.revision) {
      return 'The plan changed since this page was loaded: reload it to see the plan as it is now.';
    }
    if (request.decision === 'approve' && review.stage.kind === 'budget') {
      const refused = this.checkRaise(review.stage, request.budget);
      if (refused) return refused;
    } else if (request.decision === 'approve' && request.budget !== undefined) {
      return 'New limits can only be set where the run stopped at one.';
    }
    if (request.decision === 'approve' && request.edit !== undefined && !this.state.plan) return 'There is no plan to edit yet.';
    if (request.decision === 'approve' && request.edit !== undefined && this.state.plan) {
      const applied = applyPlanEdit(this.state.plan, request.edit, this.lockedBefore(review.stage));
      if (!applied.ok) return applied.error;
    }
    return null;
  }

  /** Apply a request checkReview accepted; the same request again answers what it answered the first time. */
  answerReview(untrusted: ReviewRequest): ReviewOutcome {
    const earlier = this.answers.get(untrusted?.requestId);
    if (earlier) return earlier;
    const refused = this.checkReview(untrusted);
    const parsed = ReviewRequestSchema.safeParse(untrusted);
    const review = this.state.review;
    if (refused !== null || !parsed.success || !review) {
      throw new Error(refused ?? 'The run is not waiting for a review now.');
    }
    const request = parsed.data;
    const base = { requestId: request.requestId, revision: review.revision, decision: request.decision, by: request.by };
    let outcome: ReviewOutcome;
    if (request.decision === 'reject') {
      this.record({
        type: 'review.rejected',
        revision: review.revision,
        by: request.by,
        reason: request.reason,
        requestId: request.requestId,
      });
      outcome = { ...base, changes: [] };
    } else {
      let changes: ReviewOutcome['changes'] = [];
      if (request.edit !== undefined) {
        // A budget stop before planning has no plan to edit.
        if (!this.state.plan) throw new Error('There is no plan to edit yet.');
        const applied = applyPlanEdit(this.state.plan, request.edit, this.lockedBefore(review.stage));
        if (!applied.ok) throw new Error(applied.error);
        this.planEdited(applied, request.by);
        changes = applied.changes;
      }
      if (request.budget !== undefined) {
        this.record({ type: 'budget.raised', by: request.by, budget: request.budget });
        this.raised = request.budget;
      }
      this.record({ type: 'review.approved', revision: review.revision, by: request.by, requestId: request.requestId });
      outcome = { ...base, changes };
    }
    this.answers.set(request.requestId, outcome);
    return outcome;
  }

  stepStarted(stepIndex: number): void {
    this.received[stepIndex] = 0;
    this.record({ type: 'step.started', stepIndex, title: this.state.steps[stepIndex].title });
  }

  /** A code step's output goes to the sandbox with its tests. */
  verifying(stepIndex: number, round: number): void {
    this.record({ type: 'step.verifying', stepIndex, round });
  }

  verified(stepIndex: number, report: VerificationReport): void {
    this.record({ type: 'step.verified', stepIndex, report });
  }

  /** The tests failed and a round is left: the step runs again with the failure in its prompt. */
  fixing(stepIndex: number, round: number, reason: string): void {
    this.received[stepIndex] = 0;
    this.record({ type: 'step.fixing', stepIndex, round, reason: clip(reason, LIMITS.messageMaxChars) });
  }

  /** The step's output as the story has it (the final one once it finished). */
  stepOutput(stepIndex: number): string {
    return this.state.steps[stepIndex]?.output ?? '';
  }

  stepFinished(stepIndex: number, result: StepResult): void {
    const step = this.state.steps[stepIndex];
    const durationMs = this.now().getTime() - new Date(step.startedAt ?? this.state.startedAt).getTime();
    const output = clip(result.output, LIMITS.stepOutputMaxChars);
    // The activity sends its last output in the result, not in a signal (ProgressReporter.finish):
    // what the signals did not bring is recorded here, as output chunks before step.finished.
    if (output.length > step.output.length && output.startsWith(step.output)) {
      for (let i = step.output.length; i < output.length; i += LIMITS.chunkMaxChars) {
        this.record({ type: 'step.output', stepIndex, attempt: step.attempt, text: output.slice(i, i + LIMITS.chunkMaxChars) });
      }
    }
    // The activity's returned output is authoritative. When the events so far do not add up to it
    // (it does not continue the streamed text, or the event cap dropped chunks), step.finished
    // carries it, so whoever folds the events ends with the same output.
    const streamed = this.state.steps[stepIndex].output;
    this.record({
      type: 'step.finished',
      stepIndex,
      durationMs,
      attempts: Math.max(step.attempt, 1),
      usage: result.usage,
      cost: costOf(result.usage, result.model.price),
      truncated: result.truncated || result.output.length > LIMITS.stepOutputMaxChars,
      ...(streamed === output ? {} : { output }),
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
    const target = stepIndex === null ? this.state.planning : this.step(stepIndex);
    if (!target || target.status !== 'running' || attempt <= target.attempt) return;
    const reason = this.failures.get(`${stepIndex}:${attempt - 1}`) ?? LOST_ATTEMPT_REASON;
    if (stepIndex !== null) this.received[stepIndex] = 0;
    this.record({ type: 'step.retrying', stepIndex, attempt, reason });
  }

  private output(item: Extract<ActivityProgress, { kind: 'output' }>): void {
    const { stepIndex, attempt, text } = item;
    if (this.step(stepIndex)?.status !== 'running') return;
    // A chunk of a newer attempt whose start we never heard of starts that attempt now.
    if (attempt > this.state.steps[stepIndex].attempt) this.attemptStarted(stepIndex, attempt);
    const step = this.state.steps[stepIndex];
    if (attempt !== step.attempt || item.offset !== this.received[stepIndex] || text.length === 0) return;
    this.received[stepIndex] += text.length;
    const room = LIMITS.stepOutputMaxChars - step.output.length;
    const kept = text.slice(0, Math.max(room, 0));
    if (kept.length === text.length) {
      this.record({ type: 'step.output', stepIndex, attempt, text: kept });
    } else if (!step.truncated) {
      // The chunk that reaches the cap says so (with no text at all when the output was exactly full).
      this.record({ type: 'step.output', stepIndex, attempt, text: kept, truncated: true });
    }
  }

  /** Earlier outputs for the next step, within LIMITS.digestMaxChars in all. */
  digest(): string {
    const done = this.state.steps.filter((step) => step.status === 'completed');
    if (done.length === 0) return '';
    const separator = '\n\n';
    // The separators count against the limit too.
    const budget = Math.floor((LIMITS.digestMaxChars - separator.length * (done.length - 1)) / done.length);
    return done.map((step) => clip(`Step ${step.index + 1} (${step.title}):\n${step.output}`, budget)).join(separator);
  }

  /** The final document: every step's output under its title. */
  assemble(): string {
    const parts = this.state.steps.map((step) => `## ${step.index + 1}. ${step.title}\n\n${step.output.trim()}`);
    const summary = this.state.plan?.summary ? `${this.state.plan.summary}\n\n` : '';
    return clip(`# ${clip(this.task.split('\n')[0], 200)}\n\n${summary}${parts.join('\n\n')}\n`, LIMITS.resultMaxChars);
  }

  /** A limit of the run's budget was reached: the run ends here. */
  budgetReached(kind: BudgetKind, used: number, limit: number): void {
    this.record({ type: 'budget.reached', kind, used, limit });
  }

  completed(result: string): void {
    this.record({ type: 'run.completed', result });
  }

  failed(error: string): void {
    this.record({ type: 'run.failed', error: clip(error, LIMITS.messageMaxChars) });
  }

  cancelled(): void {
    this.record({ type: 'run.cancelled' });
  }

  /** Webhooks: the receiver took the event (recorded after the run ended too: the story goes on until the workflow closes). */
  webhookDelivered(event: WebhookEventType, deliveryId: string, delivery: WebhookDelivery): void {
    this.record({ type: 'webhook.delivered', event, deliveryId, attempts: delivery.attempts, status: delivery.status });
  }

  webhookFailed(event: WebhookEventType, deliveryId: string, attempts: number | null, status: number | null, error: string): void {
    this.record({ type: 'webhook.failed', event, deliveryId, attempts, status, error: clip(error, LIMITS.messageMaxChars) });
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

  /** Every event after `after` (a copy of the list; the events themselves are never changed). */
  eventsAfter(after: number): StoryEvent[] {
    return this.events.slice(after);
  }

  /** Every event, for the workflow's result: bounded by LIMITS and MAX_STORY_EVENTS, so it fits one payload. */
  fullSnapshot(): ProgressSnapshot {
    return this.page(0, this.events.length);
  }

  private eventsSlice(after: number, limit: number): StoryPage {
    // seq is dense (1..n), so the page starts at index `after`.
    const events = this.events.slice(after, after + limit);
    return { status: this.state.status, lastSeq: this.lastSeq, events, hasMore: after + events.length < this.events.length };
  }

  private page(after: number, limit: number): ProgressSnapshot {
    // A copy: whoever changes a snapshot must not change the state the next events fold into.
    const { planning, steps } = this.state;
    return { ...this.state, planning: { ...planning }, steps: steps.map((step) => ({ ...step })), ...this.eventsSlice(after, limit) };
  }
}
