/**
 * Budgets, enforced: on the real Temporal dev server, with the real activities and openai client
 * against the test LLM server, which counts what it is charged (the prompt, and every completion
 * character it sent: four to a token). A run stops with "Budget reached", never "Failed", and
 * never passes a limit by more than one streamed chunk.
 */
import type { WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { OpenAiProvider } from '../activities/llm/openai';
import { startTestLlmServer, type LlmCall, type TestLlmServer } from '../tests/fixtures/llm-server';
import { connectTestEnv, createTestWorker, uniqueTaskQueue } from '../tests/setup/temporal';
import { RUN_FAILED_ERROR_TYPE, type Budget, type Price, type ProgressSnapshot } from '../contract/data';
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

function openai(price: Price | null = null): OpenAiProvider {
  return new OpenAiProvider({
    kind: 'openai',
    apiKey: 'test-key',
    baseURL: llm.baseURL,
    model: 'test-model',
    timeoutMs: 5_000,
    structuredOutput: 'auto',
    price,
  });
}

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
  const worker = await createTestWorker(env, taskQueue, openai());
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
  const worker = await createTestWorker(env, taskQueue, openai());
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
  const worker = await createTestWorker(env, taskQueue, openai({ inputPerMillion: 1_000, outputPerMillion: 1_000 }));
  llm.program({ kind: 'step', content: LONG_STEP, times: Infinity });
  const final = await worker.runUntil(async () => (await start(taskQueue, { cost: 1 })).result());
  expect(final.status).toBe('budget-reached');
  expect(final.error).toMatch(/^Budget reached: cost \(\$[\d.]+ of \$1\.00\)$/);
  expect(final.spend.cost).toBeLessThanOrEqual(1 + CHUNK_TOKENS / 1_000);
  expect(charged(llm.calls) / 1_000).toBeLessThanOrEqual(1 + CHUNK_TOKENS / 1_000);
});

test('a cost limit on a model without a price cannot be held: the run fails before any call, saying why', async () => {
  const taskQueue = uniqueTaskQueue('budget-noprice');
  const worker = await createTestWorker(env, taskQueue, openai(null));
  const err = await worker.runUntil(async () => (await start(taskQueue, { cost: 1 })).result().catch((e: Error) => e));
  const failure = (err as Error).cause as { type?: string; message: string };
  expect(failure.type).toBe(RUN_FAILED_ERROR_TYPE);
  expect(failure.message).toMatch(/has no price \(BUILDSTORY_PRICES\), so the limit cannot be held: no call was made/);
  expect(llm.calls).toHaveLength(0);
});

test('a step limit runs that many steps, then stops with "Budget reached: steps"', async () => {
  const taskQueue = uniqueTaskQueue('budget-steps');
  const worker = await createTestWorker(env, taskQueue, openai());
  const final = await worker.runUntil(async () => (await start(taskQueue, { steps: 2 })).result());
  expect(final.plan!.steps.length).toBeGreaterThan(2);
  expect(final.status).toBe('budget-reached');
  expect(final.error).toBe('Budget reached: steps (2 of 2)');
  expect(final.steps.map((s) => s.status)).toEqual(['completed', 'completed', ...final.steps.slice(2).map(() => 'pending')]);
  expect(llm.calls.filter((c) => c.kind === 'step')).toHaveLength(2);
});

test('a time limit is a Temporal timer: the running step is cancelled and the run stops with "Budget reached: time"', async () => {
  const taskQueue = uniqueTaskQueue('budget-time');
  const worker = await createTestWorker(env, taskQueue, openai());
  // Slow steps: 100 chunks, 30 ms apart, 3 s a step.
  llm.program({ kind: 'step', content: LONG_STEP.repeat(1.2), delayMs: 30, times: Infinity });
  const final = await worker.runUntil(async () => (await start(taskQueue, { timeMs: 2_000 })).result());
  expect(final.status).toBe('budget-reached');
  expect(final.error).toMatch(/^Budget reached: time \(\d+ s of 2 s\)$/);
  expect(final.steps[0].status).toBe('cancelled');
});

test('fuzz: random token limits and plans never overshoot by more than one chunk', async () => {
  const taskQueue = uniqueTaskQueue('budget-fuzz');
  const worker = await createTestWorker(env, taskQueue, openai());
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
