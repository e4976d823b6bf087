/**
 * Answering a review through the web app, over HTTP as a form does: the refusals a person sees at
 * once, and the guarantee the app keeps for the update's id (an answer sent while no worker can
 * confirm it says so, and sending it again with the same token applies it once).
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { answerReviewForm, formToken, submitTask, runIdFromRedirect } from '../devstack/form';
import { progressQuery } from '../contract/messages';
import { LIMITS, type ProgressSnapshot } from '../contract/data';
import { startStack, type Stack } from './setup/stack';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ name: 'review-web', model: 'offline' });
});
afterAll(async () => {
  await stack?.close();
});

async function startReviewedRun(): Promise<string> {
  const res = await submitTask(stack.base, 'Create a hello world python function', await formToken(stack.base), { review: true });
  const id = runIdFromRedirect(res);
  if (!id) throw new Error(`the form answered ${res.status}`);
  return id;
}

async function snapshot(workflowId: string): Promise<ProgressSnapshot> {
  return stack.env.client.workflow.getHandle(workflowId).query(progressQuery, { limit: LIMITS.eventsPageMax });
}

async function waitFor(workflowId: string, predicate: (s: ProgressSnapshot) => boolean): Promise<ProgressSnapshot> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const s = await snapshot(workflowId);
    if (predicate(s)) return s;
    if (Date.now() > deadline) throw new Error(`not reached; status ${s.status}, ${s.lastSeq} events`);
    await sleep(100);
  }
}

const count = (s: ProgressSnapshot, type: string) => s.events.filter((e) => e.type === type).length;

test('the home form starts a run that waits for review; bad answers are refused with the reason, and nothing changes', async () => {
  const id = await startReviewedRun();
  const waiting = await waitFor(id, (s) => s.review !== null);
  expect(waiting.review).toMatchObject({ revision: 1, stage: { kind: 'plan' } });
  const answer = (fields: Parameters<typeof answerReviewForm>[2]) => answerReviewForm(stack.base, id, fields);

  const noToken = await answer({ token: 'nope', revision: 1, decision: 'approve' });
  expect(noToken.status).toBe(400);
  expect(await noToken.text()).toContain('missing its token');

  const stale = await answer({ token: randomUUID(), revision: 7, decision: 'approve' });
  expect(stale.status).toBe(409);
  expect(await stale.text()).toContain('The plan changed since this page was loaded');

  const noReason = await answer({ token: randomUUID(), revision: 1, decision: 'reject', reason: '  ' });
  expect(noReason.status).toBe(409);
  expect(await noReason.text()).toContain('The reason cannot be empty');

  const badEdit = await answer({
    token: randomUUID(),
    revision: 1,
    decision: 'approve',
    edit: { steps: [{ from: 0, title: '', instructions: '' }] },
  });
  expect(badEdit.status).toBe(409);
  expect(await badEdit.text()).toContain('Step 1: A step title cannot be empty.');
  expect((await snapshot(id)).lastSeq).toBe(waiting.lastSeq);

  const reject = await answer({ token: randomUUID(), revision: 1, decision: 'reject', reason: 'Not now.' });
  expect(reject.status).toBe(302);
  const final = await waitFor(id, (s) => s.status !== 'running');
  expect(final).toMatchObject({ status: 'rejected', error: 'Rejected by someone: Not now.' });
});

test('an answer no worker can confirm says so; sent again with the same token it is applied once', async () => {
  const id = await startReviewedRun();
  const waiting = await waitFor(id, (s) => s.review !== null);
  await stack.stopWorker();
  const token = randomUUID();
  const edit = { steps: waiting.plan!.steps.slice(1).map((step, i) => ({ from: i + 1, ...step })) };
  try {
    const pending = await answerReviewForm(stack.base, id, { token, revision: 1, decision: 'approve', edit });
    expect(pending.status).toBe(503);
    expect(await pending.text()).toContain('no worker has confirmed it yet');
  } finally {
    await stack.startWorker();
  }
  // The person presses again: same token, same answer.
  const again = await answerReviewForm(stack.base, id, { token, revision: 1, decision: 'approve', edit });
  expect(again.status).toBe(302);
  const final = await stack.env.client.workflow.getHandle(id).result();
  expect(final.status).toBe('completed');
  expect(count(final as ProgressSnapshot, 'review.approved')).toBe(1);
  expect(count(final as ProgressSnapshot, 'plan.edited')).toBe(1);
  expect(final.plan!.steps).toEqual(waiting.plan!.steps.slice(1));
  // Once more after the end: the story has it, so the answer has its outcome, applied once.
  const late = await answerReviewForm(stack.base, id, { token, revision: 1, decision: 'approve', edit });
  expect(late.status).toBe(302);
  const other = await answerReviewForm(stack.base, id, { token: randomUUID(), revision: 1, decision: 'approve' });
  expect(other.status).toBe(409);
  expect(await other.text()).toContain('The run completed: there is no review to answer.');
});
