/**
 * Budgets, enforced: on the real Temporal dev server, with the real activities and openai client
 * against the test LLM server, which counts what it is charged (the prompt, and every completion
 * character it sent: four to a token). A run stops with "Budget reached", never "Failed", and
 * never passes a limit by more than one streamed chunk.
 */
import type { WorkflowHandle } from '@temporalio/client';
import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { startTestLlmServer, type LlmCall, type TestLlmServer } from '../tests/fixtures/llm-server';
import { connectTestEnv, createTestWorker, testLlmProvider, uniqueTaskQueue, waitForSnapshot } from '../tests/setup/temporal';
import { RUN_FAILED_ERROR_TYPE, type Budget, type ProgressSnapshot, type ReviewRequest, type ReviewStage } from '../contract/data';
import { reviewUpdate } from '../contract/messages';
import { taskWorkflow } from '.';

let env: TestWorkflowEnvironment;
let llm: TestLlmServer;

beforeAll(async () => {
  env = await connectTestEnv();
  llm = await startTestLlmServer({ chunkDelayMs: 1 });
});
afterAll(async () => {
  await llm?.close();
  await env?.teardown();
});
beforeEach(() => llm.reset());

const TASK = 'Create a hello world python function';
/** The test server streams 24 characters a chunk: six tokens as it counts. */
const CHUNK_TOKENS = 6;

function start(taskQueue: string, budget: Budget, id = taskQueue): Promise<WorkflowHandle<typeof taskWorkflow>> {
  return env.client.workflow.start(taskWorkflow, { taskQueue, workflowId: `wf-${id}`, args: [{ task: TASK, budget }] });
}

/** Tokens the server charged for these calls, as it counts them. */
function charged(calls: LlmCall[]): number {
  return calls.reduce((sum, call) => sum + call.promptTokens + Math.ceil(call.sentChars / 4), 0);
}

const LONG_STEP = 'word '.repeat(400); // 2,000 characters: 500 tokens a step

test('a token limit stops the run mid-step with "Budget reached", and the server charged no more than the limit and one chunk', async () => {
  const taskQueue = uniqueTaskQueue('budget-tokens');
  const worker = await createTestWorker(env, taskQueue, testLlmProvider(llm.baseURL));
  llm.program({ kind: 'step', content: LONG_STEP, times: Infinity });
  const limit = 1_200;
  const final = await worker.runUntil(async () => (await start(taskQueue, { tokens: limit })).result());
  expect(final.status).toBe('budget-reached');
  expect(final.error).toMatch(/^Budget reached: tokens \([\d,]+ of 1,200\)$/);
  expect(final.events.at(-1)).toMatchObject({ type: 'budget.reached', kind: 'tokens', limit });
  // Every call after the first carried what was left as max_tokens.
  const steps = llm.calls.filter((c) => c.kind === 'step');
  expect(steps.length).toBeGreaterThan(0);
  expect(steps.every((c) => c.maxTokens !== undefined && c.maxTokens > 0)).toBe(true);
  expect(charged(llm.calls)).toBeLessThanOrEqual(limit + CHUNK_TOKENS);
  // Not all steps ran: the budget stopped it.
  expect(final.steps.some((s) => s.status === 'pending' || s.status === 'cancelled')).toBe(true);
});

test('a server that ignores max_tokens: the stream is cut where the count reaches the budget, at most one chunk over', async () => {
  const taskQueue = uniqueTaskQueue('budget-abort');
  const worker = await createTestWorker(env, taskQueue, testLlmProvider(llm.baseURL));
  llm.program({ kind: 'step', content: LONG_STEP, ignoreMaxTokens: true, times: Infinity });
  const limit = 900;
  const final = await worker.runUntil(async () => (await start(taskQueue, { tokens: limit })).result());
  expect(final.status).toBe('budget-reached');
  const cut = llm.calls.filter((c) => c.kind === 'step').at(-1)!;
  // The server had 2,000 characters to send and sent far fewer: the stream was aborted.
  expect(cut.sentChars).toBeLessThan(LONG_STEP.length);
  expect(charged(llm.calls)).toBeLessThanOrEqual(limit + CHUNK_TOKENS);
  // The cut step keeps its output, marked truncated; its usage was counted here.
  const step = final.steps.find((s) => s.truncated)!;
  expect(step.output.length).toBeGreaterThan(0);
  expect(step.usage?.estimated).toBe(true);
  expect(final.spend.estimated).toBe(true);
});

test('a cost limit, with a price: stops at the limit in dollars', async () => {
  const taskQueue = uniqueTaskQueue('budget-cost');
  // $1,000 per million tokens either way: a tenth of a cent a token.
  const worker = await createTestWorker(
    env,
    taskQueue,
    testLlmProvider(llm.baseURL, { price: { inputPerMillion: 1_000, outputPerMillion: 1_000 } }),
  );
  llm.program({ kind: 'step', content: LONG_STEP, times: Infinity });
  const final = await worker.runUntil(async () => (await start(taskQueue, { cost: 1 })).result());
  expect(final.status).toBe('budget-reached');
  expect(final.error).toMatch(/^Budget reached: cost \(\$[\d.]+ of \$1\.00\)$/);
  expect(final.spend.cost).toBeLessThanOrEqual(1 + CHUNK_TOKENS / 1_000);
  expect(charged(llm.calls) / 1_000).toBeLessThanOrEqual(1 + CHUNK_TOKENS / 1_000);
});

test('a cost limit on a model without a price cannot be held: the run fails before any call, saying why', async () => {
  const taskQueue = uniqueTaskQueue('budget-noprice');
  const worker = await createTestWorker(env, taskQueue, testLlmProvider(llm.baseURL));
  const err = await worker.runUntil(async () => (await start(taskQueue, { cost: 1 })).result().catch((e: Error) => e));
  const failure = (err as Error).cause as { type?: string; message: string };
  expect(failure.type).toBe(RUN_FAILED_ERROR_TYPE);
  expect(failure.message).toMatch(/has no price \(BUILDSTORY_PRICES\), so the limit cannot be held: no call was made/);
  expect(llm.calls).toHaveLength(0);
});

test('a step limit runs that many steps, then stops with "Budget reached: steps"', async () => {
  const taskQueue = uniqueTaskQueue('budget-steps');
  const worker = await createTestWorker(env, taskQueue, testLlmProvider(llm.baseURL));
  const final = await worker.runUntil(async () => (await start(taskQueue, { steps: 2 })).result());
  expect(final.plan!.steps.length).toBeGreaterThan(2);
  expect(final.status).toBe('budget-reached');
  expect(final.error).toBe('Budget reached: steps (2 of 2)');
  expect(final.steps.map((s) => s.status)).toEqual(['completed', 'completed', ...final.steps.slice(2).map(() => 'pending')]);
  expect(llm.calls.filter((c) => c.kind === 'step')).toHaveLength(2);
});

test('a time limit is a Temporal timer: the running step is cancelled and the run stops with "Budget reached: time"', async () => {
  const taskQueue = uniqueTaskQueue('budget-time');
  const worker = await createTestWorker(env, taskQueue, testLlmProvider(llm.baseURL));
  // Slow steps: 100 chunks, 30 ms apart, 3 s a step.
  llm.program({ kind: 'step', content: LONG_STEP.repeat(1.2), delayMs: 30, times: Infinity });
  const final = await worker.runUntil(async () => (await start(taskQueue, { timeMs: 2_000 })).result());
  expect(final.status).toBe('budget-reached');
  expect(final.error).toMatch(/^Budget reached: time \(\d+ s of 2 s\)$/);
  expect(final.steps[0].status).toBe('cancelled');
});

test('fuzz: random token limits and plans never overshoot by more than one chunk', async () => {
  const taskQueue = uniqueTaskQueue('budget-fuzz');
  const worker = await createTestWorker(env, taskQueue, testLlmProvider(llm.baseURL));
  // A fixed seed: the same cases every run, and a failure can be replayed.
  let seed = 20261201;
  const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
  const cases = Array.from({ length: 16 }, (_, i) => ({
    i,
    limit: 200 + Math.floor(random() * 2_000),
    steps: 1 + Math.floor(random() * 8),
    stepChars: 100 + Math.floor(random() * 2_400),
    ignoreMaxTokens: random() < 0.5,
  }));
  const outcomes = await worker.runUntil(async () => {
    const results: Array<{ i: number; limit: number; charged: number; status: string }> = [];
    for (const c of cases) {
      llm.reset();
      llm.program({ kind: 'plan', planSteps: c.steps });
      llm.program({ kind: 'step', content: 'x'.repeat(c.stepChars), ignoreMaxTokens: c.ignoreMaxTokens, times: Infinity });
      const final: ProgressSnapshot = await (await start(taskQueue, { tokens: c.limit }, `${taskQueue}-${c.i}`)).result();
      results.push({ i: c.i, limit: c.limit, charged: charged(llm.calls), status: final.status });
    }
    return results;
  });
  for (const o of outcomes) expect({ ...o, over: Math.max(0, o.charged - o.limit) <= CHUNK_TOKENS }).toMatchObject({ over: true });
  // The cases cover both ends: some runs hit their limit, some finish under it.
  expect(outcomes.some((o) => o.status === 'budget-reached')).toBe(true);
  expect(outcomes.some((o) => o.status === 'completed')).toBe(true);
});

describe('with review on, a reached limit waits for its owner', () => {
  const waitingAtBudget = (handle: WorkflowHandle) => waitForSnapshot(handle, (s) => s.review?.stage.kind === 'budget');
  const answer = (handle: WorkflowHandle, request: Omit<ReviewRequest, 'requestId'>) => {
    const requestId = randomUUID();
    return handle.executeUpdate(reviewUpdate, { args: [{ ...request, requestId }], updateId: requestId });
  };
  /** Approve the plan as proposed, once the run waits for its review. */
  const approvePlan = async (handle: WorkflowHandle) => {
    const plan = await waitForSnapshot(handle, (s) => s.review !== null);
    await answer(handle, { revision: plan.review!.revision, by: 'ann', decision: 'approve' });
  };

  test('raised within the cap, the run goes on and completes; above the cap, or not above what is used, it is refused', async () => {
    const taskQueue = uniqueTaskQueue('budget-raise');
    const worker = await createTestWorker(env, taskQueue, testLlmProvider(llm.baseURL));
    llm.program({ kind: 'step', content: LONG_STEP, times: Infinity });
    const final = await worker.runUntil(async () => {
      const handle = await env.client.workflow.start(taskWorkflow, {
        taskQueue,
        workflowId: `wf-${taskQueue}`,
        args: [{ task: TASK, review: true, budget: { tokens: 1_200 }, budgetCap: { tokens: 100_000 } }],
      });
      await approvePlan(handle);
      const stop = await waitingAtBudget(handle);
      const stage = stop.review!.stage as Extract<ReviewStage, { kind: 'budget' }>;
      expect(stage).toMatchObject({ budget: 'tokens', limit: 1_200 });
      expect(stop.status).toBe('running');
      const revision = stop.review!.revision;
      await expect(answer(handle, { revision, by: 'ann', decision: 'approve', budget: { tokens: 200_000 } })).rejects.toThrow();
      await expect(answer(handle, { revision, by: 'ann', decision: 'approve', budget: { tokens: stage.used } })).rejects.toThrow();
      await expect(answer(handle, { revision, by: 'ann', decision: 'approve' })).rejects.toThrow();
      await answer(handle, { revision, by: 'ann', decision: 'approve', budget: { tokens: 100_000 } });
      return handle.result();
    });
    expect(final.status).toBe('completed');
    expect(final.events.find((e) => e.type === 'budget.raised')).toMatchObject({ by: 'ann', budget: { tokens: 100_000 } });
    expect(final.events.some((e) => e.type === 'budget.reached')).toBe(false);
  });

  test('stopped by its owner, the run ends as "Budget reached", saying who stopped it', async () => {
    const taskQueue = uniqueTaskQueue('budget-stop');
    const worker = await createTestWorker(env, taskQueue, testLlmProvider(llm.baseURL));
    const final = await worker.runUntil(async () => {
      const handle = await env.client.workflow.start(taskWorkflow, {
        taskQueue,
        workflowId: `wf-${taskQueue}`,
        args: [{ task: TASK, review: true, budget: { steps: 1 } }],
      });
      await approvePlan(handle);
      const stop = await waitingAtBudget(handle);
      await answer(handle, { revision: stop.review!.revision, by: 'bob', decision: 'reject', reason: 'Enough.' });
      return handle.result();
    });
    expect(final.status).toBe('budget-reached');
    expect(final.error).toBe('Budget reached: steps (1 of 1): stopped by bob: Enough.');
  });

  test('time: the cancelled step runs again once the owner gives more time', async () => {
    const taskQueue = uniqueTaskQueue('budget-time-raise');
    const worker = await createTestWorker(env, taskQueue, testLlmProvider(llm.baseURL));
    llm.program({ kind: 'step', stepIndex: 0, content: LONG_STEP, delayMs: 30, times: 1 });
    const final = await worker.runUntil(async () => {
      const handle = await env.client.workflow.start(taskWorkflow, {
        taskQueue,
        workflowId: `wf-${taskQueue}`,
        args: [{ task: TASK, review: true, budget: { timeMs: 1_500 } }],
      });
      await approvePlan(handle);
      const stop = await waitingAtBudget(handle);
      expect(stop.review!.stage).toMatchObject({ budget: 'timeMs', stepIndex: 0 });
      expect(stop.steps[0].status).toBe('cancelled');
      await answer(handle, { revision: stop.review!.revision, by: 'ann', decision: 'approve', budget: { timeMs: 60_000 } });
      return handle.result();
    });
    expect(final.status).toBe('completed');
    expect(llm.calls.filter((c) => c.kind === 'step' && c.stepIndex === 0)).toHaveLength(2);
  });
});
