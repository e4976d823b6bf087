/**
 * Records histories of finished runs as replay fixtures (workflows/histories/*.json).
 * Run it when a deliberate, compatible change to the workflow needs new fixtures:
 *
 *   npx tsx scripts/record-histories.ts                 # every scenario
 *   npx tsx scripts/record-histories.ts NAME [NAME...]  # only these (keeps the others as recorded)
 *
 * The replay test then fails CI for any change that would break runs recorded this way.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import pino from 'pino';
import { OpenAiProvider } from '../activities/llm/openai';
import { OfflineProvider } from '../activities/llm/offline';
import type { LlmProvider } from '../activities/llm/provider';
import { startTestLlmServer, type LlmRule } from '../tests/fixtures/llm-server';
import { startWebhookReceiver } from '../tests/fixtures/webhook-receiver';
import { createBuildstoryWorker, withVerification } from '../worker/worker';
import { LIMITS, schedulerWorkflowId, type ProgressSnapshot, type ReviewRequest, type TaskInput } from '../contract/data';
import { progressQuery, reviewUpdate } from '../contract/messages';
import { unchangedEdit } from '../contract/plan-edit';
import { taskWorkflow } from '../workflows';
import { freePort } from '../devstack/processes';
import { createSearchAttributes, ensureTemporalCli, startDevServer } from '../devstack/temporal';

const OUT = join(__dirname, '..', 'workflows', 'histories');
const TASK = 'Create a hello world python function';

/** How a scenario drives its run once started (the recorded run is the one whose workflow id is the scenario's name). */
type Drive = (handle: WorkflowHandle<typeof taskWorkflow>) => Promise<void>;

async function waitFor(handle: WorkflowHandle, predicate: (s: ProgressSnapshot) => boolean): Promise<ProgressSnapshot> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const snapshot = await handle.query(progressQuery, { limit: LIMITS.eventsPageMax });
    if (predicate(snapshot)) return snapshot;
    if (Date.now() > deadline) throw new Error(`${handle.workflowId}: condition not met; status ${snapshot.status}`);
    await sleep(50);
  }
}

/** Answer the review the run waits for; the request id is the update id, as the web app sends it. */
async function answer(handle: WorkflowHandle, request: Omit<ReviewRequest, 'requestId' | 'revision'>): Promise<void> {
  const waiting = await waitFor(handle, (s) => s.review !== null);
  const requestId = randomUUID();
  await handle.executeUpdate(reviewUpdate, {
    args: [{ ...request, requestId, revision: waiting.review!.revision }],
    updateId: requestId,
  });
}

async function main(): Promise<void> {
  const cli = await ensureTemporalCli();
  const server = await startDevServer({
    cli,
    port: await freePort(),
    headless: true,
    dbFile: join(mkdtempSync(join(tmpdir(), 'bs-rec-')), 'db'),
  });
  // Fair share and reviews set the BuildstoryState search attribute.
  await createSearchAttributes(cli, server.address, 'default');
  const llm = await startTestLlmServer();
  const receiver = await startWebhookReceiver();
  const nativeConnection = await NativeConnection.connect({ address: server.address });
  const connection = await Connection.connect({ address: server.address });
  const client = new Client({ connection });
  const openai = new OpenAiProvider({
    kind: 'openai',
    apiKey: 'test',
    baseURL: llm.baseURL,
    model: 'test-model',
    timeoutMs: 5_000,
    structuredOutput: 'auto',
  });

  /** A finished run to re-run from (rerun-from-step): started on the scenario's task queue, not recorded. */
  const finishedParent = async (taskQueue: string, workflowId: string) => {
    const parent = await client.workflow.start(taskWorkflow, { taskQueue, workflowId, args: [{ task: TASK }] });
    return { handle: parent, snapshot: await parent.result() };
  };

  const scenarios: Array<{
    name: string;
    provider: LlmProvider;
    rules?: LlmRule[];
    input?: Partial<TaskInput>;
    /** Builds the input from work done first on the scenario's task queue (a re-run's parent). */
    prepare?: (taskQueue: string) => Promise<Partial<TaskInput>>;
    drive?: Drive;
    /** Fair share: another run of the same owner holds the one slot first, so this one waits in line. */
    blocked?: boolean;
    /** Record the scheduler's history too (still open: it runs for good), as `NAME-scheduler`. */
    scheduler?: boolean;
    /** Webhooks: the worker delivers to the test receiver, which refuses the first `refuse` requests. */
    webhook?: { refuse: number };
  }> = [
    { name: 'offline-completed', provider: new OfflineProvider(1) },
    { name: 'step-retried-completed', provider: openai, rules: [{ kind: 'step', stepIndex: 1, status: 500, times: 2 }] },
    { name: 'step-rejected-failed', provider: openai, rules: [{ kind: 'step', stepIndex: 0, status: 401 }] },
    {
      name: 'cancelled-mid-step',
      provider: openai,
      rules: [{ kind: 'step', stepIndex: 1, delayMs: 200, times: Infinity }],
      drive: async (handle) => {
        await sleep(1_500);
        await handle.cancel();
      },
    },
    // A step that writes past the output limit: the chunk that reaches it is marked truncated.
    {
      name: 'step-output-truncated-completed',
      provider: openai,
      rules: [{ kind: 'step', stepIndex: 0, content: `${'Long output. '.repeat(Math.ceil(LIMITS.stepOutputMaxChars / 13))}The end.` }],
    },
    // People in the loop: the plan approved with an edit that changes step 1, removes step 2 and adds a step.
    {
      name: 'review-approved-edited',
      provider: openai,
      input: { review: true },
      drive: async (handle) => {
        const { plan } = await waitFor(handle, (s) => s.review !== null);
        const edit = unchangedEdit(plan!, 0);
        edit.steps = [
          { ...edit.steps[0], instructions: 'Write it in one line.' },
          ...edit.steps.slice(2),
          { from: null, title: 'Add a docstring', instructions: 'Document the function.' },
        ];
        await answer(handle, { by: 'ann', decision: 'approve', edit });
      },
    },
    {
      name: 'review-rejected',
      provider: openai,
      input: { review: true },
      drive: (handle) => answer(handle, { by: 'ann', decision: 'reject', reason: 'Too broad.' }),
    },
    // The story published into the history (story-memo-v1): a streamed run with progress signals,
    // and a reviewed one whose update records events.
    { name: 'story-published-completed', provider: openai, rules: [{ kind: 'step', stepIndex: 1, delayMs: 100, times: 1 }] },
    {
      name: 'story-published-reviewed',
      provider: openai,
      input: { review: true },
      drive: async (handle) => {
        await waitFor(handle, (s) => s.review !== null);
        await answer(handle, { by: 'ann', decision: 'approve' });
      },
    },
    // Verification (verify-code-v1): the offline model's code step passes in the sandbox; one that
    // fails first is written again with the report and passes in round 2.
    { name: 'verified-completed', provider: new OfflineProvider(1), input: { task: 'Create a hello world python function' } },
    {
      name: 'verify-fixed-round-2',
      provider: new OfflineProvider(1),
      input: { task: 'Create a hello world python function that fails first' },
    },
    // Nobody answers: the review timer fires.
    { name: 'review-expired', provider: openai, input: { review: true, reviewTimeoutMs: 1_000 } },
    // Approved with "ask before step 2", then approved again at that gate.
    {
      name: 'step-gate-approved',
      provider: openai,
      input: { review: true },
      drive: async (handle) => {
        const { plan } = await waitFor(handle, (s) => s.review !== null);
        await answer(handle, { by: 'ann', decision: 'approve', edit: unchangedEdit(plan!, 0, [1]) });
        await waitFor(handle, (s) => s.review?.stage.kind === 'step');
        await answer(handle, { by: 'bob', decision: 'approve' });
      },
    },
    // Budgets: a token limit reached mid-step (the stream cut there), the run ends "Budget reached".
    {
      name: 'budget-tokens-reached',
      provider: openai,
      rules: [{ kind: 'step', content: 'word '.repeat(400), times: Infinity }],
      input: { budget: { tokens: 1_200 } },
    },
    // With review on: the time limit cancels step 1, the owner gives more time, step 1 runs again.
    {
      name: 'budget-time-raised',
      provider: openai,
      rules: [{ kind: 'step', stepIndex: 0, content: 'word '.repeat(400), delayMs: 30, times: 1 }],
      input: { review: true, budget: { timeMs: 1_500 }, budgetCap: { timeMs: 600_000 } },
      drive: async (handle) => {
        await answer(handle, { by: 'ann', decision: 'approve' });
        await waitFor(handle, (s) => s.review?.stage.kind === 'budget');
        await answer(handle, { by: 'ann', decision: 'approve', budget: { timeMs: 60_000 } });
      },
    },
    // With review on: the step limit reached, and the owner stops the run there.
    {
      name: 'budget-steps-stopped',
      provider: openai,
      input: { review: true, budget: { steps: 1 } },
      drive: async (handle) => {
        await answer(handle, { by: 'ann', decision: 'approve' });
        await waitFor(handle, (s) => s.review?.stage.kind === 'budget');
        await answer(handle, { by: 'bob', decision: 'reject', reason: 'Enough.' });
      },
    },
    // A completed run re-run from step 2 with that step's instructions edited: step 1 is kept.
    {
      name: 'rerun-from-step',
      provider: openai,
      prepare: async (taskQueue) => {
        const { handle, snapshot } = await finishedParent(taskQueue, 'rerun-from-step-parent');
        const edit = unchangedEdit(snapshot.plan!, 1);
        edit.steps[0] = { ...edit.steps[0], instructions: 'Use type hints this time.' };
        return {
          rerun: {
            parent: { workflowId: handle.workflowId, runId: handle.firstExecutionRunId, fromStep: 1 },
            plan: snapshot.plan!,
            model: snapshot.model!,
            kept: [{ output: snapshot.steps[0].output, truncated: snapshot.steps[0].truncated, usage: snapshot.steps[0].usage }],
            edit,
            by: 'ann',
          },
        };
      },
    },
    // Fair share: waits in line behind the owner's other run, gets the slot when it ends, gives it back.
    {
      name: 'queued-completed',
      provider: openai,
      rules: [{ kind: 'step', delayMs: 300, times: 3 }],
      input: { queue: { owner: 'alice', perUser: 1, total: 1 } },
      blocked: true,
      scheduler: true,
    },
    // Fair share and review: the slot is given back while the run waits for a person, and asked for again after approval.
    {
      name: 'queued-reviewed-completed',
      provider: openai,
      input: { queue: { owner: 'alice', perUser: 1, total: 1 }, review: true },
      drive: (handle) => answer(handle, { by: 'alice', decision: 'approve' }),
    },
    // Fair share: cancelled while it waits in line; it never plans.
    {
      name: 'queued-cancelled',
      provider: openai,
      rules: [{ kind: 'step', delayMs: 1_000, times: Infinity }],
      input: { queue: { owner: 'alice', perUser: 1, total: 1 } },
      blocked: true,
      drive: async (handle) => {
        await sleep(1_000);
        await handle.cancel();
      },
    },
    // Webhooks (webhooks-v1): run.ended delivered at once; and run.waiting refused twice (retried,
    // same id) while the review waits, then run.ended.
    { name: 'webhook-delivered-completed', provider: openai, input: { notify: true }, webhook: { refuse: 0 } },
    // The web app's public URL known: run.ended carries the run page's url.
    {
      name: 'webhook-linked-completed',
      provider: openai,
      input: { notify: true, appUrl: 'https://buildstory.example.test' },
      webhook: { refuse: 0 },
    },
    {
      name: 'webhook-retried-reviewed',
      provider: openai,
      input: { notify: true, review: true },
      webhook: { refuse: 2 },
      drive: async (handle) => {
        await waitFor(handle, (s) => s.events.some((e) => e.type === 'webhook.delivered'));
        await answer(handle, { by: 'ann', decision: 'approve' });
      },
    },
  ];
  const only = process.argv.slice(2);
  const unknown = only.filter((name) => !scenarios.some((scenario) => scenario.name === name));
  if (unknown.length > 0) throw new Error(`no such scenario: ${unknown.join(', ')}`);
  try {
    for (const scenario of scenarios.filter(({ name }) => only.length === 0 || only.includes(name))) {
      llm.reset();
      for (const rule of scenario.rules ?? []) llm.program(rule);
      receiver.refuse(scenario.webhook?.refuse ?? 0);
      const taskQueue = `record-${scenario.name}`;
      const logger = pino({ level: 'silent' });
      const worker = await withVerification(
        await createBuildstoryWorker({
          connection: nativeConnection,
          namespace: 'default',
          taskQueue,
          provider: scenario.provider,
          logger,
          progress: { intervalMs: 50 },
          webhook: scenario.webhook ? { url: receiver.url, secret: receiver.secret, display: 'test receiver' } : null,
        }),
        { connection: nativeConnection, namespace: 'default', taskQueue, logger },
      );
      await worker.runUntil(async () => {
        const prepared = (await scenario.prepare?.(taskQueue)) ?? {};
        const input = { task: TASK, ...scenario.input, ...prepared };
        // Fair share: another run of the owner takes the one slot first.
        const blocker = scenario.blocked
          ? await client.workflow.start(taskWorkflow, {
              taskQueue,
              workflowId: `${scenario.name}-blocker`,
              args: [{ task: TASK, ...(input.queue ? { queue: input.queue } : {}) }],
            })
          : null;
        if (blocker) await sleep(300);
        const handle = await client.workflow.start(taskWorkflow, { taskQueue, workflowId: scenario.name, args: [input] });
        await scenario.drive?.(handle);
        await handle.result().catch(() => undefined);
        if (blocker) {
          await blocker.cancel();
          await blocker.result().catch(() => undefined);
        }
        // The CLI's JSON is the format Worker.runReplayHistories reads (historyFromJSON).
        const save = (workflowId: string, name: string) => {
          const json = execFileSync(cli, [
            'workflow',
            'show',
            '--address',
            server.address,
            '--workflow-id',
            workflowId,
            '--output',
            'json',
          ]);
          writeFileSync(join(OUT, `${name}.json`), json);
          process.stdout.write(`recorded ${name}\n`);
        };
        save(scenario.name, scenario.name);
        if (scenario.scheduler) save(schedulerWorkflowId(taskQueue), `${scenario.name}-scheduler`);
      });
    }
  } finally {
    await connection.close();
    await nativeConnection.close();
    await llm.close();
    await receiver.close();
    await server.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
