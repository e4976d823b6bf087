import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { OfflineProvider } from '../activities/llm/offline';
import { connectTestEnv, createTestWorker, uniqueTaskQueue } from '../tests/setup/temporal';
import { progressQuery, type ProgressSnapshot } from './shared';
import { taskWorkflow } from '.';

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await connectTestEnv();
});
afterAll(async () => {
  await env?.teardown();
});

test('offline happy path: plan, every step, result; the story in order', async () => {
  const taskQueue = uniqueTaskQueue('happy');
  const worker = await createTestWorker(env, taskQueue, new OfflineProvider(2));
  const snapshot: ProgressSnapshot = await worker.runUntil(
    env.client.workflow.execute(taskWorkflow, {
      taskQueue,
      workflowId: `happy-${taskQueue}`,
      args: [{ task: 'Create a hello world python function' }],
    }),
  );
  expect(snapshot.status).toBe('completed');
  expect(snapshot.model).toEqual({ name: 'offline model', offline: true });
  expect(snapshot.steps.map((s) => s.status)).toEqual(['completed', 'completed', 'completed']);
  expect(snapshot.result).toContain('def hello_world() -> str:');
  const types = snapshot.events.map((e) => e.type);
  expect(types[0]).toBe('run.started');
  expect(types[1]).toBe('plan.ready');
  expect(types[types.length - 1]).toBe('run.completed');
  expect(snapshot.events.map((e) => e.seq)).toEqual(snapshot.events.map((_, i) => i + 1));
  console.log(types.join(' '));
});
