/**
 * People in the loop, on the real Temporal dev server with the real activities and the real openai
 * client against the test LLM server: plan review (approve with edits, reject, expiry), step gates,
 * the review update's refusals and its one-time application, and re-running from a step.
 */
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { startTestLlmServer, type TestLlmServer } from '../tests/fixtures/llm-server';
import { connectTestEnv, createTestWorker, sharedServer, uniqueTaskQueue, testLlmProvider, waitForSnapshot } from '../tests/setup/temporal';
import { ensureTemporalCli } from '../devstack/temporal';
import { progressQuery, reviewUpdate } from '../contract/messages';
import { unchangedEdit } from '../contract/plan-edit';
import { LIMITS, REVIEW_STATES, STATE_SEARCH_ATTRIBUTE, type ReviewRequest, type TaskInput } from '../contract/data';
import { taskWorkflow } from '.';

const run = promisify(execFile);

let env: TestWorkflowEnvironment;
let llm: TestLlmServer;

beforeAll(async () => {
  env = await connectTestEnv();
  llm = await startTestLlmServer();
});
afterAll(async () => {
  await llm?.close();
  await env?.teardown();
});
beforeEach(() => llm.reset());

const TASK = 'Create a hello world python function';

function start(taskQueue: string, input: Partial<TaskInput> = {}): Promise<WorkflowHandle<typeof taskWorkflow>> {
  return env.client.workflow.start(taskWorkflow, {
    taskQueue,
    workflowId: `wf-${taskQueue}`,
    args: [{ task: TASK, review: true, ...input }],
  });
}

const waitingReview = (handle: WorkflowHandle) => waitForSnapshot(handle, (s) => s.review !== null);

function answer(handle: WorkflowHandle, request: Omit<ReviewRequest, 'requestId'> & { requestId?: string }) {
  const requestId = request.requestId ?? randomUUID();
  return handle.executeUpdate(reviewUpdate, { args: [{ ...request, requestId }], updateId: requestId });
}

async function refusal(promise: Promise<unknown>): Promise<string> {
  const err = await promise.then(
    () => new Error('expected the update to be refused'),
    (e: unknown) => e,
  );
  if (!(err instanceof WorkflowUpdateFailedError)) throw err;
  return ((err as WorkflowUpdateFailedError).cause as Error).message;
}

async function stateAttribute(handle: WorkflowHandle): Promise<unknown> {
  const { typedSearchAttributes } = await handle.describe();
  return typedSearchAttributes.getAll().find((pair) => pair.key.name === STATE_SEARCH_ATTRIBUTE)?.value;
}

const stepCalls = () => llm.calls.filter((c) => c.kind === 'step');

test('a reviewed plan waits, refuses bad answers without changing anything, then runs exactly the approved edit', async () => {
  const taskQueue = uniqueTaskQueue('review-approve');
  const worker = await createTestWorker(env, taskQueue, testLlmProvider(llm.baseURL));
  await worker.runUntil(async () => {
    const handle = await start(taskQueue);
    const waiting = await waitingReview(handle);
    expect(waiting.status).toBe('running');
    expect(waiting.review).toMatchObject({ revision: 1, stage: { kind: 'plan' } });
    expect(Date.parse(waiting.review!.deadline) - Date.parse(waiting.review!.since)).toBe(7 * 24 * 3600 * 1000);
    expect(await stateAttribute(handle)).toBe(REVIEW_STATES.waiting);
    // Nothing ran: one planning call, no step.
    expect(stepCalls()).toHaveLength(0);
    const plan = waiting.plan!;
    expect(plan.steps.length).toBeGreaterThanOrEqual(2);

    // Refused, each with its reason, and nothing recorded.
    const empty = unchangedEdit(plan, 0);
    empty.steps[0] = { ...empty.steps[0], title: '   ' };
    expect(await refusal(answer(handle, { revision: 1, by: 'ann', decision: 'approve', edit: empty }))).toMatch(
      /Step 1: .*title cannot be empty/,
    );
    const tooMany = {
      steps: Array.from({ length: LIMITS.planMaxSteps + 1 }, (_, i) => ({ from: null, title: `S${i}`, instructions: '' })),
    };
    expect(await refusal(answer(handle, { revision: 1, by: 'ann', decision: 'approve', edit: tooMany }))).toMatch(/at most 8 steps/);
    expect(await refusal(answer(handle, { revision: 2, by: 'ann', decision: 'approve' }))).toMatch(/plan changed since/);
    expect(await refusal(answer(handle, { revision: 1, by: 'ann', decision: 'reject', reason: '' }))).toMatch(/reason cannot be empty/);
    expect((await handle.query(progressQuery)).lastSeq).toBe(waiting.lastSeq);

    // Approve with edits: drop step 2, change step 1's instructions, add a step that asks first.
    const edit = unchangedEdit(plan, 0);
    edit.steps = [
      { ...edit.steps[0], instructions: 'Write it in one line.' },
      ...edit.steps.slice(2),
      { from: null, title: 'Add a docstring', instructions: 'Document the function.', ask: true },
    ];
    const requestId = randomUUID();
    const outcome = await answer(handle, { requestId, revision: 1, by: 'ann', decision: 'approve', edit });
    expect(outcome.changes).toEqual(
      expect.arrayContaining([
        { kind: 'removed', from: 1, title: plan.steps[1].title },
        { kind: 'edited', index: 0, field: 'instructions', before: plan.steps[0].instructions, after: 'Write it in one line.' },
        { kind: 'added', index: edit.steps.length - 1, title: 'Add a docstring' },
      ]),
    );
    // The same request again answers the same, and is not applied twice.
    expect(await answer(handle, { requestId, revision: 1, by: 'ann', decision: 'approve', edit })).toEqual(outcome);

    // The gate before the added step: the run waits again, at a new revision.
    const gate = await waitForSnapshot(handle, (s) => s.review?.stage.kind === 'step');
    const last = edit.steps.length - 1;
    expect(gate.review).toMatchObject({ revision: 2, stage: { kind: 'step', stepIndex: last } });
    expect(gate.steps.slice(0, last).every((s) => s.status === 'completed')).toBe(true);
    expect(gate.steps[last]).toMatchObject({ status: 'pending', ask: true });
    expect(await stateAttribute(handle)).toBe(REVIEW_STATES.waiting);
    // The answer to the first review is now stale.
    expect(await refusal(answer(handle, { revision: 1, by: 'ann', decision: 'approve' }))).toMatch(/already answered: approved by ann/);
    await answer(handle, { revision: 2, by: 'bob', decision: 'approve' });

    const final = await handle.result();
    expect(final.status).toBe('completed');
    expect(final.plan!.steps.map((s) => s.title)).toEqual(edit.steps.map((s) => s.title));
    expect(await stateAttribute(handle)).toBe(REVIEW_STATES.running);
    // Exactly the approved steps ran, with the edited instructions.
    expect(stepCalls().map((c) => c.title)).toEqual(edit.steps.map((s) => s.title));
    expect(stepCalls()[0].prompt).toContain('Write it in one line.');
    const types = final.events.map((e) => e.type);
    expect(types.filter((t) => t === 'review.approved')).toHaveLength(2);
    expect(types.filter((t) => t === 'plan.edited')).toHaveLength(1);
    expect(final.events.find((e) => e.type === 'plan.edited')).toMatchObject({ by: 'ann', ask: [last] });
    expect(final.events.filter((e) => e.type === 'review.approved').map((e) => (e as { by: string }).by)).toEqual(['ann', 'bob']);
  });
});

test('a rejected plan ends the run as rejected, with who and why, and runs no step', async () => {
  const taskQueue = uniqueTaskQueue('review-reject');
  const worker = await createTestWorker(env, taskQueue, testLlmProvider(llm.baseURL));
  await worker.runUntil(async () => {
    const handle = await start(taskQueue);
    await waitingReview(handle);
    await answer(handle, { revision: 1, by: null, decision: 'reject', reason: 'Too broad.' });
    const final = await handle.result();
    expect(final.status).toBe('rejected');
    expect(final.error).toBe('Rejected by someone: Too broad.');
    expect(final.steps.every((s) => s.status === 'pending')).toBe(true);
    expect((await handle.describe()).status.name).toBe('COMPLETED');
    expect(await stateAttribute(handle)).toBe(REVIEW_STATES.rejected);
  });
  expect(stepCalls()).toHaveLength(0);
});

test('an unanswered review expires at the deadline', async () => {
  const taskQueue = uniqueTaskQueue('review-expire');
  const worker = await createTestWorker(env, taskQueue, testLlmProvider(llm.baseURL));
  await worker.runUntil(async () => {
    const handle = await start(taskQueue, { reviewTimeoutMs: 1_500 });
    const final = await handle.result();
    expect(final.status).toBe('expired');
    expect(final.error).toMatch(/expired/);
    expect(final.events.map((e) => e.type)).toContain('review.expired');
    expect(await stateAttribute(handle)).toBe(REVIEW_STATES.expired);
  });
  expect(stepCalls()).toHaveLength(0);
});

test('a run cancelled while it waits for review ends as cancelled', async () => {
  const taskQueue = uniqueTaskQueue('review-cancel');
  const worker = await createTestWorker(env, taskQueue, testLlmProvider(llm.baseURL));
  await worker.runUntil(async () => {
    const handle = await start(taskQueue);
    await waitingReview(handle);
    await handle.cancel();
    await expect(handle.result()).rejects.toThrow();
    expect(await stateAttribute(handle)).toBe(REVIEW_STATES.cancelled);
  });
});

test('a re-run from step 2 keeps step 1 without calling the model and runs the edited rest', async () => {
  const taskQueue = uniqueTaskQueue('rerun');
  const worker = await createTestWorker(env, taskQueue, testLlmProvider(llm.baseURL));
  await worker.runUntil(async () => {
    const parent = await env.client.workflow.start(taskWorkflow, { taskQueue, workflowId: `wf-${taskQueue}`, args: [{ task: TASK }] });
    const done = await parent.result();
    llm.reset();
    const plan = done.plan!;
    const edit = unchangedEdit(plan, 1);
    edit.steps[0] = { ...edit.steps[0], instructions: 'Use type hints this time.' };
    const child = await env.client.workflow.start(taskWorkflow, {
      taskQueue,
      workflowId: `wf-${taskQueue}-child`,
      args: [
        {
          task: TASK,
          rerun: {
            parent: { workflowId: parent.workflowId, runId: parent.firstExecutionRunId, fromStep: 1 },
            plan,
            model: done.model!,
            kept: [{ output: done.steps[0].output, truncated: false, usage: done.steps[0].usage }],
            edit,
            by: 'ann',
          },
        },
      ],
    });
    const final = await child.result();
    expect(final.status).toBe('completed');
    expect(final.parent).toEqual({ workflowId: parent.workflowId, runId: parent.firstExecutionRunId, fromStep: 1 });
    expect(final.steps[0]).toMatchObject({ status: 'completed', kept: true, output: done.steps[0].output });
    expect(final.steps[1].instructions).toBe('Use type hints this time.');
    expect(final.events.find((e) => e.type === 'plan.edited')).toMatchObject({
      by: 'ann',
      changes: [{ kind: 'edited', index: 1, field: 'instructions', after: 'Use type hints this time.' }],
    });
  });
  // No planning, nothing for the kept step; the rest ran with the edit.
  expect(llm.calls.filter((c) => c.kind === 'plan')).toHaveLength(0);
  expect(stepCalls().map((c) => c.stepIndex)).toEqual([1, 2]);
  expect(stepCalls()[0].prompt).toContain('Use type hints this time.');
});

test('a re-run whose kept steps do not match its start fails at once with a clear message', async () => {
  const taskQueue = uniqueTaskQueue('rerun-bad');
  const worker = await createTestWorker(env, taskQueue, testLlmProvider(llm.baseURL));
  await worker.runUntil(async () => {
    const handle = await env.client.workflow.start(taskWorkflow, {
      taskQueue,
      workflowId: `wf-${taskQueue}`,
      args: [
        {
          task: TASK,
          rerun: {
            parent: { workflowId: 'x', runId: 'y', fromStep: 2 },
            plan: { summary: '', steps: [{ title: 'a', instructions: '' }] },
            model: { name: 'm', offline: true },
            kept: [],
            edit: { steps: [] },
            by: null,
          },
        },
      ],
    });
    const err = (await handle.result().catch((e: Error) => e)) as Error;
    expect((err.cause as Error).message).toMatch(/The re-run is not valid: it starts after the last step/);
  });
  expect(llm.calls).toHaveLength(0);
});

test('the review can be answered from a terminal, as the README shows (temporal workflow update execute)', async () => {
  const taskQueue = uniqueTaskQueue('review-cli');
  const worker = await createTestWorker(env, taskQueue, testLlmProvider(llm.baseURL));
  const cli = await ensureTemporalCli(() => {});
  await worker.runUntil(async () => {
    const handle = await start(taskQueue);
    const waiting = await waitingReview(handle);
    const requestId = randomUUID();
    const input = JSON.stringify({ requestId, revision: waiting.review!.revision, by: 'ops', decision: 'approve' });
    const cliUpdate = (args: string[]) =>
      run(cli, [
        'workflow',
        'update',
        'execute',
        '--address',
        sharedServer().address,
        '--workflow-id',
        handle.workflowId,
        '--name',
        'review',
        ...args,
      ]);
    // A refusal reaches the terminal as an error in the workflow's words, and changes nothing.
    const stale = JSON.stringify({ requestId: randomUUID(), revision: 5, by: 'ops', decision: 'reject', reason: 'no' });
    const refused = await cliUpdate(['--input', stale]).then(
      () => 'accepted',
      (err: { stderr?: string }) => err.stderr ?? '',
    );
    expect(refused).toContain('The plan changed since this page was loaded');
    expect((await handle.query(progressQuery)).lastSeq).toBe(waiting.lastSeq);
    const { stdout } = await run(cli, [
      'workflow',
      'update',
      'execute',
      '--address',
      sharedServer().address,
      '--workflow-id',
      handle.workflowId,
      '--name',
      'review',
      '--update-id',
      requestId,
      '--input',
      input,
      '--output',
      'json',
    ]);
    expect(JSON.parse(stdout)).toMatchObject({ updateId: requestId, result: { decision: 'approve', by: 'ops', revision: 1 } });
    const final = await handle.result();
    expect(final.status).toBe('completed');
    expect(final.events.find((e) => e.type === 'review.approved')).toMatchObject({ by: 'ops' });
  });
});

test("the largest re-run (7 kept outputs of the maximum size, 3 bytes a character) fits within Temporal's payload limit and is kept exactly", async () => {
  const taskQueue = uniqueTaskQueue('rerun-big');
  const worker = await createTestWorker(env, taskQueue, testLlmProvider(llm.baseURL));
  const steps = Array.from({ length: LIMITS.planMaxSteps }, (_, i) => ({ title: `Step ${i + 1}`, instructions: `Do part ${i + 1}.` }));
  const plan = { summary: 'Big', steps };
  // The most bytes a character of a cleaned output takes in JSON: three (U+20AC in UTF-8). Control
  // characters, which would take six, are removed (cleanOutput).
  const output = '€'.repeat(LIMITS.stepOutputMaxChars);
  const fromStep = LIMITS.planMaxSteps - 1;
  const rerun = {
    parent: { workflowId: 'task-parent', runId: 'run-parent', fromStep },
    plan,
    model: { name: 'test-model', offline: false },
    kept: Array.from({ length: fromStep }, () => ({ output, truncated: false, usage: null })),
    edit: unchangedEdit(plan, fromStep),
    by: null,
  };
  expect(Buffer.byteLength(JSON.stringify(rerun))).toBeGreaterThan(300_000);
  const final = await worker.runUntil(async () => {
    const handle = await env.client.workflow.start(taskWorkflow, {
      taskQueue,
      workflowId: `wf-${taskQueue}`,
      args: [{ task: TASK, rerun }],
    });
    return handle.result();
  });
  expect(final.status).toBe('completed');
  expect(final.steps.slice(0, fromStep).every((s) => s.kept && s.output === output)).toBe(true);
  expect(stepCalls().map((c) => c.stepIndex)).toEqual([fromStep]);
});
