/**
 * Event streams end when their clients leave, also after a garbage collection in the web process.
 * Remix hands the loader a request re-created from Express's, and on Node 20 the copies' abort
 * signals follow the original only through weak references (undici#3644, node#55428): once they
 * are collected, a disconnect no longer reaches the stream, which then stays counted and keeps
 * its run's watcher calling Temporal for as long as the run is open.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { connectSse } from '../devstack/sse';
import { startRunViaForm } from '../devstack/form';
import { metrics, startStack, type Stack } from './setup/stack';

const RUNS = 3;
const STREAMS_PER_RUN = 10;
/** A step this long, one 24-character chunk every DELAY_MS, keeps its run open and busy for minutes. */
const LONG_STEP = 'A line of output that keeps this step going.\n'.repeat(100);
const DELAY_MS = 250;

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ name: 'sse-gc', inspect: true });
});
afterAll(async () => {
  await stack?.close();
});

/** /metrics once no stream and no watcher is left, or as it reads after `timeoutMs`. */
async function settledMetrics(timeoutMs = 20_000): Promise<Record<string, number>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const now = await metrics(stack.base);
    if ((now.buildstory_sse_connections === 0 && now.buildstory_run_watchers === 0) || Date.now() > deadline) return now;
    await sleep(200);
  }
}

/** buildstory_temporal_rpcs_total, summed over its methods. */
async function temporalRpcs(): Promise<number> {
  const text = await (await fetch(`${stack.base}/metrics`)).text();
  return [...text.matchAll(/^buildstory_temporal_rpcs_total\{[^}]*\} (\S+)$/gm)].reduce((sum, match) => sum + Number(match[1]), 0);
}

test('after a garbage collection, closed clients still end their streams, and the watchers of open runs stop', async () => {
  stack.llm.program({ kind: 'step', content: LONG_STEP, delayMs: DELAY_MS, times: Infinity });
  const runs = await Promise.all(Array.from({ length: RUNS }, () => startRunViaForm(stack.base)));
  try {
    const streams = await Promise.all(
      runs.flatMap((workflowId) => Array.from({ length: STREAMS_PER_RUN }, () => connectSse(`${stack.base}/runs/${workflowId}/events`))),
    );
    // Every stream is live: its run's watcher has sent it the story so far.
    await Promise.all(streams.map((sse) => sse.waitFor((f) => f.event === 'story')));
    const open = await metrics(stack.base);
    expect([open.buildstory_sse_connections, open.buildstory_run_watchers]).toEqual([RUNS * STREAMS_PER_RUN, RUNS]);

    await stack.collectWebGarbage();
    for (const sse of streams) sse.close();
    await Promise.all(streams.map((sse) => sse.done));

    const closed = await settledMetrics();
    expect([closed.buildstory_sse_connections, closed.buildstory_run_watchers]).toEqual([0, 0]);
    // The runs go on, unwatched: nothing in the web process calls Temporal about them any more.
    const rpcs = await temporalRpcs();
    await sleep(2_000);
    expect(await temporalRpcs()).toBe(rpcs);
    for (const workflowId of runs) {
      expect((await stack.env.client.workflow.getHandle(workflowId).describe()).status.name).toBe('RUNNING');
    }
  } finally {
    await Promise.all(runs.map((workflowId) => stack.env.client.workflow.getHandle(workflowId).terminate('test over')));
  }
});
