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
  setCurrentDetails,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import { SearchAttributeType, TimeoutType, defineSearchAttributeKey } from '@temporalio/common';
import type { Activities } from '../activities';
import type { VerifyActivities } from '../activities/verify/verify';
import {
  BUDGET_REACHED_ERROR_TYPE,
  NON_RETRYABLE_LLM_ERRORS,
  REVIEW_STATES,
  REVIEW_TIMEOUT_DEFAULT_MS,
  RUN_FAILED_ERROR_TYPE,
  STATE_SEARCH_ATTRIBUTE,
  WEBHOOK_NOT_CONFIGURED_ERROR_TYPE,
  STORY_MEMO_FIELD,
  VERIFY_LIMITS,
  schedulerWorkflowId,
  verificationReport,
  verificationTaskQueue,
  type Budget,
  type BudgetKind,
  type CallBudget,
  type CodeLanguage,
  type RunStatus,
  type ReviewStage,
  type QueueInput,
  type SlotGrant,
  type TaskInput,
  type TaskWorkflow,
  type VerificationReport,
  type WebhookAttemptDetails,
  type WebhookEventType,
  type WebhookRequest,
  webhookDeliveryId,
} from '../contract/data';
import { activityProgressSignal, grantSignal, progressQuery, releaseSignal, reviewUpdate, storyQuery } from '../contract/messages';
import { applyPlanEdit } from '../contract/plan-edit';
import { runFilesDetails, runPageUrl } from '../contract/run-links';
import { BudgetSchema, PlanSchema, QueueInputSchema, RerunInputSchema, ReviewTimeoutSchema, VerifyRoundsSchema } from '../contract/schemas';
import { Story } from './story';

export { schedulerWorkflow } from './scheduler';

/** Activities heartbeat every second; three missed beats mean the worker is gone. */
export const HEARTBEAT_TIMEOUT = '10 seconds';
export const PLAN_TIMEOUT = '2 minutes';
export const STEP_TIMEOUT = '10 minutes';
export const MAX_ATTEMPTS = 5;
/** How long a verification may wait for a worker with a sandbox, and run once taken. */
export const VERIFY_START_TIMEOUT = '1 minute';
export const VERIFY_TIMEOUT = '2 minutes';

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

/**
 * Webhooks: a delivery is retried with backoff for up to this long in all, then recorded as failed.
 * The run awaits its deliveries before it closes (a closed workflow runs no activity), so this
 * also bounds how long a run may stay open after its outcome is decided; the outcome stays as it is.
 */
export const WEBHOOK_TIMEOUT = '10 minutes';
const { deliverWebhook } = proxyActivities<Activities>({
  scheduleToCloseTimeout: WEBHOOK_TIMEOUT,
  // One attempt's request times out in the activity (10 s); a killed worker is noticed by the heartbeat.
  startToCloseTimeout: '1 minute',
  heartbeatTimeout: HEARTBEAT_TIMEOUT,
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '1 minute',
    nonRetryableErrorTypes: [WEBHOOK_NOT_CONFIGURED_ERROR_TYPE],
  },
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
  /** The story's new events into the memo (STORY_MEMO_FIELD) in each task that records any. */
  storyMemo: 'story-memo-v1',
  /** A code step's tests run in the sandbox; a failure writes the step again with the report. */
  verify: 'verify-code-v1',
  /** Webhooks (TaskInput.notify): run.waiting at each review, run.ended before the run closes. */
  webhooks: 'webhooks-v1',
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
  const cap = BudgetSchema.safeParse(input.budgetCap ?? {});
  if (!cap.success)
    throw invalidInput(`The budget cap is not valid: ${cap.error.issues[0]?.path.join('.')}: ${cap.error.issues[0]?.message}`);
  if (input.budget !== undefined) patched(PATCHES.budget);
  const queueInput = input.queue === undefined ? null : QueueInputSchema.safeParse(input.queue);
  if (queueInput && !queueInput.success) {
    const issue = queueInput.error.issues[0];
    throw invalidInput(`The queue is not valid: ${issue?.path.join('.')}: ${issue?.message}`);
  }
  const queue = queueInput?.data ?? null;
  const rounds = VerifyRoundsSchema.safeParse(input.verifyRounds ?? VERIFY_LIMITS.roundsDefault);
  if (!rounds.success) throw invalidInput(`The verification rounds are not valid: ${rounds.error.issues[0]?.message}`);
  const verifyRounds = rounds.data;
  const notify = input.notify === true && patched(PATCHES.webhooks);

  // Date in workflow code is the SDK's deterministic workflow clock.
  const story = new Story(task, () => new Date(), rerun?.data.parent);
  setHandler(progressQuery, (args) => story.snapshot(args));
  // The Temporal UI's "current details": links to the run's files in the web app, once there are
  // some. Workflow state served by a query, not a command: nothing in the history changes.
  const appUrl = typeof input.appUrl === 'string' ? input.appUrl : null;
  const showFiles = () => {
    if (appUrl) setCurrentDetails(runFilesDetails(appUrl, workflowInfo().workflowId, story.files));
  };
  showFiles(); // a re-run's kept steps have theirs
  setHandler(storyQuery, (args) => story.eventsPage(args));
  // Every report is applied, whichever run's activity sent it: activities signal the exact run
  // that scheduled them, so a report in this history reached the run that was current then. A
  // run made by a reset replays the old run's reports before the reset point, and must take them
  // as the old run did: the story it publishes from them is in the history (a check against this
  // run's id made such a run fail its replay). A report the reset copies after that point (a reset
  // that reapplies signals; "Retry from the failed step" does not) fits the story only where its
  // offsets continue a running step's output, and the step's result replaces that output.
  setHandler(activityProgressSignal, (report) => {
    if (story.isOpen) story.applyProgress(report.items);
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

  /**
   * The memo: the spend so far (`withSpend`), where lists read it without a query, and the story
   * events recorded since the last call (STORY_MEMO_FIELD), which the history then holds in order
   * for the web app's watcher. One upsert for both. Called after each step, at the end, and in a
   * microtask after any event is recorded, so each workflow task that records events publishes them.
   */
  let publishedSeq = 0;
  function updateMemo(withSpend: boolean): void {
    const fields: Record<string, unknown> = {};
    if (withSpend && patched(PATCHES.spendMemo)) fields.spend = story.spend;
    if (story.lastSeq > publishedSeq && patched(PATCHES.storyMemo)) {
      fields[STORY_MEMO_FIELD] = story.eventsAfter(publishedSeq);
      publishedSeq = story.lastSeq;
    }
    if (Object.keys(fields).length > 0) upsertMemo(fields);
  }
  function memoSpend(): void {
    updateMemo(true);
  }
  let publishing = false;
  story.onRecord = () => {
    if (publishing) return;
    publishing = true;
    void Promise.resolve().then(() => {
      publishing = false;
      updateMemo(false);
    });
  };
  story.onRecord(); // the run.started event, recorded before the hook was set

  /** The final snapshot, once the spend is in the memo: what the run returns. */
  function ended(): ReturnType<Story['fullSnapshot']> {
    memoSpend();
    return story.fullSnapshot();
  }

  /**
   * Webhooks: tell the deployment's webhook about `event` (the worker holds its URL and secret).
   * Never cancelled and never failing: the outcome is a story event, and the run goes on meanwhile.
   */
  const deliveries: Array<Promise<void>> = [];
  function deliver(event: WebhookEventType, review?: WebhookRequest['review']): Promise<void> {
    const { workflowId, runId } = workflowInfo();
    const deliveryId = webhookDeliveryId(runId, event, review?.revision);
    const request: WebhookRequest = {
      event,
      deliveryId,
      workflowId,
      runId,
      status: story.status,
      at: new Date().toISOString(),
      ...(review ? { review } : {}),
      ...(input.appUrl ? { url: runPageUrl(input.appUrl, workflowId) } : {}),
    };
    return CancellationScope.nonCancellable(() => deliverWebhook(request)).then(
      (delivery) => story.webhookDelivered(event, deliveryId, delivery),
      (err: unknown) => {
        const last = lastAttempt(err);
        story.webhookFailed(event, deliveryId, last?.attempt ?? null, last?.status ?? null, describeFailure(err));
      },
    );
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
  /** Wait for a person's answer; true to go on, false when the run ended (rejected, expired, stopped). */
  async function review(stage: ReviewStage): Promise<boolean> {
    reviewed = patched(PATCHES.review) || reviewed;
    // A person may take days: the slot is someone else's meanwhile (released before the wait is told).
    const yieldSlot = queue !== null && inQueue && patched(PATCHES.fairShareReview);
    if (yieldSlot) await releaseSlot();
    const deadline = new Date(Date.now() + reviewTimeoutMs);
    const revision = story.reviewWaiting(stage, deadline);
    setState(REVIEW_STATES.waiting);
    // Told without holding the wait: the run awaits the delivery before it closes.
    if (notify) deliveries.push(deliver('run.waiting', { revision, stage: stage.kind, deadline: deadline.toISOString() }));
    // Waiting for a person does not count against the run's time limit.
    pauseClock();
    const answered = await condition(() => story.waitingReview === null, reviewTimeoutMs);
    if (!answered) story.reviewExpired();
    const state = ENDED_STATES[story.status];
    setState(state ?? REVIEW_STATES.running);
    if (state) return false;
    // Approved: back in line (first among the owner's runs that came later) before the run goes on.
    if (yieldSlot) await waitForSlot(queue);
    resumeClock();
    return true;
  }

  // Budget. The run's work happens in a cancellation scope of its own, which the time limit
  // cancels; with review on, the work goes on in a new one once the owner raises the limit.
  const limits = { ...budget.data };
  story.budgetCap = cap.data;
  let work = new CancellationScope();
  let timeUp = false;
  let timeLeft = limits.timeMs;
  let clockSince = 0;
  let clock: CancellationScope | null = null;
  function resumeClock(): void {
    if (timeLeft === undefined || clock) return;
    const scope = (clock = new CancellationScope());
    const cancels = work;
    clockSince = Date.now();
    scope
      .run(() => sleep(Math.max(timeLeft!, 1)))
      .then(
        () => {
          if (clock !== scope) return;
          timeUp = true;
          cancels.cancel();
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
  /** The limit already reached, if any: checked before each model call and each step. */
  function reachedBefore(): BudgetKind | null {
    if (limits.tokens !== undefined && story.spend.tokens >= limits.tokens) return 'tokens';
    if (limits.cost !== undefined && story.spend.cost >= limits.cost) return 'cost';
    if (limits.steps !== undefined && stepsRun >= limits.steps) return 'steps';
    return null;
  }
  /**
   * A limit is reached before step `stepIndex` (null: before planning). Without review the run
   * ends there; with review it waits for its owner to raise the limit (true: go on) or stop it.
   */
  async function budgetStop(kind: BudgetKind, stepIndex: number | null): Promise<boolean> {
    pauseClock();
    const [usedNow, limit] = [used(kind), limits[kind]!];
    if (input.review !== true) {
      story.budgetReached(kind, usedNow, limit);
      setState(REVIEW_STATES.budgetReached);
      return false;
    }
    const goOn = await review({ kind: 'budget', budget: kind, used: usedNow, limit, stepIndex: stepIndex ?? story.stepCount });
    if (goOn) raise(story.raisedBudget());
    return goOn;
  }
  /** The owner's new limits (the workflow's validator held them to the cap and above what is used). */
  function raise(next: Budget | null): void {
    if (!next) return;
    if (next.timeMs !== undefined) timeLeft = (timeLeft ?? 0) + next.timeMs - (limits.timeMs ?? 0);
    Object.assign(limits, next);
  }
  let stepsRun = 0;

  /** The plan, once; then every step from `next` on. Runs in `work`; returns the final snapshot. */
  const rerunInput = rerun?.data;
  let planned = false;
  let next = 0;
  /** Steps whose "ask before running" was answered: each is asked once. */
  const asked = new Set<number>();
  let slotTaken = false;
  async function runFrom(): ReturnType<TaskWorkflow> {
    // Fair share: a queued run waits for its slot before anything else (its time limit starts then).
    if (queue && !slotTaken) {
      slotTaken = true;
      patched(PATCHES.fairShare);
      phase = 'Waiting for a slot';
      await waitForSlot(queue);
      resumeClock();
      phase = 'Planning';
    }
    while (!planned) {
      if (rerunInput) {
        patched(PATCHES.rerun);
        const { parent, plan, model, kept, edit, by } = rerunInput;
        const applied = applyPlanEdit(plan, edit, parent.fromStep);
        if (!applied.ok) throw invalidInput(`The re-run's plan is not valid: ${applied.error}`);
        story.planReady(plan, model);
        kept.forEach((step, stepIndex) => story.stepKept(stepIndex, step));
        story.planEdited(applied, by);
        next = parent.fromStep;
        planned = true;
        break;
      }
      const before = reachedBefore();
      if (before && !(await budgetStop(before, null))) return ended();
      if (before) continue;
      let result;
      try {
        result = await planTask({ task, ...callBudget() });
      } catch (err) {
        const refusedBy = budgetRefusal(err);
        if (!refusedBy) throw err;
        if (!(await budgetStop(refusedBy, null))) return ended();
        continue;
      }
      // Validated in the activity too; checking here keeps a bad plan out of the story whatever produced it.
      const parsed = PlanSchema.safeParse(result.plan);
      if (!parsed.success) {
        throw ApplicationFailure.nonRetryable(`The model's plan is not usable: ${parsed.error.issues[0]?.message}`, 'InvalidPlan');
      }
      story.planReady(parsed.data, result.model, result.usage);
      planned = true;
      if (input.review === true && !(await review({ kind: 'plan' }))) return ended();
    }

    // The plan may change at a review: read it from the story each time.
    while (next < story.stepCount) {
      const stepIndex = next;
      if (story.asksBefore(stepIndex) && !asked.has(stepIndex)) {
        asked.add(stepIndex);
        phase = `Review before step ${stepIndex + 1}`;
        if (!(await review({ kind: 'step', stepIndex }))) return ended();
        continue; // the plan may have changed: look again
      }
      const reached = reachedBefore();
      if (reached) {
        if (!(await budgetStop(reached, stepIndex))) return ended();
        continue;
      }
      const plan = story.plan!;
      phase = `Step ${stepIndex + 1} (${plan.steps[stepIndex].title})`;
      story.stepStarted(stepIndex);
      let result;
      try {
        result = await executeStep({ task, plan, stepIndex, digest: story.digest(), ...callBudget() });
      } catch (err) {
        const refusedBy = budgetRefusal(err);
        if (!refusedBy) throw err;
        if (!(await budgetStop(refusedBy, stepIndex))) return ended();
        continue; // the same step again, with the raised limit
      }
      stepsRun += 1;
      story.stepFinished(stepIndex, result);
      memoSpend();
      const code = plan.steps[stepIndex].code;
      if (code && verifyRounds > 0 && !result.budgetReached && patched(PATCHES.verify)) await verify(stepIndex, code.language);
      next = stepIndex + 1;
      if (result.budgetReached && !(await budgetStop(result.budgetReached, next))) return ended();
    }

    story.completed(story.assemble());
    return ended();
  }

  /**
   * A code step's tests, run in the sandbox (on the verification task queue beside the run's);
   * while they fail and rounds are left, the step is written again with the report in its prompt.
   * Each round is its own story entry. A verification that cannot run (no sandbox, no worker for
   * it) is an "error" report: the code is then not verified, and the run goes on.
   */
  async function verify(stepIndex: number, language: CodeLanguage): Promise<void> {
    const { verifyCode } = proxyActivities<VerifyActivities>({
      taskQueue: verificationTaskQueue(workflowInfo().taskQueue),
      // No worker with a sandbox polls the queue: say so after a minute rather than wait for good.
      scheduleToStartTimeout: VERIFY_START_TIMEOUT,
      startToCloseTimeout: VERIFY_TIMEOUT,
      heartbeatTimeout: HEARTBEAT_TIMEOUT,
      retry: { initialInterval: '1 second', maximumAttempts: 3 },
    });
    for (let round = 1; ; round++) {
      phase = `Verifying step ${stepIndex + 1}`;
      story.verifying(stepIndex, round);
      let report: VerificationReport;
      try {
        report = await verifyCode({ language, output: story.stepOutput(stepIndex), round });
      } catch (err) {
        if (isCancellation(err)) throw err;
        report = verificationReport(language, round, { verdict: 'error', summary: verifyFailure(err) });
      }
      story.verified(stepIndex, report);
      showFiles();
      if (report.verdict !== 'failed' || round >= verifyRounds || reachedBefore()) return;
      phase = `Step ${stepIndex + 1}, round ${round + 1}`;
      story.fixing(stepIndex, round + 1, report.summary);
      const retry = { round: round + 1, previous: report };
      let result;
      try {
        result = await executeStep({ task, plan: story.plan!, stepIndex, digest: story.digest(), verification: retry, ...callBudget() });
      } catch (err) {
        if (!budgetRefusal(err)) throw err;
        return; // the loop stops the run at the limit
      }
      story.stepFinished(stepIndex, result);
      memoSpend();
      if (result.budgetReached) return;
    }
  }

  let phase = 'Planning';
  if (!notify) return run();
  // Webhooks: once the outcome is decided and the slot given back, however the run ended (a
  // cancelled one too: deliveries cannot be cancelled), its end is told; the outcome is unchanged.
  try {
    await run();
  } catch (err) {
    // Not an end: a bug in this code fails the workflow task, to be resumed by a fix.
    if (story.status === 'running' || !(err instanceof TemporalFailure)) throw err;
    await Promise.all([...deliveries, deliver('run.ended')]);
    memoSpend();
    if (!(err instanceof ApplicationFailure) || err.type !== RUN_FAILED_ERROR_TYPE) throw err;
    // The failure carries the snapshot: the one with the deliveries' outcomes.
    throw ApplicationFailure.create({
      message: err.message,
      type: RUN_FAILED_ERROR_TYPE,
      nonRetryable: true,
      details: [story.fullSnapshot()],
      cause: err.cause,
    });
  }
  await Promise.all([...deliveries, deliver('run.ended')]);
  return ended();

  /** The run itself: its outcome, the slot given back. */
  async function run(): ReturnType<TaskWorkflow> {
    try {
      // A queued run's time limit starts with its slot.
      if (!queue) resumeClock();
      for (;;) {
        try {
          return await work.run(runFrom);
        } catch (err) {
          // The time limit cancelled the work (not the run: a cancel of the run cancels the root scope too).
          if (!(timeUp && isCancellation(err) && !CancellationScope.current().consideredCancelled)) throw err;
          timeUp = false;
          work = new CancellationScope();
          if (!(await budgetStop('timeMs', next))) return ended();
        }
      }
    } catch (err) {
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
}

/** The last attempt's number and HTTP status, from the failure deliverWebhook threw (under a timeout, if any). */
function lastAttempt(err: unknown): WebhookAttemptDetails | null {
  for (let current: unknown = err; current instanceof Error; current = current.cause) {
    if (current instanceof ApplicationFailure && current.details?.[0]) return current.details[0] as WebhookAttemptDetails;
  }
  return null;
}

function verifyFailure(err: unknown): string {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (cause instanceof TimeoutFailure && cause.timeoutType === TimeoutType.SCHEDULE_TO_START)
    return `Not verified: no worker with a sandbox took the tests within ${VERIFY_START_TIMEOUT} (see README, Verification).`;
  return `Not verified: ${describeFailure(err)}`;
}

/** The limit named by an activity that refused a call or cut it short (BUDGET_REACHED_ERROR_TYPE), if that is the error. */
function budgetRefusal(err: unknown): 'tokens' | 'cost' | null {
  const cause = err instanceof ActivityFailure ? err.cause : null;
  if (!(cause instanceof ApplicationFailure) || cause.type !== BUDGET_REACHED_ERROR_TYPE) return null;
  return cause.details?.[0] === 'cost' ? 'cost' : 'tokens';
}

/** The BuildstoryState of a run that ended at a review, by the story's status. */
const ENDED_STATES: Partial<Record<RunStatus, (typeof REVIEW_STATES)[keyof typeof REVIEW_STATES]>> = {
  rejected: REVIEW_STATES.rejected,
  expired: REVIEW_STATES.expired,
  'budget-reached': REVIEW_STATES.budgetReached,
};

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
