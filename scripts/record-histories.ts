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
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import pino from 'pino';
import { OpenAiProvider } from '../activities/llm/openai';
import { OfflineProvider } from '../activities/llm/offline';
import type { LlmProvider } from '../activities/llm/provider';
import { startTestLlmServer, type LlmRule } from '../tests/fixtures/llm-server';
import { createBuildstoryWorker } from '../worker/worker';
import { LIMITS, schedulerWorkflowId, type ProgressSnapshot, type QueueInput } from '../contract/data';
import { progressQuery, reviewUpdate } from '../contract/messages';
import { taskWorkflow } from '../workflows';
import { freePort } from '../devstack/processes';
import { createSearchAttributes, ensureTemporalCli, startDevServer } from '../devstack/temporal';

const OUT = join(__dirname, '..', 'workflows', 'histories');

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

  const scenarios: Array<{
    name: string;
    provider: LlmProvider;
    rules?: LlmRule[];
    cancelAfterMs?: number;
    /** Fair share: the run asks the scheduler for a slot. */
    queue?: QueueInput;
    /** Another run of the same owner holds the one slot first, so this one waits in line. */
    blocked?: boolean;
    /** Record the scheduler's history too (still open: it runs for good), as `NAME-scheduler`. */
    scheduler?: boolean;
    /** Ask for a plan review, and approve it once the run waits for it. */
    approve?: boolean;
  }> = [
    { name: 'offline-completed', provider: new OfflineProvider(1) },
    { name: 'step-retried-completed', provider: openai, rules: [{ kind: 'step', stepIndex: 1, status: 500, times: 2 }] },
    { name: 'step-rejected-failed', provider: openai, rules: [{ kind: 'step', stepIndex: 0, status: 401 }] },
    {
      name: 'cancelled-mid-step',
      provider: openai,
      rules: [{ kind: 'step', stepIndex: 1, delayMs: 200, times: Infinity }],
      cancelAfterMs: 1_500,
    },
    // A step that writes past the output limit: the chunk that reaches it is marked truncated.
    {
      name: 'step-output-truncated-completed',
      provider: openai,
      rules: [{ kind: 'step', stepIndex: 0, content: `${'Long output. '.repeat(Math.ceil(LIMITS.stepOutputMaxChars / 13))}The end.` }],
    },
    // Fair share: waits in line behind the owner's other run, gets the slot when it ends, gives it back.
    {
      name: 'queued-completed',
      provider: openai,
      rules: [{ kind: 'step', delayMs: 300, times: 3 }],
      queue: { owner: 'alice', perUser: 1, total: 1 },
      blocked: true,
      scheduler: true,
    },
    // Fair share and review: the slot is given back while the run waits for a person, and asked for again after approval.
    {
      name: 'queued-reviewed-completed',
      provider: openai,
      queue: { owner: 'alice', perUser: 1, total: 1 },
      approve: true,
    },
    // Fair share: cancelled while it waits in line; it never plans.
    {
      name: 'queued-cancelled',
      provider: openai,
      rules: [{ kind: 'step', delayMs: 1_000, times: Infinity }],
      queue: { owner: 'alice', perUser: 1, total: 1 },
      blocked: true,
      cancelAfterMs: 1_000,
    },
  ];
  const only = process.argv.slice(2);
  const unknown = only.filter((name) => !scenarios.some((scenario) => scenario.name === name));
  if (unknown.length > 0) throw new Error(`no such scenario: ${unknown.join(', ')}`);
  try {
    for (const scenario of scenarios.filter(({ name }) => only.length === 0 || only.includes(name))) {
      llm.reset();
      for (const rule of scenario.rules ?? []) llm.program(rule);
      const taskQueue = `record-${scenario.name}`;
      const worker = await createBuildstoryWorker({
        connection: nativeConnection,
        namespace: 'default',
        taskQueue,
        provider: scenario.provider,
        logger: pino({ level: 'silent' }),
        progress: { intervalMs: 50 },
      });
      await worker.runUntil(async () => {
        const task = 'Create a hello world python function';
        const queue = scenario.queue ? { queue: scenario.queue } : {};
        const blocker = scenario.blocked
          ? await client.workflow.start(taskWorkflow, { taskQueue, workflowId: `${scenario.name}-blocker`, args: [{ task, ...queue }] })
          : null;
        if (blocker) await new Promise((r) => setTimeout(r, 300));
        const review = scenario.approve ? { review: true } : {};
        const handle = await client.workflow.start(taskWorkflow, {
          taskQueue,
          workflowId: scenario.name,
          args: [{ task, ...queue, ...review }],
        });
        if (scenario.approve) {
          let waiting: ProgressSnapshot['review'];
          while (!(waiting = (await handle.query(progressQuery)).review)) await new Promise((r) => setTimeout(r, 100));
          const requestId = 'approve-recorded';
          await handle.executeUpdate(reviewUpdate, {
            args: [{ requestId, revision: waiting.revision, by: 'alice', decision: 'approve' }],
            updateId: requestId,
          });
        }
        if (scenario.cancelAfterMs) {
          await new Promise((r) => setTimeout(r, scenario.cancelAfterMs));
          await handle.cancel();
        }
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
    await server.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
