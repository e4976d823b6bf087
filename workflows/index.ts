/**
 * taskWorkflow: plan a task with an LLM, run each step as its own activity, assemble the result.
 *
 * The workflow owns the story (ordering, progress, final state); activities own everything
 * non-deterministic and report progress back through the `activityProgress` signal.
 */
import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  TemporalFailure,
  TimeoutFailure,
  condition,
  getExternalWorkflowHandle,
  isCancellation,
  upsertMemo,
  patched,
  proxyActivities,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import { SearchAttributeType, defineSearchAttributeKey } from '@temporalio/common';
import type { Activities } from '../activities';
import {
  BUDGET_REACHED_ERROR_TYPE,
  NON_RETRYABLE_LLM_ERRORS,
  REVIEW_STATES,
  REVIEW_TIMEOUT_DEFAULT_MS,
  RUN_FAILED_ERROR_TYPE,
  STATE_SEARCH_ATTRIBUTE,
  schedulerWorkflowId,
  type BudgetKind,
  type CallBudget,
  type ReviewStage,
  type QueueInput,
  type SlotGrant,
  type TaskInput,
  type TaskWorkflow,
} from '../contract/data';
import { activityProgressSignal, grantSignal, progressQuery, releaseSignal, reviewUpdate, storyQuery } from '../contract/messages';
import { applyPlanEdit } from '../contract/plan-edit';
import { BudgetSchema, PlanSchema, QueueInputSchema, RerunInputSchema, ReviewTimeoutSchema } from '../contract/schemas';
import { Story } from './story';

export { schedulerWorkflow } from './scheduler';

/** Activities heartbeat every second; three missed beats mean the worker is gone. */
export const HEARTBEAT_TIMEOUT = '10 seconds';
export const PLAN_TIMEOUT = '2 minutes';
export const STEP_TIMEOUT = '10 minutes';
export const MAX_ATTEMPTS = 5;

const retry: ActivityOptions['retry'] = {
  initialInterval: '1 second',
  backoffCoefficient: 2,
  maximumInterval: '30 seconds',
  maximumAttempts: MAX_ATTEMPTS,
  nonRetryableErrorTypes: Object.values(NON_RETRYABLE_LLM_ERRORS),
};

// A cancelled run waits for its activity to stop, so "cancelled" in the story means nothing still runs.
const common: ActivityOptions = {
  heartbeatTimeout: HEARTBEAT_TIMEOUT,
  retry,
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
};
const { planTask } = proxyActivities<Activities>({ ...common, startToCloseTimeout: PLAN_TIMEOUT });
const { executeStep } = proxyActivities<Activities>({ ...common, startToCloseTimeout: STEP_TIMEOUT });
// Asking for a slot must reach the scheduler however long Temporal is away; a cancelled run waits
// for the request to land before it leaves the queue, so the two cannot cross.
const { requestSlot } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
});

const STATE_KEY = defineSearchAttributeKey(STATE_SEARCH_ATTRIBUTE, SearchAttributeType.KEYWORD);

/**
 * Workflow changes since the first recorded histories, by `patched` id. Runs started before a
 * change replay without it; each id is only asked for on the path it changes, so a run that
 * takes none of these paths records no marker.
 */
export const PATCHES = {
  /** Waiting for a person: plan review, step gates, the review update. */
  review: 'plan-review-v1',
  /** Starting from another run's plan and kept outputs. */
  rerun: 'rerun-from-step-v1',
  /** The run's spend in its memo, after each step and at the end (lists read it). */
  spendMemo: 'spend-memo-v1',
  /** Limits: tokens, cost, time (a timer), steps. */
  budget: 'budget-v1',
  /** Fair share: wait for a slot from the scheduler before planning, give it back at the end. */
  fairShare: 'fair-share-v1',
  /** Fair share: a run waiting for a review gives its slot back and waits for one again once approved. */
  fairShareReview: 'fair-share-review-v1',
} as const;

/** A bad input from a start that did not come through the web app: the run fails with this. */
function invalidInput(message: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(message, 'InvalidTask');
}

export async function taskWorkflow(input: TaskInput): ReturnType<TaskWorkflow> {
  // The web app validated the input already; a bad input started some other way fails the run clearly.
  const task = input?.task;
  if (typeof task !== 'string' || task.trim().length === 0) throw invalidInput('The task is empty.');
  const rerun = input.rerun === undefined ? null : RerunInputSchema.safeParse(input.rerun);
  if (rerun && !rerun.success) throw invalidInput(`The re-run is not valid: ${rerun.error.issues[0]?.message}`);
  const reviewTimeout = ReviewTimeoutSchema.safeParse(input.reviewTimeoutMs ?? REVIEW_TIMEOUT_DEFAULT_MS);
  if (!reviewTimeout.success) throw invalidInput(`The review timeout is not valid: ${reviewTimeout.error.issues[0]?.message}`);
  const reviewTimeoutMs = reviewTimeout.data;
  const budget = BudgetSchema.safeParse(input.budget ?? {});
  if (!budget.success)
    throw invalidInput(`The budget is not valid: ${budget.error.issues[0]?.path.join('.')}: ${budget.error.issues[0]?.message}`);
  const limits = budget.data;
  if (input.budget !== undefined) patched(PATCHES.budget);
  const queueInput = input.queue === undefined ? null : QueueInputSchema.safeParse(input.queue);
  if (queueInput && !queueInput.success) {
    const issue = queueInput.error.issues[0];
    throw invalidInput(`The queue is not valid: ${issue?.path.join('.')}: ${issue?.message}`);
  }
  const queue = queueInput?.data ?? null;

  // Date in workflow code is the SDK's deterministic workflow clock.
  const story = new Story(task, () => new Date(), rerun?.data.parent);
  setHandler(progressQuery, (args) => story.snapshot(args));
  setHandler(storyQuery, (args) => story.eventsPage(args));
  const { runId } = workflowInfo();
  setHandler(activityProgressSignal, (report) => {
    if (story.isOpen && report.runId === runId) story.applyProgress(report.items);
  });
  let granted: SlotGrant | null = null;
  setHandler(grantSignal, (grant) => {
    granted ??= grant;
  });
  // Update handlers may throw ApplicationFailure only: any other error fails the workflow task and the caller hangs.
  setHandler(reviewUpdate, (request) => asApplicationFailure(() => story.answerReview(request)), {
    validator: (request) => {
      const refused = story.checkReview(request);
      if (refused !== null) throw ApplicationFailure.nonRetryable(refused, 'ReviewRefused');
    },
  });

  /** The spend so far into the memo, where lists read it without a query. */
  function memoSpend(): void {
    if (patched(PATCHES.spendMemo)) upsertMemo({ spend: story.spend });
  }

  /** The final snapshot, once the spend is in the memo: what the run returns. */
  function ended(): ReturnType<Story['fullSnapshot']> {
    memoSpend();
    return story.fullSnapshot();
  }

  /**
   * Fair share. From its request on, the run holds a slot or a place in line (`inQueue`), and gives
   * it back however it ends; while it waits for a person, it holds neither.
   */
  let inQueue = false;
  async function waitForSlot(fair: QueueInput): Promise<void> {
    story.queued(fair.owner);
    setState(REVIEW_STATES.queued);
    inQueue = true;
    granted = null;
    await requestSlot({ ...fair, submittedAt: workflowInfo().startTime.getTime() });
    await condition(() => granted !== null);
    story.dequeued(granted!);
    setState(REVIEW_STATES.running);
  }
  async function releaseSlot(): Promise<void> {
    inQueue = false;
    const scheduler = getExternalWorkflowHandle(schedulerWorkflowId(workflowInfo().taskQueue));
    await CancellationScope.nonCancellable(() => scheduler.signal(releaseSignal, { workflowId: workflowInfo().workflowId })).catch(() => {
      // No scheduler to tell: it never started (the request did not land) or was terminated.
    });
  }

  let reviewed = false;
  /** Wait for a person's answer; true to go on, false when the run ended (rejected, expired). */
  async function review(stage: ReviewStage): Promise<boolean> {
    reviewed = patched(PATCHES.review) || reviewed;
    // A person may take days: the slot is someone else's meanwhile (released before the wait is told).
    const yieldSlot = queue !== null && inQueue && patched(PATCHES.fairShareReview);
    if (yieldSlot) await releaseSlot();
    story.reviewWaiting(stage, new Date(Date.now() + reviewTimeoutMs));
    setState(REVIEW_STATES.waiting);
    // Waiting for a person does not count against the run's time limit.
    pauseClock();
    const answered = await condition(() => story.waitingReview === null, reviewTimeoutMs);
    if (!yieldSlot) resumeClock();
    if (!answered) story.reviewExpired();
    const ended = story.status === 'rejected' || story.status === 'expired';
    setState(
      story.status === 'rejected' ? REVIEW_STATES.rejected : story.status === 'expired' ? REVIEW_STATES.expired : REVIEW_STATES.running,
    );
    // Approved: back in line (first among the owner's runs that came later) before the run goes on.
    if (yieldSlot) {
      if (!ended) await waitForSlot(queue);
      resumeClock();
    }
    return !ended;
  }

  // Budget. Everything the run does happens in `work`; the time limit cancels it.
  const work = new CancellationScope();
  let timeUp = false;
  let timeLeft = limits.timeMs;
  let clockSince = 0;
  let clock: CancellationScope | null = null;
  function resumeClock(): void {
    if (timeLeft === undefined || clock) return;
    const scope = (clock = new CancellationScope());
    clockSince = Date.now();
    scope
      .run(() => sleep(timeLeft!))
      .then(
        () => {
          if (clock !== scope) return;
          timeUp = true;
          work.cancel();
        },
        () => {}, // paused
      );
  }
  function pauseClock(): void {
    if (!clock) return;
    clock.cancel();
    clock = null;
    timeLeft! -= Date.now() - clockSince;
  }
  /** What is left of the token and cost limits, for the next model call. */
  function callBudget(): { budget?: CallBudget } {
    if (limits.tokens === undefined && limits.cost === undefined) return {};
    const { tokens, cost } = story.spend;
    return {
      budget: {
        ...(limits.tokens !== undefined ? { tokens: limits.tokens - tokens } : {}),
        ...(limits.cost !== undefined ? { cost: limits.cost - cost } : {}),
      },
    };
  }
  function used(kind: BudgetKind): number {
    if (kind === 'tokens') return story.spend.tokens;
    if (kind === 'cost') return story.spend.cost;
    if (kind === 'steps') return stepsRun;
    return limits.timeMs! - (timeLeft ?? 0) + (clock ? Date.now() - clockSince : 0);
  }
  /** The limit already reached, if any: checked before each model call. */
  function reachedBefore(): BudgetKind | null {
    if (limits.tokens !== undefined && story.spend.tokens >= limits.tokens) return 'tokens';
    if (limits.cost !== undefined && story.spend.cost >= limits.cost) return 'cost';
    return null;
  }
  function stopAt(kind: BudgetKind): ReturnType<Story['fullSnapshot']> {
    pauseClock();
    story.budgetReached(kind, used(kind), limits[kind]!);
    setState(REVIEW_STATES.budgetReached);
    return ended();
  }
  let stepsRun = 0;

  let phase = 'Planning';
  try {
    // A queued run's time limit starts with its slot.
    if (!queue) resumeClock();
    return await work.run(async () => {
      if (queue) {
        patched(PATCHES.fairShare);
        phase = 'Waiting for a slot';
        await waitForSlot(queue);
        resumeClock();
        phase = 'Planning';
      }
      let first = 0;
      if (rerun) {
        patched(PATCHES.rerun);
        const { parent, plan, model, kept, edit, by } = rerun.data;
        const applied = applyPlanEdit(plan, edit, parent.fromStep);
        if (!applied.ok) throw invalidInput(`The re-run's plan is not valid: ${applied.error}`);
        story.planReady(plan, model);
        kept.forEach((step, stepIndex) => story.stepKept(stepIndex, step));
        story.planEdited(applied, by);
        first = parent.fromStep;
      } else {
        const planned = await planTask({ task, ...callBudget() });
        // Validated in the activity too; checking here keeps a bad plan out of the story whatever produced it.
        const parsed = PlanSchema.safeParse(planned.plan);
        if (!parsed.success) {
          throw ApplicationFailure.nonRetryable(`The model's plan is not usable: ${parsed.error.issues[0]?.message}`, 'InvalidPlan');
        }
        story.planReady(parsed.data, planned.model, planned.usage);
        if (input.review === true && !(await review({ kind: 'plan' }))) return ended();
      }
      const afterPlanning = reachedBefore();
      if (afterPlanning) return stopAt(afterPlanning);

      // The plan may change at a step's review: read it from the story each time.
      for (let stepIndex = first; stepIndex < story.stepCount; stepIndex++) {
        if (story.asksBefore(stepIndex)) {
          phase = `Review before step ${stepIndex + 1}`;
          if (!(await review({ kind: 'step', stepIndex }))) return ended();
          if (stepIndex >= story.stepCount) break;
        }
        if (limits.steps !== undefined && stepsRun >= limits.steps) return stopAt('steps');
        const reached = reachedBefore();
        if (reached) return stopAt(reached);
        const plan = story.plan!;
        phase = `Step ${stepIndex + 1} (${plan.steps[stepIndex].title})`;
        story.stepStarted(stepIndex);
        const result = await executeStep({ task, plan, stepIndex, digest: story.digest(), ...callBudget() });
        stepsRun += 1;
        story.stepFinished(stepIndex, result);
        memoSpend();
        if (result.budgetReached) return stopAt(result.budgetReached);
      }

      story.completed(story.assemble());
      return ended();
    });
  } catch (err) {
    // The time limit cancelled the work; a model call refused or cut short by the budget.
    if (timeUp && isCancellation(err)) return stopAt('timeMs');
    const refusedBy = budgetRefusal(err);
    if (refusedBy) return stopAt(refusedBy);
    if (isCancellation(err)) {
      story.cancelled();
      if (reviewed || inQueue) setState(REVIEW_STATES.cancelled);
      memoSpend();
      throw err;
    }
    // Anything but a Temporal failure is a bug in this code: fail the workflow task so a fix can resume it.
    if (!(err instanceof TemporalFailure)) throw err;
    story.failed(`${phase} failed: ${describeFailure(err)}`);
    memoSpend();
    // The snapshot rides in the failure's details so a closed run renders without a worker.
    throw ApplicationFailure.create({
      message: story.fullSnapshot().error ?? 'The run failed.',
      type: RUN_FAILED_ERROR_TYPE,
      nonRetryable: true,
      details: [story.fullSnapshot()],
      cause: err instanceof Error ? err : undefined,
    });
  } finally {
    if (inQueue) await releaseSlot();
  }
}

/** The limit named by an activity that refused a call or cut it short (BUDGET_REACHED_ERROR_TYPE), if that is the error. */
function budgetRefusal(err: unknown): 'tokens' | 'cost' | null {
  const cause = err instanceof ActivityFailure ? err.cause : null;
  if (!(cause instanceof ApplicationFailure) || cause.type !== BUDGET_REACHED_ERROR_TYPE) return null;
  return cause.details?.[0] === 'cost' ? 'cost' : 'tokens';
}

/** Where the run stands as to reviews, for lists and the Temporal UI (a Keyword search attribute). */
function setState(value: (typeof REVIEW_STATES)[keyof typeof REVIEW_STATES]): void {
  upsertSearchAttributes([{ key: STATE_KEY, value }]);
}

function asApplicationFailure<T>(work: () => T): T {
  try {
    return work();
  } catch (err) {
    if (err instanceof ApplicationFailure) throw err;
    throw ApplicationFailure.nonRetryable(err instanceof Error ? err.message : String(err), 'ReviewRefused');
  }
}

/**
 * The message a user should read: the first ApplicationFailure or timeout in the chain (what the
 * activity decided), not the ActivityFailure wrapper nor the raw error it carries as its cause.
 */
function describeFailure(err: unknown): string {
  let current: unknown = err;
  let innermost = 'The run failed.';
  while (current instanceof Error) {
    if (current instanceof ApplicationFailure || current instanceof TimeoutFailure) return current.message;
    if (current.message) innermost = current.message;
    current = current.cause;
  }
  return innermost;
}
