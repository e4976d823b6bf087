/**
 * OpenAiProvider with the real openai client against the OpenAI-compatible test server.
 */
import { ApplicationFailure } from '@temporalio/common';
import OpenAI, { APIConnectionError, APIUserAbortError, AuthenticationError, RateLimitError } from 'openai';
import { startTestLlmServer, type TestLlmServer } from '../../tests/fixtures/llm-server';
import { LIMITS, NON_RETRYABLE_LLM_ERRORS, type Plan, type StepInput } from '../../contract/data';
import { MAX_RETRY_AFTER_MS, RETRYABLE_LLM_ERRORS, retryAfterMs, toLlmFailure } from './errors';
import { OpenAiProvider, type OpenAiConfig } from './openai';
import { stepHeader } from './prompts';

const TASK = 'Write a haiku about durable workflows';

let llm: TestLlmServer;

beforeAll(async () => {
  llm = await startTestLlmServer();
});
afterAll(async () => {
  await llm.close();
});
beforeEach(() => llm.reset());

function provider(overrides: Partial<OpenAiConfig> = {}, server: TestLlmServer = llm): OpenAiProvider {
  return new OpenAiProvider({
    kind: 'openai',
    apiKey: 'sk-test',
    baseURL: server.baseURL,
    model: 'test-model',
    timeoutMs: 5_000,
    structuredOutput: 'auto',
    ...overrides,
  });
}

const plan: Plan = {
  summary: 'Three steps.',
  steps: [
    { title: 'Outline the poem', instructions: 'List the images.' },
    { title: 'Draft the poem', instructions: 'Write it.' },
    { title: 'Review the poem', instructions: 'Check the syllables.' },
  ],
};
const stepInput = (stepIndex: number): StepInput => ({ task: TASK, plan, stepIndex, digest: '' });

/** Runs a step, keeping what onText saw; `onPiece` sees the pieces so far after each one. */
function runStep(
  p: OpenAiProvider,
  stepIndex = 0,
  options: { signal?: AbortSignal; maxChars?: number; onPiece?: (pieces: string[]) => void } = {},
) {
  const pieces: string[] = [];
  const promise = p.writeStep(stepInput(stepIndex), {
    signal: options.signal ?? new AbortController().signal,
    onText: (text) => {
      pieces.push(text);
      options.onPiece?.(pieces);
    },
    maxChars: options.maxChars ?? LIMITS.stepOutputMaxChars,
  });
  return { promise, pieces };
}

/** The failure a promise rejects with, asserted to be an ApplicationFailure. */
async function failureOf(promise: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await promise.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApplicationFailure);
  return err as ApplicationFailure;
}

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (e: unknown) => e,
  );
}

describe('plan', () => {
  it('returns a validated plan with usage, through json_schema structured output', async () => {
    const result = await provider().plan(TASK, new AbortController().signal);
    expect(result.plan.steps).toHaveLength(3);
    expect(result.plan.steps[0].title).toBe('Outline Write a haiku about durable workflows');
    expect(result.plan.summary).toContain('3 steps');
    expect(result.usage).toEqual({
      promptTokens: expect.any(Number),
      completionTokens: expect.any(Number),
      totalTokens: expect.any(Number),
    });
    expect(result.usage!.totalTokens).toBe(result.usage!.promptTokens + result.usage!.completionTokens);
    expect(llm.calls).toEqual([
      expect.objectContaining({
        kind: 'plan',
        responseFormat: 'json_schema',
        stream: false,
        status: 200,
        model: 'test-model',
      }),
    ]);
  });

  it('fails with a retryable rate limit carrying Retry-After, then succeeds', async () => {
    llm.program({ kind: 'plan', status: 429, retryAfter: 2 });
    const p = provider();
    const failure = await failureOf(p.plan(TASK, new AbortController().signal));
    expect(failure.type).toBe(RETRYABLE_LLM_ERRORS.rateLimited);
    expect(failure.nonRetryable).toBe(false);
    expect(failure.nextRetryDelay).toBe(2_000);
    expect(failure.message).toContain('429');
    expect(failure.message).toContain('Retrying in 2 s');

    const result = await p.plan(TASK, new AbortController().signal);
    expect(result.plan.steps).toHaveLength(3);
    expect(llm.calls.map((c) => c.status)).toEqual([429, 200]);
  });

  it('fails with a retryable server error on 500', async () => {
    llm.program({ kind: 'plan', status: 500 });
    const failure = await failureOf(provider().plan(TASK, new AbortController().signal));
    expect(failure.type).toBe(RETRYABLE_LLM_ERRORS.serverError);
    expect(failure.nonRetryable).toBe(false);
    expect(failure.message).toContain('(500)');
    expect(failure.message).toContain('The server had an error');
  });

  it('fails for good with a clear message on 401, with the server message and request id', async () => {
    llm.program({ kind: 'plan', status: 401 });
    const failure = await failureOf(provider().plan(TASK, new AbortController().signal));
    expect(failure.type).toBe(NON_RETRYABLE_LLM_ERRORS.rejected);
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toMatch(/^The model endpoint rejected the API key \(401\)\. Check OPENAI_API_KEY\./);
    expect(failure.message).toContain('Incorrect API key provided');
    expect(failure.message).toMatch(/request id req_test_\d+/);
  });

  it('names OPENAI_MODEL and OPENAI_BASE_URL on 404', async () => {
    llm.program({ kind: 'plan', status: 404 });
    const failure = await failureOf(provider({ model: 'no-such-model' }).plan(TASK, new AbortController().signal));
    expect(failure.type).toBe(NON_RETRYABLE_LLM_ERRORS.rejected);
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toContain('OPENAI_MODEL (no-such-model)');
    expect(failure.message).toContain(`OPENAI_BASE_URL (${llm.baseURL})`);
  });

  it('fails for good when the answer is not JSON', async () => {
    llm.program({ kind: 'plan', malformed: true });
    const failure = await failureOf(provider().plan(TASK, new AbortController().signal));
    expect(failure.type).toBe(NON_RETRYABLE_LLM_ERRORS.badOutput);
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toMatch(/^The model's plan is not valid: it is not JSON/);
  });

  it('fails for good when the JSON is not a plan', async () => {
    llm.program({ kind: 'plan', content: JSON.stringify({ summary: 'x', steps: [{ title: '', instructions: 'y' }] }) });
    const failure = await failureOf(provider().plan(TASK, new AbortController().signal));
    expect(failure.type).toBe(NON_RETRYABLE_LLM_ERRORS.badOutput);
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toMatch(/^The model's plan is not valid: steps\.0\.title: /);
  });

  it('fails for good on a plan with no steps', async () => {
    llm.program({ kind: 'plan', planSteps: 0 });
    const failure = await failureOf(provider().plan(TASK, new AbortController().signal));
    expect(failure.type).toBe(NON_RETRYABLE_LLM_ERRORS.badOutput);
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toBe(
      `The model's plan is not valid: it has no steps (a plan needs ${LIMITS.planMinSteps} to ${LIMITS.planMaxSteps}).`,
    );
  });

  it('fails for good on a plan with too many steps, naming the count and the limit', async () => {
    llm.program({ kind: 'plan', planSteps: LIMITS.planMaxSteps + 4 });
    const failure = await failureOf(provider().plan(TASK, new AbortController().signal));
    expect(failure.type).toBe(NON_RETRYABLE_LLM_ERRORS.badOutput);
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toBe(
      `The model's plan is not valid: it has ${LIMITS.planMaxSteps + 4} steps, more than the limit of ${LIMITS.planMaxSteps}.`,
    );
  });

  it('accepts a plan of exactly the maximum size', async () => {
    llm.program({ kind: 'plan', planSteps: LIMITS.planMaxSteps });
    const result = await provider().plan(TASK, new AbortController().signal);
    expect(result.plan.steps).toHaveLength(LIMITS.planMaxSteps);
  });

  it('fails for good when the model refuses', async () => {
    llm.program({ kind: 'plan', refusal: 'I cannot help with that.' });
    const failure = await failureOf(provider().plan(TASK, new AbortController().signal));
    expect(failure.type).toBe(NON_RETRYABLE_LLM_ERRORS.badOutput);
    expect(failure.message).toBe('The model refused to plan this task: I cannot help with that.');
  });

  it('fails for good when the plan hit the length limit', async () => {
    llm.program({ kind: 'plan', finishReason: 'length' });
    const failure = await failureOf(provider().plan(TASK, new AbortController().signal));
    expect(failure.type).toBe(NON_RETRYABLE_LLM_ERRORS.badOutput);
    expect(failure.message).toContain('length limit');
  });

  it('fails with the retryable timeout on a request that never answers', async () => {
    llm.program({ kind: 'plan', hang: true });
    const failure = await failureOf(provider({ timeoutMs: 500 }).plan(TASK, new AbortController().signal));
    expect(failure.type).toBe(RETRYABLE_LLM_ERRORS.timeout);
    expect(failure.nonRetryable).toBe(false);
    expect(failure.message).toBe(`The model did not answer within 0.5 s (${llm.baseURL}).`);
    // One request, never answered and not retried: the client's own timeout ended it.
    expect(llm.calls).toEqual([expect.objectContaining({ kind: 'plan', status: 0 })]);
  });

  it('fails with retryable LlmUnreachable when the connection drops', async () => {
    llm.program({ kind: 'plan', dropAfterChunks: 0 });
    const failure = await failureOf(provider().plan(TASK, new AbortController().signal));
    expect(failure.type).toBe(RETRYABLE_LLM_ERRORS.unreachable);
    expect(failure.nonRetryable).toBe(false);
    expect(failure.message).toBe(`Could not reach the model at ${llm.baseURL}: fetch failed (other side closed)`);
  });

  it('fails with retryable LlmUnreachable when nothing listens at the base URL', async () => {
    const gone = await startTestLlmServer();
    await gone.close();
    const failure = await failureOf(provider({}, gone).plan(TASK, new AbortController().signal));
    expect(failure.type).toBe(RETRYABLE_LLM_ERRORS.unreachable);
    expect(failure.nonRetryable).toBe(false);
    expect(failure.message).toMatch(/^Could not reach the model at http:\/\/127\.0\.0\.1:\d+\/v1: fetch failed \(connect ECONNREFUSED/);
  });

  it('rejects with the abort reason, not an LLM failure, when cancelled while the request is open', async () => {
    llm.program({ kind: 'plan', hang: true });
    const controller = new AbortController();
    // The request hangs and the client's timeout is ten minutes away: only the abort can end it.
    const planning = rejectionOf(provider({ timeoutMs: 600_000 }).plan(TASK, controller.signal));
    await llm.waitForCall();
    controller.abort();
    const err = await planning;
    expect(llm.calls).toEqual([expect.objectContaining({ kind: 'plan', status: 0 })]);
    expect(err).not.toBeInstanceOf(ApplicationFailure);
    expect(err).toBe(controller.signal.reason);
    expect((err as Error).name).toBe('AbortError');
  });

  it('does not send a request when the signal is already aborted', async () => {
    const controller = new AbortController();
    const reason = new Error('cancelled before start');
    controller.abort(reason);
    await expect(provider().plan(TASK, controller.signal)).rejects.toBe(reason);
    expect(llm.calls).toHaveLength(0);
  });
});

describe('plan against a server without json_schema', () => {
  let old: TestLlmServer;
  beforeAll(async () => {
    old = await startTestLlmServer({ jsonSchema: false });
  });
  afterAll(async () => {
    await old.close();
  });
  beforeEach(() => old.reset());

  it('falls back to json_object in auto mode, and remembers', async () => {
    const p = provider({}, old);
    const first = await p.plan(TASK, new AbortController().signal);
    expect(first.plan.steps).toHaveLength(3);
    expect(first.usage).not.toBeNull();
    expect(old.calls.map((c) => [c.responseFormat, c.status])).toEqual([
      ['json_schema', 400],
      ['json_object', 200],
    ]);

    await p.plan(TASK, new AbortController().signal);
    expect(old.calls.map((c) => [c.responseFormat, c.status]).slice(2)).toEqual([['json_object', 200]]);
  });

  it('fails for good in json_schema mode, without falling back', async () => {
    const failure = await failureOf(provider({ structuredOutput: 'json_schema' }, old).plan(TASK, new AbortController().signal));
    expect(failure.type).toBe(NON_RETRYABLE_LLM_ERRORS.rejected);
    expect(failure.message).toContain('response_format json_schema is not supported');
    expect(old.calls).toHaveLength(1);
  });

  it('goes straight to json_object in json_object mode, tolerating ``` fences', async () => {
    old.program({
      kind: 'plan',
      content: '```json\n{"summary":"s","steps":[{"title":"Only step","instructions":"Do it."}]}\n```',
    });
    const result = await provider({ structuredOutput: 'json_object' }, old).plan(TASK, new AbortController().signal);
    expect(result.plan).toEqual({ summary: 's', steps: [{ title: 'Only step', instructions: 'Do it.' }] });
    expect(old.calls.map((c) => c.responseFormat)).toEqual(['json_object']);
  });

  it('does not fall back on a 400 about something else', async () => {
    old.program({ kind: 'plan', status: 400, message: 'messages: too long' });
    const failure = await failureOf(provider({}, old).plan(TASK, new AbortController().signal));
    expect(failure.type).toBe(NON_RETRYABLE_LLM_ERRORS.rejected);
    expect(failure.message).toContain('The model endpoint rejected the request (400). Server said: "messages: too long"');
    expect(old.calls).toHaveLength(1);
  });
});

describe('writeStep', () => {
  it('streams the step: onText in order, usage from the last chunk', async () => {
    const { promise, pieces } = runStep(provider(), 1);
    const result = await promise;
    expect(pieces.length).toBeGreaterThan(3);
    expect(pieces.join('')).toBe(result.output);
    expect(result.output).toContain('## Draft the poem');
    expect(result.output).toContain('step 2, "Draft the poem"');
    expect(result.truncated).toBe(false);
    expect(result.usage).toEqual({
      promptTokens: expect.any(Number),
      completionTokens: Math.ceil(result.output.length / 4),
      totalTokens: expect.any(Number),
    });
    expect(llm.calls).toEqual([
      expect.objectContaining({ kind: 'step', stepIndex: 1, title: 'Draft the poem', stream: true, status: 200 }),
    ]);
    expect(stepHeader(stepInput(1))).toBe('Step 2 of 3: Draft the poem');
  });

  it('streams exact content given to the server', async () => {
    const content = 'Line one.\n\nA longer second line that spans more than one chunk 🚀 of the stream.';
    llm.program({ kind: 'step', stepIndex: 0, content });
    const { promise, pieces } = runStep(provider(), 0);
    expect((await promise).output).toBe(content);
    expect(pieces.length).toBe(Math.ceil(Array.from(content).length / 24));
  });

  it('applies a rule only to the matching step, as many times as asked', async () => {
    llm.program({ kind: 'step', stepIndex: 2, status: 500, times: 2 });
    const p = provider();
    await expect(runStep(p, 0).promise).resolves.toMatchObject({ truncated: false });
    await failureOf(runStep(p, 2).promise);
    await failureOf(runStep(p, 2).promise);
    await expect(runStep(p, 2).promise).resolves.toMatchObject({ truncated: false });
    expect(llm.calls.map((c) => [c.stepIndex, c.status])).toEqual([
      [0, 200],
      [2, 500],
      [2, 500],
      [2, 200],
    ]);
  });

  it('fails with retryable LlmUnreachable when the connection drops mid-stream, after partial text', async () => {
    llm.program({ kind: 'step', dropAfterChunks: 2 });
    const { promise, pieces } = runStep(provider());
    const failure = await failureOf(promise);
    expect(failure.type).toBe(RETRYABLE_LLM_ERRORS.unreachable);
    expect(failure.nonRetryable).toBe(false);
    expect(failure.message).toBe('The connection to the model dropped mid-answer (terminated (other side closed)).');
    expect(pieces).toHaveLength(2);
  });

  it('fails with retryable LlmUnreachable when the stream ends cleanly without a finish reason (cut off by a proxy), after partial text', async () => {
    llm.program({ kind: 'step', endAfterChunks: 2 });
    const { promise, pieces } = runStep(provider());
    const failure = await failureOf(promise);
    expect(failure.type).toBe(RETRYABLE_LLM_ERRORS.unreachable);
    expect(failure.nonRetryable).toBe(false);
    expect(failure.message).toBe(
      'The connection to the model dropped mid-answer (the answer ended without a finish reason: the connection was closed early).',
    );
    expect(pieces).toHaveLength(2);
  });

  it('fails with the retryable timeout when the request never answers', async () => {
    llm.program({ kind: 'step', hang: true });
    const { promise } = runStep(provider({ timeoutMs: 500 }));
    const failure = await failureOf(promise);
    expect(failure.type).toBe(RETRYABLE_LLM_ERRORS.timeout);
    expect(failure.nonRetryable).toBe(false);
    expect(failure.message).toContain('did not answer within 0.5 s');
    expect(llm.calls).toEqual([expect.objectContaining({ kind: 'step', status: 0 })]);
  });

  it('fails with the retryable timeout when a started stream goes quiet', async () => {
    // The server sends two chunks, then nothing, and keeps the connection open.
    llm.program({ kind: 'step', stallAfterChunks: 2 });
    const { promise, pieces } = runStep(provider({ timeoutMs: 500 }));
    const failure = await failureOf(promise);
    expect(failure.type).toBe(RETRYABLE_LLM_ERRORS.timeout);
    expect(failure.message).toContain('did not answer within 0.5 s');
    expect(pieces).toHaveLength(2);
  });

  it('fails with a retryable server error on a garbled stream', async () => {
    llm.program({ kind: 'step', malformed: true });
    const { promise, pieces } = runStep(provider()); // openai-node logs the bad chunk with console.error
    const failure = await failureOf(promise);
    expect(failure.type).toBe(RETRYABLE_LLM_ERRORS.serverError);
    expect(failure.message).toMatch(/^The model endpoint sent a malformed stream/);
    expect(pieces).toHaveLength(1);
  });

  it('rejects with the abort reason when cancelled mid-stream, without reading the rest', async () => {
    const chunks = 20;
    llm.program({ kind: 'step', content: 'abcdefghijklmnopqrstuvwx'.repeat(chunks), delayMs: 20 });
    const controller = new AbortController();
    const onPiece = (pieces: string[]) => pieces.length === 2 && controller.abort();
    const { promise, pieces } = runStep(provider(), 0, { signal: controller.signal, onPiece });
    const err = await rejectionOf(promise);
    expect(err).not.toBeInstanceOf(ApplicationFailure);
    expect(err).toBe(controller.signal.reason);
    // A chunk already in the client's buffer may still come through; the rest of the stream does not.
    expect(pieces.length).toBeGreaterThanOrEqual(2);
    expect(pieces.length).toBeLessThan(chunks);
  });

  it('stops reading at maxChars and marks the output truncated', async () => {
    const content = 'abcdefghij'.repeat(30);
    // Three chunks reach the limit (24 + 24 + 2); then the server goes quiet. A step that read on
    // would wait for the rest and fail with the stream timeout instead of returning.
    llm.program({ kind: 'step', content, stallAfterChunks: 3 });
    const { promise, pieces } = runStep(provider(), 0, { maxChars: 50 });
    const result = await promise;
    // The stream was cut before its usage chunk: the usage is counted here and says so.
    expect(result).toMatchObject({
      output: content.slice(0, 50),
      truncated: true,
      usage: { completionTokens: 13, estimated: true },
    });
    expect(result.usage!.promptTokens).toBeGreaterThan(0);
    expect(result.usage!.totalTokens).toBe(result.usage!.promptTokens + 13);
    expect(pieces.join('')).toBe(content.slice(0, 50));
    expect(pieces).toHaveLength(3);
  });

  it('keeps output of exactly maxChars untruncated', async () => {
    llm.program({ kind: 'step', content: 'x'.repeat(48) });
    const result = await runStep(provider(), 0, { maxChars: 48 }).promise;
    expect(result).toMatchObject({ output: 'x'.repeat(48), truncated: false });
  });

  it("marks the output truncated, without failing, on finish_reason 'length'", async () => {
    llm.program({ kind: 'step', finishReason: 'length' });
    const result = await runStep(provider()).promise;
    expect(result.truncated).toBe(true);
    expect(result.output).toContain('## Outline the poem');
  });

  it("fails for good on finish_reason 'content_filter'", async () => {
    llm.program({ kind: 'step', finishReason: 'content_filter' });
    const failure = await failureOf(runStep(provider()).promise);
    expect(failure.type).toBe(NON_RETRYABLE_LLM_ERRORS.badOutput);
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toContain('content filter');
  });
});

describe('toLlmFailure', () => {
  const context = { baseURL: 'http://llm.local/v1', timeoutMs: 30_000 };
  const headers = (h: Record<string, string>) => new Headers(h);

  it('passes cancellation and decided failures through unchanged', () => {
    const abort = new APIUserAbortError();
    expect(toLlmFailure(abort, context)).toBe(abort);
    const decided = ApplicationFailure.nonRetryable('no', 'Whatever');
    expect(toLlmFailure(decided, context)).toBe(decided);
  });

  it('reads retry-after-ms, retry-after seconds and dates, and caps them', () => {
    const now = Date.parse('2025-01-01T00:00:00Z');
    expect(retryAfterMs(headers({ 'retry-after-ms': '1500', 'retry-after': '9' }), now)).toBe(1_500);
    expect(retryAfterMs(headers({ 'retry-after': '3' }), now)).toBe(3_000);
    expect(retryAfterMs(headers({ 'retry-after': 'Wed, 01 Jan 2025 00:00:10 GMT' }), now)).toBe(10_000);
    expect(retryAfterMs(headers({ 'retry-after': '86400' }), now)).toBe(MAX_RETRY_AFTER_MS);
    expect(retryAfterMs(headers({ 'retry-after': 'soon' }), now)).toBeUndefined();
    expect(retryAfterMs(headers({}), now)).toBeUndefined();
  });

  it('maps a 429 without Retry-After to a retryable failure without a delay', () => {
    const err = new RateLimitError(429, { message: 'slow down' }, undefined, headers({}));
    const failure = toLlmFailure(err, context) as ApplicationFailure;
    expect(failure).toMatchObject({ type: RETRYABLE_LLM_ERRORS.rateLimited, nonRetryable: false });
    expect(failure.nextRetryDelay).toBeUndefined();
  });

  it.each([
    [403, NON_RETRYABLE_LLM_ERRORS.rejected, true],
    [413, NON_RETRYABLE_LLM_ERRORS.rejected, true],
    [422, NON_RETRYABLE_LLM_ERRORS.rejected, true],
    [408, RETRYABLE_LLM_ERRORS.serverError, false],
    [409, RETRYABLE_LLM_ERRORS.serverError, false],
    [503, RETRYABLE_LLM_ERRORS.serverError, false],
  ])('maps status %i to %s', (status, type, nonRetryable) => {
    const err = OpenAI.APIError.generate(status, { error: { message: 'nope' } }, undefined, headers({}));
    expect(toLlmFailure(err, context)).toMatchObject({ type, nonRetryable });
  });

  it('hides anything that looks like an API key in the server message', () => {
    const err = new AuthenticationError(401, { message: 'Incorrect API key provided: sk-abcdef1234567890.' }, undefined, headers({}));
    const message = toLlmFailure(err, context).message;
    expect(message).toContain('sk-***');
    expect(message).not.toContain('abcdef1234567890');
  });

  it('maps connection errors to retryable LlmUnreachable with the cause', () => {
    const err = new APIConnectionError({ cause: new Error('connect ECONNREFUSED 127.0.0.1:1') });
    expect(toLlmFailure(err, context)).toMatchObject({
      type: RETRYABLE_LLM_ERRORS.unreachable,
      nonRetryable: false,
      message: 'Could not reach the model at http://llm.local/v1: connect ECONNREFUSED 127.0.0.1:1',
    });
  });

  it('leaves unknown errors for Temporal to retry as they are', () => {
    const err = new TypeError('bug');
    expect(toLlmFailure(err, context)).toBe(err);
    expect(toLlmFailure('text', context)).toEqual(new Error('text'));
  });
});

describe('test server', () => {
  it('lists models and accepts any model name', async () => {
    const client = new OpenAI({ apiKey: 'x', baseURL: llm.baseURL, maxRetries: 0 });
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual(['test-model']);
    const result = await provider({ model: 'anything-goes' }).plan(TASK, new AbortController().signal);
    expect(result.plan.steps).toHaveLength(3);
    expect(llm.calls[0].model).toBe('anything-goes');
  });

  it('closes with hung and stalled requests open', async () => {
    const server = await startTestLlmServer();
    server.program({ kind: 'plan', hang: true });
    server.program({ kind: 'step', stallAfterChunks: 1 });
    // Only close() can end these in time; the client's timeout would fail them as timeouts.
    const p = provider({ timeoutMs: 10_000 }, server);
    const planning = rejectionOf(p.plan(TASK, new AbortController().signal));
    await server.waitForCall();
    let firstPiece!: () => void;
    const streaming = new Promise<void>((resolve) => (firstPiece = resolve));
    const step = runStep(p, 0, { onPiece: firstPiece });
    const stepping = rejectionOf(step.promise);
    await streaming;
    await server.close();
    const [planError, stepError] = await Promise.all([planning, stepping]);
    expect(server.calls.map((c) => [c.kind, c.status])).toEqual([
      ['plan', 0],
      ['step', 200],
    ]);
    expect(planError).toMatchObject({ type: RETRYABLE_LLM_ERRORS.unreachable });
    expect(stepError).toMatchObject({ type: RETRYABLE_LLM_ERRORS.unreachable });
    expect(step.pieces).toHaveLength(1);
  });
});
