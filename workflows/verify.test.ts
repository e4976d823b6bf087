/**
 * Verification in the workflow, for real: the offline model's code steps run their tests in the
 * sandbox (bubblewrap, as the verification worker does) on the shared dev server; a failure sends
 * the step back with its report, up to the run's rounds; every round is in the story.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { OfflineProvider } from '../activities/llm/offline';
import type { ProgressSnapshot, StoryEvent, TaskInput, VerificationReport } from '../contract/data';
import { connectTestEnv, createTestWorker, testArtifactStore, uniqueTaskQueue } from '../tests/setup/temporal';
import { taskWorkflow } from '.';

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await connectTestEnv();
});
afterAll(async () => {
  await env?.teardown();
});

/** Run `input` to its end with a test worker (offline model), which serves verification beside it. */
async function run(name: string, input: TaskInput): Promise<ProgressSnapshot> {
  const taskQueue = uniqueTaskQueue(name);
  const worker = await createTestWorker(env, taskQueue, new OfflineProvider(1));
  return worker.runUntil(async () => {
    const handle = await env.client.workflow.start(taskWorkflow, { taskQueue, workflowId: `wf-${taskQueue}`, args: [input] });
    return handle.result();
  });
}

const ofType = <T extends StoryEvent['type']>(events: StoryEvent[], type: T) =>
  events.filter((e): e is Extract<StoryEvent, { type: T }> => e.type === type);

test('the sample task: the code step is verified in the sandbox, its tests pass, and the run is verified', async () => {
  const final = await run('verified', { task: 'Create a hello world python function' });
  expect(final.status).toBe('completed');
  const codeStep = final.plan!.steps.findIndex((s) => s.code);
  expect(final.plan!.steps[codeStep].code).toEqual({ language: 'python' });
  const verified = ofType(final.events, 'step.verified');
  expect(verified).toHaveLength(1);
  const report: VerificationReport = verified[0].report;
  expect(report).toMatchObject({ verdict: 'passed', language: 'python', round: 1, exitCode: 0, outcome: 'exited' });
  expect(report.tests!.failed).toBe(0);
  expect(report.tests!.passed).toBeGreaterThan(0);
  expect(report.files.map((f) => f.path).some((p) => /test/.test(p))).toBe(true);
  // Each file is kept in the artifact store under its hash, byte for byte.
  for (const file of report.files) {
    expect(file.sha256).toMatch(/^[0-9a-f]{64}$/);
    const stored = await testArtifactStore().get(file.sha256);
    expect(stored?.length).toBe(file.bytes);
  }
  // The story tells it in order: the step, then its tests, then the next step.
  const types = final.events.filter((e) => 'stepIndex' in e && e.stepIndex === codeStep && e.type !== 'step.output').map((e) => e.type);
  expect(types).toEqual(['step.started', 'step.finished', 'step.verifying', 'step.verified']);
  expect(final.steps[codeStep].verification).toMatchObject({ round: 1, status: 'passed' });
  expect(final.verified).toBe(true);
});

test('code whose test fails first is written again with the failure in its prompt, and passes in round 2', async () => {
  const final = await run('fixed', { task: 'Create a hello world python function that fails first' });
  const codeStep = final.plan!.steps.findIndex((s) => s.code);
  const mine = final.events.filter((e) => 'stepIndex' in e && e.stepIndex === codeStep && e.type !== 'step.output');
  expect(mine.map((e) => e.type)).toEqual([
    'step.started',
    'step.finished',
    'step.verifying',
    'step.verified',
    'step.fixing',
    'step.finished',
    'step.verifying',
    'step.verified',
  ]);
  const [first, second] = ofType(final.events, 'step.verified').map((e) => e.report);
  expect(first).toMatchObject({ verdict: 'failed', round: 1 });
  expect(first.tests!.failed).toBeGreaterThan(0);
  expect(first.stdoutTail + first.stderrTail).toMatch(/FAIL|Error|assert/i);
  expect(second).toMatchObject({ verdict: 'passed', round: 2 });
  expect(final.steps[codeStep].output).not.toEqual('');
  expect(final.verified).toBe(true);
});

test('with one round, code whose test fails is not written again: the run completes, not verified', async () => {
  const final = await run('one-round', { task: 'Create a hello world python function that fails first', verifyRounds: 1 });
  expect(final.status).toBe('completed');
  expect(ofType(final.events, 'step.fixing')).toHaveLength(0);
  expect(ofType(final.events, 'step.verified').map((e) => e.report.verdict)).toEqual(['failed']);
  expect(final.verified).toBe(false);
});

test('verifyRounds 0 runs no code; a bad value fails the run clearly', async () => {
  const off = await run('off', { task: 'Create a hello world python function', verifyRounds: 0 });
  expect(off.status).toBe('completed');
  expect(ofType(off.events, 'step.verifying')).toHaveLength(0);
  expect(off.verified ?? null).toBeNull();
  await expect(run('bad', { task: 'Create a hello world python function', verifyRounds: 99 })).rejects.toMatchObject({
    cause: { message: expect.stringMatching(/verification rounds are not valid: at most 5/) },
  });
});
