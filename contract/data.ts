/**
 * The data the workflow, the activities and the web app exchange: names, bounds, types and pure
 * helpers. Safe everywhere, the browser included: it imports nothing, so importing it brings no
 * SDK along. Zod schemas are in ./schemas, Temporal queries and signals in ./messages.
 */

export const WORKFLOW_NAME = 'taskWorkflow';
export const DEFAULT_TASK_QUEUE = 'buildstory';
/**
 * Ends the identity of a worker that runs the offline model. Temporal lists each poller's identity
 * (the Temporal UI shows it too): the web app tells visitors from it, without the model's settings.
 */
export const OFFLINE_WORKER_MARK = '(offline model)';

/** Bounds for everything that grows, so history and query results stay far below Temporal's limits. */
export const LIMITS = {
  taskMaxChars: 4_000,
  planMinSteps: 1,
  planMaxSteps: 8,
  stepTitleMaxChars: 120,
  stepInstructionsMaxChars: 1_000,
  /** Output kept per step; anything beyond is dropped and the step is marked truncated. */
  stepOutputMaxChars: 16_000,
  /** Earlier outputs shown to the next step, in total. */
  digestMaxChars: 6_000,
  /** One output chunk signal carries at most this much text. */
  chunkMaxChars: 4_000,
  /** A page of events returned by the progress query. */
  eventsPageMax: 500,
  eventsPageDefault: 200,
  /** Reasons and error messages kept in the story. */
  messageMaxChars: 1_000,
  /** The assembled result. */
  resultMaxChars: 64_000,
} as const;

/** Strip the characters a task must never carry: control characters (C0, DEL, C1) except tab and newline. */
export function cleanText(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\r\n?/g, '\n').replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]/g, '');
}

/**
 * A model's output without the control characters that have no place in text (C0 but tab, line
 * feed and carriage return; DEL; C1): they could drive a terminal, and each would take six bytes
 * of JSON in every payload that carries the output. Character by character, so cleaning the
 * chunks of a stream gives the cleaned whole.
 */
export function cleanOutput(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]/g, '');
}

/** What a run is started with (validated by TaskInputSchema). */
export interface TaskInput {
  task: string;
  /** Wait for a person to approve (or edit, or reject) the plan before any step runs. */
  review?: boolean;
  /** How long a review may wait before the run expires; REVIEW_TIMEOUT_DEFAULT_MS when absent. */
  reviewTimeoutMs?: number;
  /** A re-run of another run from one of its steps: no planning, the steps before are kept. */
  rerun?: RerunInput;
  /** Limits the run stops at ("Budget reached"), enforced before and during each model call. */
  budget?: Budget;
  /** The most a person may raise the limits to, when a run with review waits at one (the deployment's cap). */
  budgetCap?: Budget;
  /** Fair share: wait for a slot from the deployment's scheduler before planning (absent: start at once). */
  queue?: QueueInput;
  /**
   * Verification: rounds in all for a code step whose tests fail (the first included; 0: code is
   * not run). VERIFY_LIMITS.roundsDefault when absent.
   */
  verifyRounds?: number;
  /**
   * The web app's public URL (BUILDSTORY_PUBLIC_URL), for the links to the run's files the
   * workflow shows in the Temporal UI (contract/run-links.ts). Absent: no links.
   */
  appUrl?: string;
  /**
   * Webhooks (docs/webhooks.md): tell the deployment's webhook when the run waits for a person
   * and when it ends. Only the flag: the URL and the secret are the worker's settings, never in
   * the history.
   */
  notify?: boolean;
}

/**
 * Fair share (issue 17): whose run it is and the deployment's limits. At most `perUser` runs of
 * one owner and `total` runs in all hold a slot; the others wait in the scheduler's queue, first
 * in first out per owner and owner by owner (the least recently served owner first).
 */
export interface QueueInput {
  /** The signed-in user, or a fixed name without access control. */
  owner: string;
  perUser: number;
  total: number;
  /** How often the scheduler looks for runs that ended without giving their slot back (default 30 s). */
  checkIntervalMs?: number;
}

export const SCHEDULER_WORKFLOW_NAME = 'schedulerWorkflow';

/** One scheduler per task queue: the deployment's (tests use a task queue each, so a scheduler each). */
export function schedulerWorkflowId(taskQueue: string): string {
  return `buildstory-scheduler:${taskQueue}`;
}

/**
 * A run asks the scheduler for a slot (idempotent by workflow id). `submittedAt` (the run's start,
 * epoch ms) orders an owner's runs: requests reach the scheduler in whatever order their
 * activities ran, not in the order the runs were submitted.
 */
export interface SlotRequest extends QueueInput {
  workflowId: string;
  runId: string;
  submittedAt: number;
}

/** The scheduler gives a run its slot: the `order`-th grant, after `passedBy` others were granted while it waited. */
export interface SlotGrant {
  order: number;
  passedBy: number;
}

/** Where a run stands in the scheduler: queued with `ahead` runs before it, or holding a slot. */
export type QueuePosition = { state: 'queued'; ahead: number } | { state: 'running' };

/** The scheduler at a glance (its `status` query). */
export interface SchedulerStatus {
  limits: { perUser: number; total: number } | null;
  running: number;
  queued: number;
  /** Slots given so far, in all. */
  grants: number;
  owners: Record<string, { running: number; queued: number }>;
}

/**
 * A run's limits; each one absent means none. Tokens and cost count every model call (planning
 * included); time is the run's wall-clock time from its start, waits for review excluded; steps
 * is how many steps may run.
 */
export interface Budget {
  tokens?: number;
  /** US dollars; needs a model with a price. */
  cost?: number;
  timeMs?: number;
  steps?: number;
}
export type BudgetKind = keyof Budget;

/** What is left of a run's token and cost limits for one model call (the activity turns it into max_tokens). */
export interface CallBudget {
  tokens?: number;
  cost?: number;
}

/** The failure type of a model call refused or cut short by its budget. */
export const BUDGET_REACHED_ERROR_TYPE = 'BudgetReached';

/** A deployment's review timeout unless it sets one: 7 days. */
export const REVIEW_TIMEOUT_DEFAULT_MS = 7 * 24 * 60 * 60 * 1000;

/** The run a re-run came from, and the first step it runs (0-based). */
export interface RunLink {
  workflowId: string;
  runId: string;
  fromStep: number;
}

/** One step of the parent kept by a re-run: its output, not recomputed. */
export interface KeptStep {
  output: string;
  truncated: boolean;
  usage: TokenUsage | null;
}

/**
 * "Edit and re-run from step k": the parent's plan with the steps from `parent.fromStep` on as
 * the person edited them (a PlanEdit, checked and applied by the workflow with applyPlanEdit),
 * and the outputs of the steps before, which the new run keeps. At most LIMITS.planMaxSteps ×
 * LIMITS.stepOutputMaxChars characters of kept output: well within one payload.
 */
export interface RerunInput {
  parent: RunLink;
  /** The parent's plan and the model that made it. */
  plan: Plan;
  model: ModelInfo;
  kept: KeptStep[];
  edit: PlanEdit;
  /** Who asked for the re-run (the signed-in user; null without access control). */
  by: string | null;
}

/** One step of a plan (validated by PlanStepSchema). */
export interface PlanStep {
  title: string;
  instructions: string;
  /** This step writes code and its tests in this language: its output is verified (absent in plans made before verification). */
  code?: CodeSpec;
}

/** The languages verification runs tests for (docs/verification.md). */
export const CODE_LANGUAGES = ['python', 'node', 'bash'] as const;
export type CodeLanguage = (typeof CODE_LANGUAGES)[number];

export interface CodeSpec {
  language: CodeLanguage;
}

/** The model's plan (validated by PlanSchema). */
export interface Plan {
  summary: string;
  steps: PlanStep[];
}

/**
 * A person's version of the steps from a review point on (the steps before it are locked). Each
 * step names the step it came from (its index in the plan under review) or null when added, so
 * the story can tell what changed, step by step.
 */
export interface PlanEditStep {
  from: number | null;
  title: string;
  instructions: string;
  /** Wait for a person again before this step runs. */
  ask?: boolean;
}

export interface PlanEdit {
  steps: PlanEditStep[];
}

/** One change a review made to a plan, for the story's audit trail. Indices are 0-based. */
export type PlanChange =
  | { kind: 'added'; index: number; title: string }
  | { kind: 'removed'; from: number; title: string }
  | { kind: 'moved'; from: number; index: number; title: string }
  | { kind: 'edited'; index: number; field: 'title' | 'instructions'; before: string; after: string };

/** One change in words, for the story as people read it. */
export function describeChange(change: PlanChange): string {
  switch (change.kind) {
    case 'added':
      return `added step ${change.index + 1} "${change.title}"`;
    case 'removed':
      return `removed step ${change.from + 1} "${change.title}"`;
    case 'moved':
      return `moved "${change.title}" from step ${change.from + 1} to step ${change.index + 1}`;
    case 'edited':
      return `changed the ${change.field} of step ${change.index + 1}`;
  }
}

/**
 * Where a run waits for a person: after planning, before a step marked "ask before running", or
 * (with review on) where a limit of its budget was reached, before step `stepIndex`.
 */
export type ReviewStage =
  | { kind: 'plan' }
  | { kind: 'step'; stepIndex: number }
  | { kind: 'budget'; budget: BudgetKind; used: number; limit: number; stepIndex: number };

/**
 * A person's answer to a review (the `review` update). `requestId` is also the update's id: the
 * workflow applies one request once, even when Temporal no longer remembers the id.
 */
export interface ReviewRequest {
  requestId: string;
  /** The review being answered (StoryState.review.revision): an answer to an older one is refused. */
  revision: number;
  /** The signed-in user, as the web app knows them; null without access control. */
  by: string | null;
  decision: 'approve' | 'reject';
  /** Approve only: the steps from the review point on, as edited; absent = approved as proposed. */
  edit?: PlanEdit;
  /** Reject only: why. */
  reason?: string;
  /** Approve at a budget stop only: the new limits (up to the cap; the one reached above what is used). */
  budget?: Budget;
}

/** What the `review` update answers. */
export interface ReviewOutcome {
  requestId: string;
  revision: number;
  decision: 'approve' | 'reject';
  by: string | null;
  /** The changes the approval made to the plan (none for a rejection). */
  changes: PlanChange[];
}

export interface TokenUsage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  /** Counted here, not reported by the endpoint (a stream cut short carries no usage). */
  estimated?: boolean;
}

/** What a model costs, in US dollars per million tokens (the deployment's price table). */
export interface Price {
  inputPerMillion: number;
  outputPerMillion: number;
}

/** Which model did the work; `offline` marks the embedded deterministic model. */
export interface ModelInfo {
  name: string;
  offline: boolean;
  /** Its price; null or absent when the price table does not know it ("no price", never a guess). */
  price?: Price | null;
}

/** The cost of one call in US dollars, or null without a price (or without usage). */
export function costOf(usage: TokenUsage | null | undefined, price: Price | null | undefined): number | null {
  if (!usage || !price) return null;
  return (usage.promptTokens * price.inputPerMillion + usage.completionTokens * price.outputPerMillion) / 1_000_000;
}

/** Tokens in a text, roughly (four characters to a token): for estimates while a step streams. */
export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

/**
 * Tokens a prompt will take, erring high (three characters to a token and eight a message), so a
 * call capped by a budget does not pass it through a prompt counted short.
 */
export function estimatePromptTokens(messages: ReadonlyArray<{ content?: unknown }>): number {
  return messages.reduce<number>((sum, m) => sum + 8 + (typeof m.content === 'string' ? Math.ceil(m.content.length / 3) : 0), 0);
}

/**
 * The most completion tokens a call may use: what is left of the token and cost limits after the
 * prompt. Infinity without limits; 0 or less means the call must not be made. A cost limit needs
 * a price: without one it cannot be held, and the answer is NaN.
 */
export function completionAllowance(budget: CallBudget | undefined, promptTokens: number, price: Price | null | undefined): number {
  let allowed = Infinity;
  if (budget?.tokens !== undefined) allowed = Math.min(allowed, Math.floor(budget.tokens - promptTokens));
  if (budget?.cost !== undefined) {
    if (!price) return NaN;
    const left = budget.cost - (promptTokens * price.inputPerMillion) / 1_000_000;
    allowed = Math.min(
      allowed,
      price.outputPerMillion > 0 ? Math.floor((left * 1_000_000) / price.outputPerMillion) : left >= 0 ? Infinity : -1,
    );
  }
  return allowed;
}

/**
 * What a run has spent so far: tokens of every call, and the cost of those with a price. `unpriced`
 * counts calls whose model has no price (their tokens are in `tokens`, their cost nowhere);
 * `estimated` says some usage was counted here rather than reported by the endpoint.
 */
export interface Spend {
  tokens: number;
  cost: number;
  unpriced: number;
  estimated: boolean;
}

export interface PlanResult {
  plan: Plan;
  model: ModelInfo;
  usage: TokenUsage | null;
}

export interface StepInput {
  task: string;
  plan: Plan;
  stepIndex: number;
  /** Bounded digest of earlier step outputs. */
  digest: string;
  /** A code step written again because its tests did not pass: this round and the last round's report. */
  verification?: VerificationRetry;
  /** What is left of the run's limits; the call is capped to it. */
  budget?: CallBudget;
}

export interface PlanInput {
  task: string;
  budget?: CallBudget;
}

export interface StepResult {
  output: string;
  truncated: boolean;
  model: ModelInfo;
  usage: TokenUsage | null;
  /** The output was cut where the budget ran out. */
  budgetReached?: BudgetKind;
}

/* ----------------------------------------------------------------------------------------- */
/* The story                                                                                 */
/* ----------------------------------------------------------------------------------------- */

/** `stepIndex: null` is the planning phase. */
export type StoryEventBody =
  | { type: 'run.started'; task: string; parent?: RunLink }
  /** Fair share: the run waits for a slot (QueueInput). */
  | { type: 'run.queued'; owner: string }
  /** The run got its slot: the scheduler's `order`-th grant, `passedBy` others started while it waited. */
  | { type: 'run.dequeued'; order: number; passedBy: number }
  | { type: 'plan.ready'; plan: Plan; model: ModelInfo; usage?: TokenUsage | null; cost?: number | null }
  /** A re-run keeps a step of its parent: its output, not recomputed. */
  | { type: 'step.kept'; stepIndex: number; output: string; truncated: boolean; usage: TokenUsage | null }
  /** The run waits for a person (see ReviewStage) until `deadline`. */
  | { type: 'review.waiting'; revision: number; stage: ReviewStage; deadline: string }
  /** A person changed the plan: `plan` is the whole new plan, `ask` the steps that will wait again. */
  | { type: 'plan.edited'; by: string | null; changes: PlanChange[]; plan: Plan; ask: number[] }
  /** `requestId` names the answer (ReviewRequest.requestId), so a resend after the run ended can find it. */
  | { type: 'review.approved'; revision: number; by: string | null; requestId: string }
  | { type: 'review.rejected'; revision: number; by: string | null; reason: string; requestId: string }
  | { type: 'review.expired'; revision: number }
  /** A limit of the run's budget was reached: the run stops here. */
  | { type: 'budget.reached'; kind: BudgetKind; used: number; limit: number }
  /** At a budget stop, a person raised the limits: the run goes on under these. */
  | { type: 'budget.raised'; by: string | null; budget: Budget }
  | { type: 'step.started'; stepIndex: number; title: string }
  | {
      type: 'step.output';
      stepIndex: number;
      attempt: number;
      text: string;
      /** Set on the chunk where the output reached LIMITS.stepOutputMaxChars and text was dropped. */
      truncated?: true;
    }
  | { type: 'step.retrying'; stepIndex: number | null; attempt: number; reason: string }
  | {
      type: 'step.finished';
      stepIndex: number;
      durationMs: number;
      attempts: number;
      usage: TokenUsage | null;
      /** US dollars, from the model's price; null without a price. */
      cost?: number | null;
      truncated: boolean;
      /**
       * The step's final output, only when the output events before do not add up to it: the
       * result did not continue what was streamed, or the story's event cap dropped chunks.
       */
      output?: string;
    }
  /** Verification: a code step's files go to the sandbox with their tests (round 1, then once per fix). */
  | { type: 'step.verifying'; stepIndex: number; round: number }
  | { type: 'step.verified'; stepIndex: number; report: VerificationReport }
  /** The tests failed and rounds are left: the step is written again, the failure in its prompt. */
  | { type: 'step.fixing'; stepIndex: number; round: number; reason: string }
  | { type: 'run.completed'; result: string }
  | { type: 'run.failed'; error: string }
  | { type: 'run.cancelled' }
  /** Webhooks: the receiver took `event` (HTTP 2xx) at the attempt-th try; `deliveryId` is its webhook-id. */
  | { type: 'webhook.delivered'; event: WebhookEventType; deliveryId: string; attempts: number; status: number }
  /** Webhooks: no attempt succeeded in WEBHOOK_LIMITS' time; `status` is the last answer's (null: no answer). */
  | { type: 'webhook.failed'; event: WebhookEventType; deliveryId: string; attempts: number | null; status: number | null; error: string };

export type StoryEvent = StoryEventBody & {
  /** 1, 2, 3... within one run. A reset starts a new run whose numbers begin again. */
  seq: number;
  /** ISO time, from the workflow's deterministic clock. */
  at: string;
};
export type StoryEventType = StoryEvent['type'];

/**
 * `rejected` and `expired` end a run that waited for a review, `budget-reached` one that reached
 * a limit of its budget; Temporal calls those runs completed.
 */
export type RunStatus = 'running' | 'completed' | 'failed' | 'cancelled' | 'rejected' | 'expired' | 'budget-reached';
export type StepStatus = 'pending' | 'running' | 'retrying' | 'completed' | 'failed' | 'cancelled';

export interface StepState {
  index: number;
  title: string;
  instructions: string;
  status: StepStatus;
  attempt: number;
  /** Output of the current attempt (the final output once completed). */
  output: string;
  truncated: boolean;
  startedAt: string | null;
  durationMs: number | null;
  usage: TokenUsage | null;
  /** US dollars; null without a price or before the step finished. */
  cost: number | null;
  /** A person asked to be asked before this step runs. */
  ask: boolean;
  /** Kept from the parent run by a re-run: not run here. */
  kept: boolean;
  /** A code step's verification, its latest round; absent for other steps (and in stories from before verification). */
  verification?: StepVerification | null;
}

/** Where a code step's verification stands: its latest round, running or with its report. */
export interface StepVerification {
  round: number;
  status: 'running' | VerificationVerdict;
  /** The report of this round; while it runs, the last round's (null on the first). */
  report: VerificationReport | null;
}

/** The review a run waits for now. */
export interface ReviewWait {
  revision: number;
  stage: ReviewStage;
  since: string;
  deadline: string;
}

export interface ProgressQueryArgs {
  /** Return events with seq > after. */
  after?: number;
  limit?: number;
}

/** What a story's events add up to: contract/story-reducer.ts folds them, in the workflow and the page alike. */
export interface StoryState {
  status: RunStatus;
  task: string;
  startedAt: string;
  closedAt: string | null;
  planning: { status: StepStatus; attempt: number };
  plan: Plan | null;
  model: ModelInfo | null;
  steps: StepState[];
  result: string | null;
  /** Why the run did not complete: its failure, or who rejected it and why, or that it expired. */
  error: string | null;
  /** The review the run waits for now, if any. */
  review: ReviewWait | null;
  /** Fair share: the run waits for a slot since then (its place in line is the scheduler's to say). */
  queue: { since: string } | null;
  /** The run this one re-runs, if it is a re-run. */
  parent: RunLink | null;
  /** Tokens and cost of every model call that finished (planning and steps; kept steps cost nothing here). */
  spend: Spend;
  /**
   * Whether the run's code passed its tests: true when every verified step's last round passed,
   * false when one did not (the run is "Completed, not verified"), null when no step was verified.
   * Absent in stories from before verification.
   */
  verified?: boolean | null;
  /** Sequence number of the newest event in the story. */
  lastSeq: number;
}

/** The state and a page of the events it came from: what the progress query answers. */
export interface ProgressSnapshot extends StoryState {
  /** The requested page of events (seq > after), oldest first. */
  events: StoryEvent[];
  /** True when more events follow this page. */
  hasMore: boolean;
}

/** A page of the story's events without the state they add up to: what a live viewer needs. */
export interface StoryPage {
  status: RunStatus;
  /** Sequence number of the newest event in the story. */
  lastSeq: number;
  /** The requested page of events (seq > after), oldest first. */
  events: StoryEvent[];
  /** True when more events follow this page. */
  hasMore: boolean;
}

/* ----------------------------------------------------------------------------------------- */
/* Progress reported by activities, as signals                                               */
/* ----------------------------------------------------------------------------------------- */

/**
 * `offset` is the length of the attempt's output before `text`: the workflow applies a chunk only
 * when it continues the output exactly, so a redelivered or reordered signal changes nothing.
 */
export type ActivityProgress =
  | { kind: 'attempt.started'; stepIndex: number | null; attempt: number }
  | { kind: 'attempt.failed'; stepIndex: number | null; attempt: number; reason: string }
  | { kind: 'output'; stepIndex: number; attempt: number; offset: number; text: string };

/**
 * One signal carries a batch. `runId` is the run whose activity reported it: a reset copies and
 * reapplies signals into a new run, which must not take another run's progress for its own.
 */
export interface ProgressReport {
  runId: string;
  items: ActivityProgress[];
}

/* ----------------------------------------------------------------------------------------- */
/* The workflow, as its callers see it                                                       */
/* ----------------------------------------------------------------------------------------- */

/**
 * taskWorkflow's signature (workflows/index.ts implements it). Clients start it by WORKFLOW_NAME
 * with this type, so they never load the workflow's code.
 */
export type TaskWorkflow = (input: TaskInput) => Promise<ProgressSnapshot>;

/**
 * The memo field that carries a run's new story events into its history: each workflow task that
 * records events upserts them here (StoryEvent[], the events since the last upsert), so the
 * history holds the whole story in order and the web app's watcher reads it from the history it
 * long-polls anyway, with no query a busy run could hold. The memo itself keeps only the last batch.
 */
export const STORY_MEMO_FIELD = 'story';

/** The name of taskWorkflow's review update (contract/messages.ts defines it). */
export const REVIEW_UPDATE_NAME = 'review';

/**
 * Keyword search attributes taskWorkflow sets, so that lists and the Temporal UI can filter:
 * `BuildstoryState` on runs that wait for reviews (REVIEW_STATES), `BuildstoryParent` on a
 * re-run (its parent's workflow id). The deployment must create them (the project's scripts do).
 */
export const STATE_SEARCH_ATTRIBUTE = 'BuildstoryState';
export const PARENT_SEARCH_ATTRIBUTE = 'BuildstoryParent';
export const REVIEW_STATES = {
  waiting: 'waiting-for-review',
  running: 'running',
  rejected: 'rejected',
  expired: 'expired',
  cancelled: 'cancelled',
  budgetReached: 'budget-reached',
  /** Fair share: waiting for a slot. */
  queued: 'queued',
} as const;

/* ----------------------------------------------------------------------------------------- */
/* Webhooks                                                                                  */
/* ----------------------------------------------------------------------------------------- */

/** What a webhook is told: the run waits for a person (a review), or the run ended (any way). */
export type WebhookEventType = 'run.waiting' | 'run.ended';

/**
 * One delivery, as the workflow asks the deliverWebhook activity for it. Ids, status and times
 * only: a task, a plan or an error message may be sensitive (they are encrypted in Temporal when
 * payload encryption is on), so none of them leaves in a webhook.
 */
export interface WebhookRequest {
  event: WebhookEventType;
  /** The webhook-id header: the same on every attempt (and replay), so a receiver can drop duplicates. */
  deliveryId: string;
  workflowId: string;
  runId: string;
  /** The run's status when the event happened (`running` while it waits). */
  status: RunStatus;
  /** When the event happened in the story (ISO): the payload's timestamp. */
  at: string;
  /** run.waiting: the review's revision, stage and deadline. */
  review?: { revision: number; stage: ReviewStage['kind']; deadline: string };
  /** The run's page, when the web app's public URL is known (TaskInput.appUrl). */
  url?: string;
}

/** A delivery the receiver took: its HTTP status, and at which attempt. */
export interface WebhookDelivery {
  status: number;
  attempts: number;
}

/** The failure a delivery attempt throws when the receiver answers other than 2xx (details: [WebhookAttemptDetails]). */
export const WEBHOOK_REJECTED_ERROR_TYPE = 'WebhookRejected';
/** A run that asks for webhooks on a worker without BUILDSTORY_WEBHOOK_URL: not retried. */
export const WEBHOOK_NOT_CONFIGURED_ERROR_TYPE = 'WebhookNotConfigured';
export interface WebhookAttemptDetails {
  attempt: number;
  status: number | null;
}

/**
 * The delivery id of a run's event: deterministic (the same for a retry and in a replay), and
 * different per run (a reset's new run notifies again) and per review.
 */
export function webhookDeliveryId(runId: string, event: WebhookEventType, revision?: number): string {
  return event === 'run.waiting' ? `bs_${runId}_waiting_${revision ?? 0}` : `bs_${runId}_ended`;
}

/** The final snapshot travels in the failure's details so a failed run renders without a worker. */
export const RUN_FAILED_ERROR_TYPE = 'TaskFailed';

/** Failure types raised by activities that Temporal must not retry. */
export const NON_RETRYABLE_LLM_ERRORS = {
  rejected: 'LlmRequestRejected',
  badOutput: 'LlmBadOutput',
} as const;

/**
 * Verification (issue 19): the files a code step wrote are run with their tests in the sandbox,
 * on a task queue of their own (verificationTaskQueue), by the verifyCode activity.
 */
export const VERIFICATION_TASK_QUEUE_SUFFIX = '-verification';

/** The queue verification runs on, beside a run's own task queue (a workflow knows its queue from workflowInfo). */
export function verificationTaskQueue(taskQueue: string): string {
  return `${taskQueue}${VERIFICATION_TASK_QUEUE_SUFFIX}`;
}

/** The verification queue beside DEFAULT_TASK_QUEUE. */
export const DEFAULT_VERIFICATION_TASK_QUEUE = verificationTaskQueue(DEFAULT_TASK_QUEUE);

export const VERIFY_LIMITS = {
  /** Rounds in all, the first included: a code step whose tests fail is written again up to rounds - 1 times. */
  roundsDefault: 2,
  roundsMax: 5,
  /** Files taken from one output; more is an error. */
  maxFiles: 20,
  maxFileBytes: 64 * 1024,
  maxTotalBytes: 256 * 1024,
  maxPathChars: 120,
  /** What a report keeps of each stream: its last lines, at most this many characters. */
  tailLines: 30,
  tailChars: 2_000,
} as const;

/** What verifyCode checks: one code step's output, in its plan's language. */
export interface VerifyInput {
  language: CodeLanguage;
  /** The step's output Markdown, files in fenced blocks (docs/verification.md). */
  output: string;
  /** 1 for the step's first output, 2 for the one written after a failed report, and so on. */
  round: number;
}

/**
 * passed: the tests ran and all passed. failed: they ran and some failed (or the runner exited
 * non-zero). error: no verdict on the code: no files, no tests found or run, a refused file, the
 * sandbox stopped it (deadline, memory, output), or there is no sandbox here.
 */
export type VerificationVerdict = 'passed' | 'failed' | 'error';

/** How the sandbox run ended (the sandbox's SandboxOutcome). */
export type VerificationOutcome = 'exited' | 'timed-out' | 'output-limit' | 'memory-limit' | 'killed';

export interface TestCounts {
  passed: number;
  /** Failures and errors together. */
  failed: number;
  /** passed + failed: skipped tests are in neither. */
  total: number;
}

export interface VerifiedFile {
  path: string;
  bytes: number;
  sha256: string;
}

export interface VerificationReport {
  verdict: VerificationVerdict;
  /** One line on why, for people and for the next round's prompt: "2 of 3 tests failed", "no test file found". */
  summary: string;
  language: CodeLanguage;
  round: number;
  /** What ran in /work; empty when nothing ran. */
  command: string[];
  /** From the runner's own summary; null when it printed none (or nothing ran). */
  tests: TestCounts | null;
  exitCode: number | null;
  /** null when nothing ran. */
  outcome: VerificationOutcome | null;
  /** The last lines of each stream, cleaned (no control characters or terminal escapes), bounded by VERIFY_LIMITS. */
  stdoutTail: string;
  stderrTail: string;
  durationMs: number;
  files: VerifiedFile[];
}

/** A report with nothing run yet: `fields` say the verdict and why, and whatever did run. */
export function verificationReport(
  language: CodeLanguage,
  round: number,
  fields: Partial<VerificationReport> & Pick<VerificationReport, 'verdict' | 'summary'>,
): VerificationReport {
  return {
    language,
    round,
    command: [],
    tests: null,
    exitCode: null,
    outcome: null,
    stdoutTail: '',
    stderrTail: '',
    durationMs: 0,
    files: [],
    ...fields,
  };
}

/** A code step's next round: its number and the report that sent it back. */
export interface VerificationRetry {
  round: number;
  previous: VerificationReport;
}
