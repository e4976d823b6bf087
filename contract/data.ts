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

/** What a run is started with (validated by TaskInputSchema). */
export interface TaskInput {
  task: string;
}

/** One step of a plan (validated by PlanStepSchema). */
export interface PlanStep {
  title: string;
  instructions: string;
}

/** The model's plan (validated by PlanSchema). */
export interface Plan {
  summary: string;
  steps: PlanStep[];
}

export interface TokenUsage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
}

/** Which model did the work; `offline` marks the embedded deterministic model. */
export interface ModelInfo {
  name: string;
  offline: boolean;
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
}

export interface StepResult {
  output: string;
  truncated: boolean;
  model: ModelInfo;
  usage: TokenUsage | null;
}

/* ----------------------------------------------------------------------------------------- */
/* The story                                                                                 */
/* ----------------------------------------------------------------------------------------- */

/** `stepIndex: null` is the planning phase. */
export type StoryEventBody =
  | { type: 'run.started'; task: string }
  | { type: 'plan.ready'; plan: Plan; model: ModelInfo }
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
      truncated: boolean;
      /**
       * The step's final output, only when the output events before do not add up to it: the
       * result did not continue what was streamed, or the story's event cap dropped chunks.
       */
      output?: string;
    }
  | { type: 'run.completed'; result: string }
  | { type: 'run.failed'; error: string }
  | { type: 'run.cancelled' };

export type StoryEvent = StoryEventBody & {
  /** 1, 2, 3... within one run. A reset starts a new run whose numbers begin again. */
  seq: number;
  /** ISO time, from the workflow's deterministic clock. */
  at: string;
};
export type StoryEventType = StoryEvent['type'];

export type RunStatus = 'running' | 'completed' | 'failed' | 'cancelled';
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
  error: string | null;
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

/** The final snapshot travels in the failure's details so a failed run renders without a worker. */
export const RUN_FAILED_ERROR_TYPE = 'TaskFailed';

/** Failure types raised by activities that Temporal must not retry. */
export const NON_RETRYABLE_LLM_ERRORS = {
  rejected: 'LlmRequestRejected',
  badOutput: 'LlmBadOutput',
} as const;
