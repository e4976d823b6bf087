/**
 * Fair share's cost, measured: `npx tsx bench/fair-share.ts [runs] [stepDelayMs]`.
 *
 * On a dev server of its own, with one in-process worker and the test LLM server (one step a
 * plan, each step `stepDelayMs` long), it runs the same tasks twice: without a queue (every run
 * starts at once) and with fair share (two owners, `perUser` 2, `total` 4). It reports tasks a
 * minute both ways and, with fair share, the time from a slot freeing to the next run starting:
 * the k-th run to end after the line formed frees the slot the k-th run granted after it takes
 * (each release then causes one grant), so the gap between the release (the ended run's last
 * event) and the grant (the started run's `run.dequeued` event), both by the workflows' clocks, is
 * release signal → scheduler → grant signal → run.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import pino from 'pino';
import { OpenAiProvider } from '../activities/llm/openai';
import { startTestLlmServer } from '../tests/fixtures/llm-server';
import { createBuildstoryWorker, withVerification } from '../worker/worker';
import { freePort } from '../devstack/processes';
import { createSearchAttributes, ensureTemporalCli, startDevServer } from '../devstack/temporal';
import type { ProgressSnapshot, QueueInput, StoryEvent } from '../contract/data';
import { taskWorkflow } from '../workflows';

const LIMITS = { perUser: 2, total: 4 };

export interface FairShareFigures {
  runs: number;
  stepDelayMs: number;
  offPerMinute: number;
  onPerMinute: number;
  /** Free slot → next run starts, ms, sorted. */
  gapsMs: number[];
  lines: string[];
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

const time = (event: StoryEvent | undefined) => (event ? Date.parse(event.at) : NaN);

/** Both rounds on a dev server of its own (npm run bench calls it after its own stack stopped). */
export async function measureFairShare(RUNS = 40, STEP_DELAY_MS = 300): Promise<FairShareFigures> {
  const cli = await ensureTemporalCli();
  const server = await startDevServer({
    cli,
    port: await freePort(),
    headless: true,
    dbFile: join(mkdtempSync(join(tmpdir(), 'bs-fair-')), 'db'),
  });
  await createSearchAttributes(cli, server.address, 'default');
  const llm = await startTestLlmServer({ steps: 1, chunkDelayMs: 1 });
  llm.program({ kind: 'step', content: 'Done.', delayMs: STEP_DELAY_MS, times: Infinity });
  const nativeConnection = await NativeConnection.connect({ address: server.address });
  const connection = await Connection.connect({ address: server.address });
  const client = new Client({ connection });
  const provider = new OpenAiProvider({
    kind: 'openai',
    apiKey: 'test',
    baseURL: llm.baseURL,
    model: 'test-model',
    timeoutMs: 30_000,
    structuredOutput: 'auto',
  });

  async function round(
    name: string,
    queue: (i: number) => QueueInput | undefined,
  ): Promise<{ perMinute: number; finals: ProgressSnapshot[] }> {
    const taskQueue = `bench-fair-${name}`;
    const logger = pino({ level: 'silent' });
    const worker = await withVerification(
      await createBuildstoryWorker({
        connection: nativeConnection,
        namespace: 'default',
        taskQueue,
        provider,
        logger,
        progress: { intervalMs: 200 },
      }),
      { connection: nativeConnection, namespace: 'default', taskQueue, logger },
    );
    return worker.runUntil(async () => {
      const started = Date.now();
      const handles = [];
      for (let i = 0; i < RUNS; i++) {
        const q = queue(i);
        handles.push(
          await client.workflow.start(taskWorkflow, {
            taskQueue,
            workflowId: `${name}-${i}`,
            args: [{ task: `Bench task ${i}`, ...(q ? { queue: q } : {}) }],
          }),
        );
      }
      const finals = await Promise.all(handles.map((h) => h.result()));
      const minutes = (Date.now() - started) / 60_000;
      return { perMinute: RUNS / minutes, finals };
    });
  }

  try {
    const off = await round('off', () => undefined);
    // Three quarters of the runs are alice's, sent first; bob's come after.
    const on = await round('on', (i) => ({ owner: i < (RUNS * 3) / 4 ? 'alice' : 'bob', ...LIMITS }));

    const releases = on.finals.map((f) => time(f.events.at(-1))).sort((a, b) => a - b);
    const grants = on.finals
      .map((f) => f.events.find((e) => e.type === 'run.dequeued') as Extract<StoryEvent, { type: 'run.dequeued' }>)
      .filter((e) => e.order > LIMITS.total)
      .sort((a, b) => a.order - b.order)
      .map(time);
    const gaps = grants.map((grant, k) => grant - releases[k]).sort((a, b) => a - b);
    const bob = on.finals
      .map((f, i) => ({ i, e: f.events.find((e) => e.type === 'run.dequeued') as Extract<StoryEvent, { type: 'run.dequeued' }> }))
      .filter(({ i }) => i >= (RUNS * 3) / 4);
    const lines = [
      `fair share bench: ${RUNS} runs, one step of ${STEP_DELAY_MS} ms each, limits ${JSON.stringify(LIMITS)}`,
      `tasks/min, no queue (all at once): ${off.perMinute.toFixed(1)}`,
      `tasks/min, fair share (4 at a time): ${on.perMinute.toFixed(1)}`,
      `free slot -> next run starts: p50 ${percentile(gaps, 50)} ms, p95 ${percentile(gaps, 95)} ms, max ${gaps.at(-1)} ms (${gaps.length} handovers)`,
      `bob's runs, sent after alice's ${(RUNS * 3) / 4}: started as grants ${bob.map(({ e }) => e.order).join(', ')} (passed by ${bob.map(({ e }) => e.passedBy).join(', ')})`,
    ];
    return { runs: RUNS, stepDelayMs: STEP_DELAY_MS, offPerMinute: off.perMinute, onPerMinute: on.perMinute, gapsMs: gaps, lines };
  } finally {
    await connection.close();
    await nativeConnection.close();
    await llm.close();
    await server.stop();
  }
}

// Run on its own: `npx tsx bench/fair-share.ts [runs] [stepDelayMs]`.
if (require.main === module) {
  measureFairShare(Number(process.argv[2] ?? 40), Number(process.argv[3] ?? 300)).then(
    (figures) => {
      process.stdout.write(`${figures.lines.join('\n')}\n`);
      process.exit(0);
    },
    (err: Error) => {
      process.stderr.write(`${err.stack ?? err.message}\n`);
      process.exit(1);
    },
  );
}
