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
import { LIMITS } from '../contract/data';
import { taskWorkflow } from '../workflows';
import { freePort } from '../devstack/processes';
import { ensureTemporalCli, startDevServer } from '../devstack/temporal';

const OUT = join(__dirname, '..', 'workflows', 'histories');

async function main(): Promise<void> {
  const cli = await ensureTemporalCli();
  const server = await startDevServer({
    cli,
    port: await freePort(),
    headless: true,
    dbFile: join(mkdtempSync(join(tmpdir(), 'bs-rec-')), 'db'),
  });
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

  const scenarios: Array<{ name: string; provider: LlmProvider; rules?: LlmRule[]; cancelAfterMs?: number }> = [
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
        const handle = await client.workflow.start(taskWorkflow, {
          taskQueue,
          workflowId: scenario.name,
          args: [{ task: 'Create a hello world python function' }],
        });
        if (scenario.cancelAfterMs) {
          await new Promise((r) => setTimeout(r, scenario.cancelAfterMs));
          await handle.cancel();
        }
        await handle.result().catch(() => undefined);
        // The CLI's JSON is the format Worker.runReplayHistories reads (historyFromJSON).
        const json = execFileSync(cli, [
          'workflow',
          'show',
          '--address',
          server.address,
          '--workflow-id',
          scenario.name,
          '--output',
          'json',
        ]);
        writeFileSync(join(OUT, `${scenario.name}.json`), json);
        process.stdout.write(`recorded ${scenario.name}\n`);
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
