/**
 * The activities alone, in MockActivityEnvironment, reporting to a real workflow run: the run is
 * started on a task queue no worker polls, so the signals land in its history untouched.
 */
import { randomUUID } from 'node:crypto';
import type { WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { MockActivityEnvironment, type TestWorkflowEnvironment } from '@temporalio/testing';
import { createActivities } from '.';
import { OfflineProvider, offlinePlan } from './llm/offline';
import { OpenAiProvider } from './llm/openai';
import type { LlmProvider } from './llm/provider';
import { startTestLlmServer, type TestLlmServer } from '../tests/fixtures/llm-server';
import { connectTestEnv, testLogger } from '../tests/setup/temporal';
import type { ActivityProgress, StepInput, StepResult } from '../contract/data';

let env: TestWorkflowEnvironment;
let llm: TestLlmServer;
let run: WorkflowHandleWithFirstExecutionRunId;

beforeAll(async () => {
  env = await connectTestEnv();
  llm = await startTestLlmServer();
});
afterAll(async () => {
  await llm?.close();
  await env?.teardown();
});
beforeEach(async () => {
  llm.reset();
  run = await env.client.workflow.start('taskWorkflow', {
    taskQueue: `nobody-polls-${randomUUID()}`,
    workflowId: `activity-test-${randomUUID()}`,
    args: [{ task: 'Create a hello world python function' }],
  });
});
afterEach(async () => {
  await run.terminate('test done').catch(() => undefined);
});

async function signalsReceived(): Promise<ActivityProgress[][]> {
  const runId = run.firstExecutionRunId;
  const history = await run.fetchHistory();
  return (history.events ?? [])
    .filter((e) => e.eventType === temporal.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED)
    .map((e) => JSON.parse(Buffer.from(e.workflowExecutionSignaledEventAttributes!.input!.payloads![0].data!).toString()))
    .map((report: { runId: string; items: ActivityProgress[] }) => {
      expect(report.runId).toBe(runId);
      return report.items;
    });
}

function mockEnv(attempt: number): MockActivityEnvironment {
  return new MockActivityEnvironment(
    { workflowExecution: { workflowId: run.workflowId, runId: run.firstExecutionRunId }, attempt, activityType: 'executeStep' },
    { client: env.client },
  );
}

const TASK = 'Create a hello world python function';
const stepInput: StepInput = { task: TASK, plan: offlinePlan(TASK), stepIndex: 1, digest: '' };

function activitiesWith(provider: LlmProvider) {
  return createActivities({ provider, logger: testLogger, progress: { intervalMs: 40 }, heartbeatIntervalMs: 20 });
}

test('executeStep streams its output to its run in batched, contiguous chunks (the last in its result) and heartbeats', async () => {
  const mock = mockEnv(2);
  let heartbeats = 0;
  mock.on('heartbeat', () => heartbeats++);
  const result = (await mock.run(activitiesWith(new OfflineProvider(5)).executeStep, stepInput)) as StepResult;

  expect(result.model.offline).toBe(true);
  expect(result.output).toContain('def hello_world() -> str:');
  const batches = await signalsReceived();
  const items = batches.flat();
  // Attempt 2 announces itself first, before any output.
  expect(items[0]).toEqual({ kind: 'attempt.started', stepIndex: 1, attempt: 2 });
  const outputs = items.filter((i): i is Extract<ActivityProgress, { kind: 'output' }> => i.kind === 'output');
  let offset = 0;
  for (const o of outputs) {
    expect(o).toMatchObject({ stepIndex: 1, attempt: 2, offset });
    offset += o.text.length;
  }
  // The signals carry the output from its start, contiguous; what is left goes in the result only.
  const signalled = outputs.map((o) => o.text).join('');
  expect(signalled.length).toBeGreaterThan(0);
  expect(signalled.length).toBeLessThan(result.output.length);
  expect(result.output.startsWith(signalled)).toBe(true);
  // Batched: several signals, far fewer than the small pieces the model streamed.
  expect(batches.length).toBeGreaterThan(1);
  expect(outputs.length).toBeLessThan(result.output.split(/\s+/).length / 3);
  expect(heartbeats).toBeGreaterThan(0);
});

test('a failed attempt reports its reason to the story and rethrows the classified failure', async () => {
  llm.program({ kind: 'plan', status: 500 });
  const provider = new OpenAiProvider({
    kind: 'openai',
    apiKey: 'k',
    baseURL: llm.baseURL,
    model: 'm',
    timeoutMs: 5_000,
    structuredOutput: 'auto',
  });
  const err = await mockEnv(1)
    .run(activitiesWith(provider).planTask, { task: TASK })
    .catch((e: unknown) => e);

  expect(err).toBeInstanceOf(ApplicationFailure);
  expect((err as ApplicationFailure).nonRetryable).toBeFalsy();
  const items = (await signalsReceived()).flat();
  expect(items).toEqual([{ kind: 'attempt.failed', stepIndex: null, attempt: 1, reason: (err as Error).message }]);
  expect((err as Error).message).toContain('500');
});

test('cancellation stops the step mid-stream and surfaces as a CancelledFailure', async () => {
  const mock = mockEnv(1);
  // The offline model with no delay, cancelled from inside: as it writes its second piece.
  const offline = new OfflineProvider(0);
  const pieces: string[] = [];
  const provider: LlmProvider = {
    model: offline.model,
    plan: (task, signal) => offline.plan(task, signal),
    writeStep: (input, options) =>
      offline.writeStep(input, {
        ...options,
        onText: (text) => {
          options.onText(text);
          pieces.push(text);
          if (pieces.length === 2) mock.cancel();
        },
      }),
  };
  const err = await mock.run(activitiesWith(provider).executeStep, stepInput).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(CancelledFailure);
  // Nothing written after the cancellation: the step did not run on to its end.
  expect(pieces).toHaveLength(2);
});
