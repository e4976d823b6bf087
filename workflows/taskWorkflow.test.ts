/**
 * taskWorkflow on the real Temporal dev server, with the real activities and the real openai
 * client talking to the test LLM server (whose call log tells what ran).
 */
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure, CancelledFailure, defaultPayloadConverter } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { OfflineProvider } from '../activities/llm/offline';
import { startTestLlmServer, type TestLlmServer } from '../tests/fixtures/llm-server';
import { connectTestEnv, createTestWorker, uniqueTaskQueue, testLlmProvider, waitForSnapshot } from '../tests/setup/temporal';
import { progressQuery } from '../contract/messages';
import { LIMITS, RUN_FAILED_ERROR_TYPE, STORY_MEMO_FIELD, type ProgressSnapshot, type StoryEvent } from '../contract/data';
import { findResetPoint } from '../web/app/utils/reset-point';
import { taskWorkflow } from '.';

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

function start(taskQueue: string, task = TASK): Promise<WorkflowHandle<typeof taskWorkflow>> {
  return env.client.workflow.start(taskWorkflow, { taskQueue, workflowId: `wf-${taskQueue}`, args: [{ task }] });
}

const stepCalls = (stepIndex: number) => llm.calls.filter((c) => c.kind === 'step' && c.stepIndex === stepIndex);

/** The story as the run published it into its history (STORY_MEMO_FIELD of each memo upsert), batch by batch. */
function publishedBatches(history: temporal.api.history.v1.IHistory): StoryEvent[][] {
  return (history.events ?? []).flatMap((e) => {
    const payload = e.workflowPropertiesModifiedEventAttributes?.upsertedMemo?.fields?.[STORY_MEMO_FIELD];
    return payload ? [defaultPayloadConverter.fromPayload<StoryEvent[]>(payload)] : [];
  });
}

async function failureOf(promise: Promise<unknown>): Promise<WorkflowFailedError> {
  const err = await promise.then(
    () => new Error('expected the run to fail'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WorkflowFailedError);
  return err as WorkflowFailedError;
}

test('happy path: the story is ordered, partial output arrives before each step ends, and the query pages', async () => {
  const taskQueue = uniqueTaskQueue('happy');
  const worker = await createTestWorker(env, taskQueue, testLlmProvider(llm.baseURL));
  // Slow chunks so each step streams over several progress batches.
  llm.program({ kind: 'step', delayMs: 30, times: Infinity });
  const result = await worker.runUntil(async () => {
    const handle = await start(taskQueue);
    const midStep = await waitForSnapshot(handle, (s) => s.steps[0]?.status === 'running' && s.steps[0].output.length > 0);
    expect(midStep.status).toBe('running');
    const final = await handle.result();
    // Paging: events after seq 3, two at a time.
    const page = await handle.query(progressQuery, { after: 3, limit: 2 });
    return { midStep, final, page, history: await handle.fetchHistory() };
  });
  const { final, page, history } = result;

  // The history holds the whole story, in order, each event once: what the web app's watcher
  // reads instead of querying. Streaming output arrives in many batches, one per workflow task.
  const batches = publishedBatches(history);
  expect(batches.flat()).toEqual(final.events);
  expect(batches.length).toBeGreaterThan(6);

  expect(final.status).toBe('completed');
  // The test model is not in a price table here: no price, never a made-up one.
  expect(final.model).toEqual({ name: 'test-model', offline: false, price: null });
  expect(final.steps.every((s) => s.cost === null)).toBe(true);
  expect(final.spend).toEqual({
    tokens:
      final.steps.reduce((sum, s) => sum + s.usage!.totalTokens, 0) +
      (final.events[1] as { usage: { totalTokens: number } }).usage.totalTokens,
    cost: 0,
    unpriced: 4,
    estimated: false,
  });
  expect(final.plan?.steps).toHaveLength(3);
  expect(final.steps.every((s) => s.status === 'completed' && s.attempt === 1)).toBe(true);
  expect(final.steps.every((s) => s.usage !== null && s.usage.totalTokens > 0)).toBe(true);
  expect(final.result).toContain(final.plan!.steps[2].title);

  const events = final.events;
  expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
  expect(final.lastSeq).toBe(events.length);
  expect(events[0]).toMatchObject({ type: 'run.started', task: TASK });
  expect(events[1].type).toBe('plan.ready');
  expect(events[events.length - 1].type).toBe('run.completed');
  for (let i = 0; i < 3; i++) {
    const mine = events.filter((e) => 'stepIndex' in e && e.stepIndex === i).map((e) => e.type);
    expect(mine[0]).toBe('step.started');
    expect(mine[mine.length - 1]).toBe('step.finished');
    // Batched: more than one chunk, far fewer than the streamed pieces.
    expect(mine.filter((t) => t === 'step.output').length).toBeGreaterThan(1);
    const streamed = events
      .filter((e) => e.type === 'step.output' && e.stepIndex === i)
      .map((e) => (e as { text: string }).text)
      .join('');
    expect(streamed).toBe(final.steps[i].output);
  }
  const times = events.map((e) => Date.parse(e.at));
  expect([...times].sort((a, b) => a - b)).toEqual(times);

  expect(page.events.map((e) => e.seq)).toEqual([4, 5]);
  expect(page.hasMore).toBe(true);
  expect(llm.calls.filter((c) => c.kind === 'plan')).toHaveLength(1);
  expect(llm.calls.filter((c) => c.kind === 'step')).toHaveLength(3);
});

test('a step that fails twice then succeeds: retrying events carry the attempt and the reason', async () => {
  const taskQueue = uniqueTaskQueue('retry');
  const worker = await createTestWorker(env, taskQueue, testLlmProvider(llm.baseURL));
  llm.program({ kind: 'step', stepIndex: 1, status: 500, times: 2 });
  const final = await worker.runUntil(async () => (await start(taskQueue)).result());

  expect(final.status).toBe('completed');
  expect(stepCalls(1)).toHaveLength(3);
  const retrying = final.events.filter((e) => e.type === 'step.retrying');
  expect(retrying).toEqual([
    expect.objectContaining({ stepIndex: 1, attempt: 2, reason: expect.stringContaining('500') }),
    expect.objectContaining({ stepIndex: 1, attempt: 3, reason: expect.stringContaining('500') }),
  ]);
  expect(final.steps[1].attempt).toBe(3);
  expect(final.events.find((e) => e.type === 'step.finished' && e.stepIndex === 1)).toMatchObject({ attempts: 3 });
});

test('a non-retryable failure ends the run at once with a clear error and the snapshot in the failure', async () => {
  const taskQueue = uniqueTaskQueue('fatal');
  const worker = await createTestWorker(env, taskQueue, testLlmProvider(llm.baseURL));
  llm.program({ kind: 'step', stepIndex: 0, status: 401 });
  const err = await worker.runUntil(async () => failureOf((await start(taskQueue)).result()));

  expect(stepCalls(0)).toHaveLength(1);
  expect(stepCalls(1)).toHaveLength(0);
  const cause = err.cause as ApplicationFailure;
  expect(cause).toBeInstanceOf(ApplicationFailure);
  expect(cause.type).toBe(RUN_FAILED_ERROR_TYPE);
  expect(cause.message).toMatch(/^Step 1 \(.+\) failed: .*API key.*OPENAI_API_KEY/);
  const snapshot = cause.details?.[0] as ProgressSnapshot;
  expect(snapshot.status).toBe('failed');
  expect(snapshot.steps[0].status).toBe('failed');
  expect(snapshot.steps[1].status).toBe('pending');
  expect(snapshot.events[snapshot.events.length - 1]).toMatchObject({ type: 'run.failed', error: cause.message });
});

test('cancelling mid-step cancels the running activity and ends the run as cancelled', async () => {
  const taskQueue = uniqueTaskQueue('cancel');
  const worker = await createTestWorker(env, taskQueue, testLlmProvider(llm.baseURL));
  llm.program({ kind: 'step', stepIndex: 1, delayMs: 200, times: Infinity });
  const { err, history, story } = await worker.runUntil(async () => {
    const handle = await start(taskQueue);
    await waitForSnapshot(handle, (s) => s.steps[1]?.output.length > 0);
    await handle.cancel();
    const err = await handle.result().catch((e: unknown) => e);
    const story = await handle.query(progressQuery, { limit: LIMITS.eventsPageMax });
    return { err, history: await handle.fetchHistory(), story };
  });

  expect(err).toBeInstanceOf(WorkflowFailedError);
  expect((err as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
  const types = (history.events ?? []).map((e) => e.eventType);
  // The activity acknowledged the cancellation before the run closed.
  const { EventType } = temporal.api.enums.v1;
  expect(types.filter((t) => t === EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED)).toHaveLength(1);
  expect(types[types.length - 1]).toBe(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED);
  expect(story.status).toBe('cancelled');
  expect(story.steps.map((s) => s.status)).toEqual(['completed', 'cancelled', 'pending']);
  expect(story.events[story.events.length - 1].type).toBe('run.cancelled');
  expect(publishedBatches(history).flat()).toEqual(story.events);
  expect(stepCalls(2)).toHaveLength(0);
});

test('a worker stopped mid-run and a new one started: the run finishes and completed steps are not redone', async () => {
  const taskQueue = uniqueTaskQueue('restart');
  // Slow enough that step 2 is still streaming when the first worker's 2 s shutdown grace ends.
  llm.program({ kind: 'step', stepIndex: 1, delayMs: 400, times: Infinity });
  const first = await createTestWorker(env, taskQueue, testLlmProvider(llm.baseURL));
  let handle!: WorkflowHandle<typeof taskWorkflow>;
  await first.runUntil(async () => {
    handle = await start(taskQueue);
    await waitForSnapshot(handle, (s) => s.steps[1]?.output.length > 0);
  });
  // runUntil shut the first worker down mid-step 1.
  const second = await createTestWorker(env, taskQueue, testLlmProvider(llm.baseURL));
  const final = await second.runUntil(handle.result());

  expect(final.status).toBe('completed');
  expect(llm.calls.filter((c) => c.kind === 'plan')).toHaveLength(1);
  expect(stepCalls(0)).toHaveLength(1);
  expect(stepCalls(1)).toHaveLength(2); // the step in flight at the stop runs again, once
  expect(stepCalls(2)).toHaveLength(1);
  expect(final.steps[1]).toMatchObject({ status: 'completed', attempt: 2 });
  // The retried step's kept output is the second attempt's alone, not both concatenated.
  const attempt2 = final.events.filter((e) => e.type === 'step.output' && e.stepIndex === 1 && e.attempt === 2);
  expect(attempt2.map((e) => (e as { text: string }).text).join('')).toBe(final.steps[1].output);
});

test('bounds: a plan over the step limit fails clearly; a long step output is truncated', async () => {
  const taskQueue = uniqueTaskQueue('bounds');
  const worker = await createTestWorker(env, taskQueue, testLlmProvider(llm.baseURL));
  llm.program({ kind: 'plan', planSteps: LIMITS.planMaxSteps + 4 });
  const err = await worker.runUntil(async () => failureOf((await start(taskQueue)).result()));
  expect(err.cause?.message).toMatch(new RegExp(`Planning failed: .*${LIMITS.planMaxSteps + 4} steps.*limit of ${LIMITS.planMaxSteps}`));
  expect(llm.calls.filter((c) => c.kind === 'step')).toHaveLength(0);

  llm.reset();
  const long = 'x'.repeat(LIMITS.stepOutputMaxChars + 5_000);
  llm.program({ kind: 'step', stepIndex: 0, content: long });
  const second = await createTestWorker(env, taskQueue, testLlmProvider(llm.baseURL));
  const final = await second.runUntil(async () => (await start(taskQueue)).result());
  expect(final.status).toBe('completed');
  expect(final.steps[0].truncated).toBe(true);
  expect(final.steps[0].output.length).toBeLessThanOrEqual(LIMITS.stepOutputMaxChars);
  const page = final.events.filter((e) => e.type === 'step.output');
  expect(page.every((e) => (e as { text: string }).text.length <= LIMITS.chunkMaxChars)).toBe(true);
  // The whole result must stay far below Temporal's 2 MB payload limit.
  expect(JSON.stringify(final).length).toBeLessThan(512 * 1024);
});

test('the offline model completes the sample task and says it is offline', async () => {
  const taskQueue = uniqueTaskQueue('offline');
  const worker = await createTestWorker(env, taskQueue, new OfflineProvider(1));
  const final = await worker.runUntil(async () => (await start(taskQueue)).result());
  expect(final.status).toBe('completed');
  expect(final.model).toEqual({ name: 'offline model', offline: true, price: { inputPerMillion: 0, outputPerMillion: 0 } });
  expect(final.spend).toMatchObject({ cost: 0, unpriced: 0 });
  expect(final.plan?.summary).toMatch(/^\(offline model\)/);
  expect(final.result).toContain('def hello_world() -> str:');
  expect(llm.calls).toHaveLength(0);
});

test('control characters in a model output are dropped, in the stream and in the result alike', async () => {
  const taskQueue = uniqueTaskQueue('control-chars');
  const worker = await createTestWorker(env, taskQueue, testLlmProvider(llm.baseURL));
  llm.program({ kind: 'step', stepIndex: 0, content: 'Hello\u0007 \u001b[31mred\u001b[0m\ttab\r\nline\u0085 end' });
  const final = await worker.runUntil(async () => (await start(taskQueue)).result());
  expect(final.steps[0].output).toBe('Hello [31mred[0m\ttab\r\nline end');
  const streamed = final.events
    .filter((e) => e.type === 'step.output' && e.stepIndex === 0)
    .map((e) => (e as { text: string }).text)
    .join('');
  expect(streamed).toBe(final.steps[0].output);
});

test('retried twice from its failed step (a reset each time, as the web app does), the run completes: a reset run replays the reports the old one took', async () => {
  const taskQueue = uniqueTaskQueue('reset-chain');
  const worker = await createTestWorker(env, taskQueue, testLlmProvider(llm.baseURL));
  // Step 2 streams (progress signals in the history) and then fails for good, twice.
  llm.program({ kind: 'step', stepIndex: 1, status: 401, times: 2 });
  llm.program({ kind: 'step', stepIndex: 0, delayMs: 30, times: Infinity });
  const { finalRun, history } = await worker.runUntil(async () => {
    const handle = await start(taskQueue);
    await handle.result().catch(() => undefined);
    let runId = (await handle.describe()).runId;
    for (let retry = 1; retry <= 2; retry++) {
      const run = env.client.workflow.getHandle(handle.workflowId, runId);
      const point = findResetPoint((await run.fetchHistory()).events ?? []);
      expect(point?.activity).toBe('executeStep');
      const reset = await env.client.workflowService.resetWorkflowExecution({
        namespace: env.namespace ?? 'default',
        workflowExecution: { workflowId: handle.workflowId, runId },
        reason: `retry ${retry}`,
        workflowTaskFinishEventId: point!.workflowTaskCompletedEventId,
        requestId: `retry-${retry}-${runId}`,
        resetReapplyType: temporal.api.enums.v1.ResetReapplyType.RESET_REAPPLY_TYPE_NONE,
      });
      runId = reset.runId!;
      await env.client.workflow
        .getHandle(handle.workflowId, runId)
        .result()
        .catch(() => undefined);
    }
    const finalRun = env.client.workflow.getHandle(handle.workflowId, runId);
    return { finalRun: await finalRun.result(), history: await finalRun.fetchHistory() };
  });
  expect(finalRun.status).toBe('completed');
  // No workflow task failed but the two resets (a replay that did not match would fail one).
  const failedTasks = (history.events ?? []).filter((e) => e.workflowTaskFailedEventAttributes);
  expect(failedTasks.map((e) => e.workflowTaskFailedEventAttributes!.cause)).toEqual([
    temporal.api.enums.v1.WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW,
    temporal.api.enums.v1.WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW,
  ]);
  expect(publishedBatches(history).flat()).toEqual(finalRun.events);
  expect([stepCalls(0).length, stepCalls(1).length, stepCalls(2).length]).toEqual([1, 3, 1]);
});
