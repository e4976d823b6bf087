/**
 * The reviewer: a person answering a run that waits for review, through the web app's review form
 * (POST /runs/<id>, devstack/form.ts), as the run page's contract says: one token per answer, the
 * same token resent until the answer has an outcome (a redirect), whatever is down meanwhile. It
 * learns that the run waits from the run's SSE client (the `review.waiting` events folded by the
 * story's reducer, as the page does) and answers after the planned delay.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { postReview, type ReviewForm } from '../devstack/form';
import type { Plan, PlanEdit, ReviewStage, StoryEvent, StoryState } from '../contract/data';
import { unchangedEdit } from '../contract/plan-edit';
import { emptyStory, foldStoryEvent } from '../contract/story-reducer';
import { rejectionReason, type CrashKind, type PlannedReview } from './plan';

/** Resolves right after the next kill -9 with the part killed, or with null after `timeoutMs`. */
export type NextKill = (timeoutMs: number) => Promise<CrashKind | null>;

/** An answer held for a crash is sent anyway after this long. */
const HOLD_FOR_CRASH_MS = 20_000;

/** One answer and what became of it. */
export interface SentAnswer {
  revision: number;
  stage: ReviewStage;
  decision: 'approve' | 'reject';
  edit: PlanEdit | null;
  token: string;
  /** When `review.waiting` reached the SSE client, and when the answer was first sent. */
  seenAt: number;
  sentAt: number;
  /** The part that was down when the answer was first sent (held for a kill -9), or null. */
  sentWhileDown: CrashKind | null;
  /** When a redirect said the answer has an outcome; null if none came before the deadline. */
  outcomeAt: number | null;
  /** Posts of the same token: 1 when the first had an outcome. */
  attempts: number;
  /** Why a post had no outcome: 503 and other statuses, or 'network' (the web app down). */
  misses: Array<number | 'network'>;
  /** A 409's body: the app refused the answer. */
  refused: string | null;
}

/** Between two posts of the same token. */
const RESEND_DELAY_MS = 500;
/** One post may wait this long (the app's own Temporal deadline is shorter). */
const POST_TIMEOUT_MS = 20_000;

/** The edit an `approve-edited` review sends: step 1's instructions changed, the last step removed (from three on), a step added. */
export function harnessEdit(plan: Plan, runIndex: number): PlanEdit {
  const edit = unchangedEdit(plan, 0);
  const [first, ...rest] = edit.steps;
  const kept = plan.steps.length >= 3 ? rest.slice(0, -1) : rest;
  return {
    steps: [
      { ...first, instructions: `Edited by the fault harness (run ${runIndex}): ${first.instructions}` },
      ...kept,
      { from: null, title: `Closing note for run ${runIndex}`, instructions: 'Add one closing sentence.' },
    ],
  };
}

export class RunReviewer {
  readonly answers: SentAnswer[] = [];
  private state: StoryState = emptyStory();
  private readonly work: Promise<void>[] = [];

  constructor(
    private readonly base: string,
    private readonly workflowId: string,
    private readonly runIndex: number,
    private readonly review: PlannedReview,
    private readonly deadline: number,
    private readonly nextKill: NextKill,
  ) {}

  /** Give it every story event the run's SSE client receives. */
  readonly onStory = (event: StoryEvent): void => {
    this.state = foldStoryEvent(this.state, event);
    const waiting = this.state.review;
    if (!waiting || this.answers.some((a) => a.revision === waiting.revision) || !this.state.plan) return;
    const nth = this.answers.length;
    const answer: SentAnswer = {
      revision: waiting.revision,
      stage: waiting.stage,
      ...this.decide(waiting.stage, this.state.plan),
      token: randomUUID(),
      seenAt: Date.now(),
      sentAt: 0,
      sentWhileDown: null,
      outcomeAt: null,
      attempts: 0,
      misses: [],
      refused: null,
    };
    this.answers.push(answer);
    this.work.push(this.send(answer, this.review.delaysMs[nth] ?? 0, this.review.atCrash[nth] ?? false));
  };

  /** Every answer sent has an outcome, a refusal, or reached the deadline. */
  async settled(): Promise<void> {
    await Promise.all(this.work);
  }

  private decide(stage: ReviewStage, plan: Plan): Pick<SentAnswer, 'decision' | 'edit'> {
    if (this.review.kind === 'reject') return { decision: 'reject', edit: null };
    if (stage.kind === 'step') return { decision: 'approve', edit: null };
    if (this.review.kind === 'approve-edited') return { decision: 'approve', edit: harnessEdit(plan, this.runIndex) };
    if (this.review.kind === 'step-gate') return { decision: 'approve', edit: unchangedEdit(plan, 0, [plan.steps.length - 1]) };
    return { decision: 'approve', edit: null };
  }

  private async send(answer: SentAnswer, delayMs: number, atCrash: boolean): Promise<void> {
    if (atCrash) answer.sentWhileDown = await this.nextKill(HOLD_FOR_CRASH_MS);
    else await sleep(delayMs);
    answer.sentAt = Date.now();
    const form: ReviewForm =
      answer.decision === 'reject'
        ? { decision: 'reject', revision: answer.revision, token: answer.token, reason: rejectionReason(this.runIndex) }
        : { decision: 'approve', revision: answer.revision, token: answer.token, ...(answer.edit ? { edit: answer.edit } : {}) };
    while (Date.now() < this.deadline) {
      answer.attempts++;
      try {
        const posted = await postReview(this.base, this.workflowId, form, { signal: AbortSignal.timeout(POST_TIMEOUT_MS) });
        if (posted.kind === 'outcome') {
          answer.outcomeAt = Date.now();
          return;
        }
        if (posted.kind === 'refused') {
          answer.refused = `${posted.status}: ${posted.text}`;
          return;
        }
        answer.misses.push(posted.status);
      } catch {
        answer.misses.push('network');
      }
      await sleep(RESEND_DELAY_MS);
    }
  }
}
