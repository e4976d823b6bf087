/**
 * Verification: once every run has been followed, each is checked against Temporal
 * (@temporalio/client) and the LLM server's call log: its end state, the events its SSE client
 * saw against the final story, LLM calls for work whose activity had already completed, and the
 * time from each fault to the next progress event.
 */
import { isDeepStrictEqual } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApplicationFailure, Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import type { LlmCall } from '../tests/fixtures/llm-server';
import {
  RUN_FAILED_ERROR_TYPE,
  VERIFY_LIMITS,
  type Plan,
  type ProgressSnapshot,
  type RunStatus,
  type StoryEvent,
  type VerificationVerdict,
  type VerifiedFile,
} from '../contract/data';
import { applyPlanEdit } from '../contract/plan-edit';
import type { RunFollower } from './follower';
import type { CodeKind, FaultKind, FaultPlan, FaultTarget, PlannedRun, ReviewKind } from './plan';
import type { RunReviewer, SentAnswer } from './reviewer';

/** A review run's answers against its story and its LLM calls. */
export interface ReviewReport {
  kind: ReviewKind;
  answers: Array<Omit<SentAnswer, 'edit'> & { edited: boolean }>;
  /** Answers not refused that never got an outcome before the deadline, or whose token is not on a decision in the story. */
  lost: number;
  /** Answers the app refused (409): none is expected, each was sent once per revision. */
  refused: number;
  /** Decisions recorded more than once for one answer's token (request id), and plan.edited beyond one per edit sent. */
  appliedTwice: number;
  /** Events in the story: review.waiting, review.approved, review.rejected, plan.edited. */
  events: { waiting: number; approved: number; rejected: number; edited: number };
  /** Approved runs: the final plan is the proposed plan with the edits sent, and exactly its steps went to the LLM. */
  planAsApproved: boolean | null;
  stepsAsApproved: boolean | null;
}

export interface RunReport {
  index: number;
  task: string;
  workflowId: string | null;
  runId: string | null;
  expected: PlannedRun['expected'];
  /** Status in Temporal (COMPLETED, FAILED, RUNNING...), or null when it was never found. */
  temporalStatus: string | null;
  /** The final story's status and error. */
  status: RunStatus | null;
  error: string | null;
  /** What the SSE client was told at the end (`end` event), or '204' when it got a 204 instead. */
  sseEnd: string | null;
  inExpectedState: boolean;
  lost: boolean;
  events: number;
  eventsLost: number;
  eventsDuplicated: number;
  eventsAltered: number;
  eventsOutOfOrder: number;
  /** Story frames for another run id than the final one (there are no resets here: must be 0). */
  foreignFrames: number;
  /** LLM calls for the plan or a step after its activity had completed in the run's history. */
  redone: Array<{ target: FaultTarget; at: number; completedAt: number }>;
  /** LLM calls beyond one per activity and one per programmed fault: attempts redone after crashes. */
  extraAttempts: number;
  sseConnections: number;
  /** For a run started with review on. */
  review: ReviewReport | null;
  /** For a code run: how its verification went, against the plan. */
  code: CodeReport | null;
  /** A completed run's files, as its verification reports recorded them (every round's): checked against the artifact store. */
  artifacts: VerifiedFile[];
  problems: string[];
}

/** A code run's verification as its final story tells it. */
export interface CodeReport {
  kind: CodeKind;
  /** The story's `verified` (null: no step was verified) and what the plan expects. */
  verified: boolean | null;
  expectedVerified: boolean;
  /** The code step's rounds (step.verified events) and their verdicts, in order. */
  verdicts: VerificationVerdict[];
  /** `verified` and the verdicts are what the plan expects. */
  asPlanned: boolean;
  /** verifyCode attempts beyond the first (a worker killed while its sandbox ran), from the history. */
  verifyRetries: number;
}

/** Attempts beyond the first of each verifyCode activity: the history keeps the last attempt's start. */
function verifyRetries(events: HistoryEvent[]): number {
  const verifications = new Set<string>();
  let retries = 0;
  for (const event of events) {
    if (event.activityTaskScheduledEventAttributes?.activityType?.name === 'verifyCode' && event.eventId != null)
      verifications.add(String(event.eventId));
    const started = event.activityTaskStartedEventAttributes;
    if (started?.scheduledEventId != null && verifications.has(String(started.scheduledEventId)))
      retries += Math.max(0, (started.attempt ?? 1) - 1);
  }
  return retries;
}

export interface FaultRecord {
  kind: FaultKind;
  at: number;
  /** The run aimed at (LLM faults), or null for a crash. */
  runIndex: number | null;
  detail: string;
  /** Time from the fault to the next story event, for each run it touched. */
  toNextProgressMs: number[];
  /** A crash: when the part was started again and answered. */
  backAt?: number;
  /** A PostgreSQL crash: from its restart until Temporal read from it again. */
  dependentsBackMs?: number;
  /** A worker crash: the activities (plan or step) running on that worker when it was killed. */
  activitiesInFlight?: number;
}

/** A call in the LLM server's log, with the task it was for. */
export interface LoggedCall extends LlmCall {
  task: string;
}

type HistoryEvent = NonNullable<Awaited<ReturnType<ReturnType<Client['workflow']['getHandle']>['fetchHistory']>>['events']>[number];

function eventMs(event: HistoryEvent): number {
  const time = event.eventTime;
  return Number(time?.seconds?.toString() ?? 0) * 1_000 + Math.floor((time?.nanos ?? 0) / 1e6);
}

/**
 * What an LLM call was for: the plan, or a step in a round (a code step whose tests failed is
 * written again, round 2 on: not redone work). `plan`, `step 0`, `step 0 round 2`.
 */
type Work = string;
const workOf = (target: FaultTarget, round = 1): Work =>
  target === 'plan' ? 'plan' : `step ${target}${round > 1 ? ` round ${round}` : ''}`;
/** The round a step call is for: the one its prompt names (activities/llm/prompts.ts), 1 without. */
const callWork = (call: LlmCall): Work =>
  call.kind === 'plan'
    ? 'plan'
    : workOf(call.stepIndex ?? -1, Number(/^Round (\d+): the tests of your last version did not pass/m.exec(call.prompt)?.[1] ?? 1));
const targetOf = (call: LlmCall): FaultTarget => (call.kind === 'plan' ? 'plan' : (call.stepIndex ?? -1));

/** When each activity (the plan, each step in each round) completed in the run's history. */
function completions(events: HistoryEvent[]): Map<Work, number> {
  const scheduled = new Map<string, Work>();
  const done = new Map<Work, number>();
  for (const event of events) {
    const attributes = event.activityTaskScheduledEventAttributes;
    if (attributes && event.eventId != null) {
      const name = attributes.activityType?.name;
      if (name === 'planTask') scheduled.set(String(event.eventId), 'plan');
      if (name === 'executeStep') {
        const input = defaultPayloadConverter.fromPayload<{ stepIndex: number; verification?: { round: number } }>(
          attributes.input?.payloads?.[0] as Payload,
        );
        scheduled.set(String(event.eventId), workOf(input.stepIndex, input.verification?.round));
      }
    }
    const completed = event.activityTaskCompletedEventAttributes;
    if (completed?.scheduledEventId != null) {
      const target = scheduled.get(String(completed.scheduledEventId));
      if (target !== undefined && !done.has(target)) done.set(target, eventMs(event));
    }
  }
  return done;
}

async function finalState(
  client: Client,
  workflowId: string,
): Promise<{
  runId: string;
  temporalStatus: string;
  snapshot: ProgressSnapshot | null;
  history: HistoryEvent[];
}> {
  const handle = client.workflow.getHandle(workflowId);
  // Give a run that is still open a while to close: the harness reports it lost otherwise.
  const deadline = Date.now() + 30_000;
  let description = await handle.describe();
  while (description.status.name === 'RUNNING' && Date.now() < deadline) {
    await sleep(1_000);
    description = await handle.describe();
  }
  const runHandle = client.workflow.getHandle(workflowId, description.runId);
  let snapshot: ProgressSnapshot | null = null;
  if (description.status.name === 'COMPLETED') snapshot = (await runHandle.result()) as ProgressSnapshot;
  if (description.status.name === 'FAILED') {
    try {
      await runHandle.result();
    } catch (err) {
      const failure = err instanceof WorkflowFailedError ? err.cause : undefined;
      if (failure instanceof ApplicationFailure && failure.type === RUN_FAILED_ERROR_TYPE) {
        snapshot = (failure.details?.[0] as ProgressSnapshot | undefined) ?? null;
      }
    }
  }
  const history = (await runHandle.fetchHistory()).events ?? [];
  return { runId: description.runId, temporalStatus: description.status.name, snapshot, history };
}

/** Check every planned run against Temporal at `address`, the run's SSE follower and the LLM call log. */
export async function verifyRuns(
  address: string,
  plan: FaultPlan,
  workflowIds: Map<number, string>,
  followers: Map<number, RunFollower>,
  reviewers: Map<number, RunReviewer>,
  submitErrors: Map<number, string>,
  calls: LoggedCall[],
): Promise<RunReport[]> {
  const connection = await Connection.connect({ address });
  const client = new Client({ connection });
  try {
    const reports: RunReport[] = [];
    for (const run of plan.runs) {
      reports.push(
        await verifyRun(
          client,
          run,
          workflowIds.get(run.index) ?? null,
          followers.get(run.index),
          reviewers.get(run.index),
          submitErrors.get(run.index),
          calls,
        ),
      );
    }
    return reports;
  } finally {
    await connection.close();
  }
}

async function verifyRun(
  client: Client,
  run: PlannedRun,
  workflowId: string | null,
  follower: RunFollower | undefined,
  reviewer: RunReviewer | undefined,
  submitError: string | undefined,
  allCalls: LoggedCall[],
): Promise<RunReport> {
  const report: RunReport = {
    index: run.index,
    task: run.task,
    workflowId,
    runId: null,
    expected: run.expected,
    temporalStatus: null,
    status: null,
    error: null,
    sseEnd: follower?.end?.status ?? (follower?.got204 ? '204' : null),
    inExpectedState: false,
    lost: true,
    events: 0,
    eventsLost: 0,
    eventsDuplicated: 0,
    eventsAltered: 0,
    eventsOutOfOrder: 0,
    foreignFrames: 0,
    redone: [],
    extraAttempts: 0,
    sseConnections: follower?.connections ?? 0,
    review: null,
    code: null,
    artifacts: [],
    problems: [],
  };
  if (!workflowId || !follower) {
    report.problems.push(`never submitted: ${submitError ?? 'unknown'}`);
    return report;
  }
  let state: Awaited<ReturnType<typeof finalState>>;
  try {
    state = await finalState(client, workflowId);
  } catch (err) {
    report.problems.push(`not found in Temporal: ${(err as Error).message}`);
    return report;
  }
  const { runId, temporalStatus, snapshot, history } = state;
  Object.assign(report, { runId, temporalStatus, status: snapshot?.status ?? null, error: snapshot?.error ?? null });

  // The end state.
  const closed = temporalStatus === 'COMPLETED' || temporalStatus === 'FAILED';
  const sawEnd = follower.end !== null || follower.got204;
  report.lost = !closed || !snapshot || !sawEnd;
  if (!closed) report.problems.push(`still ${temporalStatus} in Temporal`);
  else if (!snapshot) report.problems.push(`${temporalStatus} without a final snapshot`);
  if (!sawEnd)
    report.problems.push(
      `the SSE client never saw the end (${follower.connections} connections, statuses ${JSON.stringify(follower.badStatuses)})`,
    );
  if (follower.end && follower.end.runId !== runId) report.problems.push(`the SSE end named run ${follower.end.runId}, not ${runId}`);
  if (follower.end && snapshot && follower.end.status !== snapshot.status) {
    report.problems.push(`the SSE end said ${follower.end.status}, the run is ${snapshot.status}`);
  }
  // Rejected runs complete in Temporal: the story says how.
  const statusMatches = snapshot?.status === run.expected && temporalStatus === (run.expected === 'failed' ? 'FAILED' : 'COMPLETED');
  const errorMatches = run.expected === 'completed' ? snapshot?.error === null : (run.expectedError?.test(snapshot?.error ?? '') ?? false);
  report.inExpectedState = !report.lost && statusMatches && errorMatches && (!follower.end || follower.end.status === run.expected);
  if (snapshot && !statusMatches)
    report.problems.push(`ended ${snapshot.status} (Temporal ${temporalStatus}), expected ${run.expected}: ${snapshot.error ?? ''}`);
  else if (snapshot && !errorMatches) report.problems.push(`failed with "${snapshot.error}", expected ${run.expectedError}`);
  // A review may change the steps; verifyReview checks those runs against what was approved.
  if (!run.review && snapshot?.status === 'completed' && snapshot.steps.length !== run.steps) {
    report.problems.push(`completed with ${snapshot.steps.length} steps, the plan had ${run.steps}`);
  }

  // Events: what the client saw for the final run against the final story.
  if (snapshot) {
    const expected = new Map(snapshot.events.map((e) => [e.seq, e]));
    report.events = snapshot.events.length;
    const seen = new Map<number, StoryEvent>();
    let previous = 0;
    for (const frame of follower.frames) {
      if (frame.event !== 'story') continue;
      const [frameRun, seqText] = (frame.id ?? '').split(':');
      if (frameRun !== runId) {
        report.foreignFrames++;
        continue;
      }
      const event = JSON.parse(frame.data) as StoryEvent;
      const seq = Number(seqText);
      if (event.seq !== seq) report.eventsAltered++;
      if (seen.has(seq)) {
        report.eventsDuplicated++;
        continue;
      }
      if (seq <= previous) report.eventsOutOfOrder++;
      previous = seq;
      seen.set(seq, event);
      if (!isDeepStrictEqual(event, expected.get(seq))) report.eventsAltered++;
    }
    report.eventsLost = [...expected.keys()].filter((seq) => !seen.has(seq)).length;
    if (report.eventsLost) report.problems.push(`${report.eventsLost} of ${report.events} events never reached the SSE client`);
    if (report.eventsDuplicated) report.problems.push(`${report.eventsDuplicated} events reached the SSE client twice`);
    if (report.eventsAltered) report.problems.push(`${report.eventsAltered} events differ from the final story`);
    if (report.eventsOutOfOrder) report.problems.push(`${report.eventsOutOfOrder} events arrived out of order`);
    if (report.foreignFrames) report.problems.push(`${report.foreignFrames} story frames of another run id`);
  }

  // Redone work: an LLM call for an activity (a step's round) after that activity had completed.
  const done = completions(history);
  const calls = allCalls.filter((c) => c.task === run.task);
  for (const call of calls) {
    const completedAt = done.get(callWork(call));
    if (completedAt !== undefined && call.at > completedAt) report.redone.push({ target: targetOf(call), at: call.at, completedAt });
  }
  for (const redo of report.redone) {
    report.problems.push(
      `${redo.target === 'plan' ? 'the plan' : `step ${redo.target + 1}`} was sent to the LLM again ${redo.at - redo.completedAt} ms after its activity completed`,
    );
  }
  for (const work of done.keys()) {
    const mine = calls.filter((c) => callWork(c) === work);
    report.extraAttempts += Math.max(0, mine.length - mine.filter((c) => c.rule).length - 1);
  }
  if (snapshot?.status === 'completed') {
    // Every round's files: each round's verification stored them before its tests ran.
    report.artifacts = snapshot.events.flatMap((e) => (e.type === 'step.verified' ? e.report.files : []));
    if (run.code && run.expected === 'completed') report.code = verifyCode(run, snapshot, verifyRetries(history), report.problems);
  }
  if (run.review) {
    if (!reviewer) report.problems.push('a review run without a reviewer');
    else if (snapshot) report.review = verifyReview(run, reviewer, snapshot, calls, report.problems);
  }
  return report;
}

/**
 * A code run that completed: the story's `verified` is what its plan expects (a run whose code
 * fails in every round completes all the same, "not verified"), after as many rounds as planned.
 */
function verifyCode(run: PlannedRun, snapshot: ProgressSnapshot, retries: number, problems: string[]): CodeReport {
  const code = run.code!;
  const verdicts = snapshot.events.flatMap((e) => (e.type === 'step.verified' && e.stepIndex === code.stepIndex ? [e.report.verdict] : []));
  // Round by round: failed while the bug is in, then passed; the run's rounds are the web app's default.
  const rounds = Math.min(code.failingRounds + 1, VERIFY_LIMITS.roundsDefault);
  const expected = Array.from({ length: rounds }, (_, i): VerificationVerdict => (i < code.failingRounds ? 'failed' : 'passed'));
  const verified = snapshot.verified ?? null;
  const asPlanned = verified === code.verified && isDeepStrictEqual(verdicts, expected);
  if (verified !== code.verified)
    problems.push(`a '${code.kind}' code run ended with verified ${String(verified)}, expected ${String(code.verified)}`);
  if (!isDeepStrictEqual(verdicts, expected))
    problems.push(`step ${code.stepIndex + 1}'s verification went ${JSON.stringify(verdicts)}, expected ${JSON.stringify(expected)}`);
  return { kind: code.kind, verified, expectedVerified: code.verified, verdicts, asPlanned, verifyRetries: retries };
}

/**
 * A review run: every answer sent had an outcome and was applied once (one review.approved or
 * review.rejected per answer, one plan.edited per edit, as many review.waiting as answers); an
 * approved run's final plan is the proposed plan with the edits sent, and exactly those steps went
 * to the LLM, in order, with the edited instructions; a rejected run sent no step to the LLM.
 */
function verifyReview(
  run: PlannedRun,
  reviewer: RunReviewer,
  snapshot: ProgressSnapshot,
  calls: LoggedCall[],
  problems: string[],
): ReviewReport {
  const answers = reviewer.answers;
  const count = (type: StoryEvent['type']) => snapshot.events.filter((e) => e.type === type).length;
  const events = {
    waiting: count('review.waiting'),
    approved: count('review.approved'),
    rejected: count('review.rejected'),
    edited: count('plan.edited'),
  };
  const sent = {
    approved: answers.filter((a) => a.decision === 'approve').length,
    rejected: answers.filter((a) => a.decision === 'reject').length,
    edited: answers.filter((a) => a.edit !== null).length,
  };
  const expectedAnswers = run.review!.kind === 'step-gate' ? 2 : 1;
  // Each answer's token is its request id, which the story records on review.approved / review.rejected.
  const decisions = snapshot.events.flatMap((e) => (e.type === 'review.approved' || e.type === 'review.rejected' ? [e] : []));
  const appliedTimes = (a: SentAnswer) => decisions.filter((e) => e.requestId === a.token).length;
  const lost = answers.filter((a) => a.refused === null && (a.outcomeAt === null || appliedTimes(a) === 0)).length;
  const refused = answers.filter((a) => a.refused !== null).length;
  const appliedTwice = answers.reduce((n, a) => n + Math.max(0, appliedTimes(a) - 1), 0) + Math.max(0, events.edited - sent.edited);
  const foreign = decisions.filter((e) => !answers.some((a) => a.token === e.requestId)).length;
  if (answers.length !== expectedAnswers) problems.push(`${answers.length} review answer(s) sent, ${expectedAnswers} planned`);
  for (const answer of answers) {
    if (answer.refused !== null) problems.push(`the review answer to revision ${answer.revision} was refused: ${answer.refused}`);
    else if (answer.outcomeAt === null)
      problems.push(`the review answer to revision ${answer.revision} never got an outcome (${answer.attempts} posts of its token)`);
    else if (appliedTimes(answer) === 0)
      problems.push(`the review answer to revision ${answer.revision} had an outcome but is not in the story`);
    else if (appliedTimes(answer) > 1)
      problems.push(`the review answer to revision ${answer.revision} was applied ${appliedTimes(answer)} times`);
  }
  if (foreign) problems.push(`${foreign} review decision(s) in the story that the harness did not send`);
  if (events.edited !== sent.edited) problems.push(`${events.edited} plan.edited event(s) for ${sent.edited} edit(s) sent`);
  if (events.waiting !== expectedAnswers) problems.push(`the run waited for review ${events.waiting} time(s), ${expectedAnswers} planned`);

  const stepCalls = calls.filter((c) => c.task === run.task && c.kind === 'step');
  let planAsApproved: boolean | null = null;
  let stepsAsApproved: boolean | null = null;
  if (run.review!.kind === 'reject') {
    if (stepCalls.length) problems.push(`a rejected run sent ${stepCalls.length} step(s) to the LLM`);
  } else {
    // The proposed plan (plan.ready) with every edit sent, in order, each from its review's locked steps.
    const proposed = snapshot.events.find((e) => e.type === 'plan.ready');
    let expected: Plan | null = proposed?.type === 'plan.ready' ? proposed.plan : null;
    for (const answer of answers) {
      if (!expected || !answer.edit) continue;
      const applied = applyPlanEdit(expected, answer.edit, answer.stage.kind === 'plan' ? 0 : answer.stage.stepIndex);
      expected = applied.ok ? applied.plan : null;
    }
    planAsApproved = expected !== null && isDeepStrictEqual(snapshot.plan?.steps, expected.steps);
    if (!planAsApproved)
      problems.push(`the final plan is not the approved one: ${JSON.stringify(snapshot.plan?.steps.map((s) => s.title))}`);
    // Each step of the approved plan went to the LLM (retries allowed) and nothing else did.
    const ran = [...new Set(stepCalls.map((c) => JSON.stringify([c.stepIndex, c.title])))]
      .map((pair) => JSON.parse(pair) as [number, string])
      .sort(([a], [b]) => a - b);
    const wanted = (expected?.steps ?? []).map((step, i) => [i, step.title]);
    const instructionsSent = (expected?.steps ?? []).every((step, i) =>
      stepCalls.some((c) => c.stepIndex === i && c.prompt.includes(step.instructions)),
    );
    stepsAsApproved = isDeepStrictEqual(ran, wanted) && instructionsSent;
    if (!stepsAsApproved) problems.push(`the steps sent to the LLM are not the approved ones: ${JSON.stringify(ran)}`);
  }
  return {
    kind: run.review!.kind,
    answers: answers.map(({ edit, ...rest }) => ({ ...rest, edited: edit !== null })),
    lost,
    refused,
    appliedTwice,
    events,
    planAsApproved,
    stepsAsApproved,
  };
}

/** Each LLM call a programmed rule answered is one fault, at the time it arrived. */
export function llmFaults(plan: FaultPlan, calls: LoggedCall[]): FaultRecord[] {
  const byTask = new Map(plan.runs.map((r) => [r.task, r]));
  const out: FaultRecord[] = [];
  for (const call of calls) {
    if (!call.rule) continue;
    const run = byTask.get(call.task);
    if (!run) continue;
    const target: FaultTarget = call.kind === 'plan' ? 'plan' : (call.stepIndex ?? -1);
    const fault = run.faults.find((f) => f.target === target);
    if (!fault) continue;
    out.push({
      kind: fault.kind,
      at: call.at,
      runIndex: run.index,
      detail: `run ${run.index}, ${target === 'plan' ? 'plan' : `step ${target + 1}`}`,
      toNextProgressMs: [],
    });
  }
  return out;
}

/** Crashes touch every run in flight; an LLM fault only its own run. */
export function progressAfter(fault: FaultRecord, followers: Map<number, RunFollower>): number[] {
  const touched =
    fault.runIndex === null
      ? [...followers.values()].filter((f) => f.frames.length > 0 && f.frames[0].at <= fault.at && (f.finishedAt ?? Infinity) > fault.at)
      : [followers.get(fault.runIndex)].filter((f): f is RunFollower => f !== undefined);
  return touched
    .map((f) => f.nextStoryAfter(fault.at))
    .filter((at): at is number => at !== null)
    .map((at) => at - fault.at);
}
