/**
 * The event-stream route over HTTP against the running app (remix-utils is ESM-only, so this is
 * tested as a browser uses it): framing, ids, resume, the end, errors, outages, the shared watcher.
 */
import { randomUUID } from 'node:crypto';
import { Worker } from '@temporalio/worker';
import { progressQuery } from '../contract/messages';
import type { StoryEvent } from '../contract/data';
import { finishSignal } from './fixtures/legacy-workflow';
import { connectSse, type SseFrame } from '../devstack/sse';
import { startRunViaForm } from '../devstack/form';
import { metrics, startStack, type Stack } from './setup/stack';
import { uniqueTaskQueue } from './setup/temporal';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ name: 'sse' });
});
afterAll(async () => {
  await stack?.close();
});
beforeEach(() => stack.llm.reset());

const eventsUrl = (workflowId: string, query = '') => `${stack.base}/runs/${workflowId}/events${query}`;
const stories = (frames: SseFrame[]) => frames.filter((f) => f.event === 'story');
const seqOf = (frame: SseFrame) => (JSON.parse(frame.data) as StoryEvent).seq;

async function finalEvents(workflowId: string): Promise<StoryEvent[]> {
  const result = await stack.env.client.workflow.getHandle(workflowId).result();
  return (result as { events: StoryEvent[] }).events;
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('framing: every story event once, in order, with a run:seq id and one-line JSON; then end, and the stream closes', async () => {
  stack.llm.program({ kind: 'step', delayMs: 30, times: Infinity });
  const workflowId = await startRunViaForm(stack.base);
  const sse = await connectSse(eventsUrl(workflowId));
  expect(sse.status).toBe(200);
  expect(sse.headers.get('content-type')).toMatch(/^text\/event-stream/);
  expect(sse.headers.get('content-encoding')).toBeNull();
  const end = await sse.waitFor((f) => f.event === 'end');
  await sse.done;

  const { runId } = await stack.env.client.workflow.getHandle(workflowId).describe();
  const expected = await finalEvents(workflowId);
  const got = stories(sse.frames);
  expect(got.map((f) => f.id)).toEqual(expected.map((e) => `${runId}:${e.seq}`));
  expect(got.map((f) => JSON.parse(f.data))).toEqual(expected);
  // Output chunks arrive as they are written: several per step.
  expect(got.filter((f) => JSON.parse(f.data).type === 'step.output').length).toBeGreaterThan(3);
  expect(
    sse.raw
      .split('\n')
      .filter((l) => l.startsWith('data:'))
      .every((l) => !l.slice(5).includes('\n')),
  ).toBe(true);
  expect(JSON.parse(end.data)).toEqual({ runId, status: 'completed' });
  expect(end.id).toBe(`${runId}:${expected.length}`);
  expect(sse.frames[0]).toMatchObject({ event: 'status', retry: 2000 });
});

test("the story comes with the run's history: a viewer gets every event without one query, also while another client queries the run", async () => {
  stack.llm.program({ kind: 'step', delayMs: 30, times: Infinity });
  const before = await metrics(stack.base);
  const workflowId = await startRunViaForm(stack.base);
  const handle = stack.env.client.workflow.getHandle(workflowId);
  // Another client querying the run all along (as a page load, the Temporal UI or a script may):
  // with queries, the server held the watcher's behind such ones for 1-2 s (README, Known limit).
  let polling = true;
  const poller = (async () => {
    while (polling) {
      await handle.query(progressQuery).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  const sse = await connectSse(eventsUrl(workflowId));
  try {
    await sse.waitFor((f) => f.event === 'end', 60_000);
    await sse.done;
  } finally {
    polling = false;
    await poller;
    sse.close();
  }
  const after = await metrics(stack.base);
  expect(stories(sse.frames).map((f) => JSON.parse(f.data))).toEqual(await finalEvents(workflowId));
  expect(after.buildstory_watcher_queries_total).toBe(before.buildstory_watcher_queries_total);
  expect(after.buildstory_watcher_story_batches_total).toBeGreaterThan(before.buildstory_watcher_story_batches_total + 5);
});

test('a reconnect with Last-Event-ID gets exactly what it missed; after the end it gets 204', async () => {
  stack.llm.program({ kind: 'step', delayMs: 60, times: Infinity });
  const workflowId = await startRunViaForm(stack.base);
  const first = await connectSse(eventsUrl(workflowId));
  await first.waitFor((f) => f.event === 'story' && JSON.parse(f.data).type === 'step.output');
  first.close();
  await first.done;
  const seen = stories(first.frames);
  const lastId = seen[seen.length - 1].id!;

  const second = await connectSse(eventsUrl(workflowId), { 'Last-Event-ID': lastId });
  const end = await second.waitFor((f) => f.event === 'end');
  await second.done;
  const all = [...seen, ...stories(second.frames)].map(seqOf);
  const expected = (await finalEvents(workflowId)).map((e) => e.seq);
  expect(all).toEqual(expected); // no gap, no duplicate

  const after = await fetch(eventsUrl(workflowId), { headers: { 'Last-Event-ID': end.id! } });
  expect(after.status).toBe(204);
  // The ?after form of the cursor, as the page uses on its first connect, works the same.
  const [runId, seq] = end.id!.split(':');
  expect((await fetch(eventsUrl(workflowId, `?run=${runId}&after=${seq}`))).status).toBe(204);
});

test('an unknown run is 404; a malformed Last-Event-ID or after is 400', async () => {
  expect((await fetch(eventsUrl('task-00000000-0000-4000-8000-000000000000'))).status).toBe(404);
  expect((await fetch(eventsUrl('not-a-run'))).status).toBe(404);
  const workflowId = await startRunViaForm(stack.base);
  const bad = await fetch(eventsUrl(workflowId), { headers: { 'Last-Event-ID': 'garbage' } });
  expect(bad.status).toBe(400);
  expect(await bad.text()).toMatch(/Last-Event-ID/);
  expect((await fetch(eventsUrl(workflowId, '?after=abc'))).status).toBe(400);
  await finalEvents(workflowId);
});

test('with the worker stopped the stream stays open and says so, then resumes by itself', async () => {
  stack.llm.program({ kind: 'step', stepIndex: 1, delayMs: 300, times: Infinity });
  const workflowId = await startRunViaForm(stack.base);
  const sse = await connectSse(eventsUrl(workflowId));
  let end: SseFrame;
  try {
    await sse.waitFor((f) => f.event === 'story' && JSON.parse(f.data).type === 'step.started' && JSON.parse(f.data).stepIndex === 1);
    await stack.stopWorker();
    try {
      // A dead worker leaves no trace in the history: the watcher notices at its next query,
      // within one long-poll period (15 s) plus the query timeout (3 s).
      await sse.waitFor((f) => f.event === 'status' && JSON.parse(f.data).state === 'waiting-for-worker', 45_000);
    } finally {
      await stack.startWorker();
    }
    end = await sse.waitFor((f) => f.event === 'end', 60_000);
    await sse.done;
  } finally {
    sse.close();
  }
  expect(JSON.parse(end.data).status).toBe('completed');
  const expected = (await finalEvents(workflowId)).map((e) => e.seq);
  expect(stories(sse.frames).map(seqOf)).toEqual(expected);
});

test('a cancelled run streams and renders its whole story with no worker running: the story is read from its history', async () => {
  stack.llm.program({ kind: 'step', stepIndex: 1, delayMs: 300, times: Infinity });
  const workflowId = await startRunViaForm(stack.base);
  const handle = stack.env.client.workflow.getHandle(workflowId);
  const live = await connectSse(eventsUrl(workflowId));
  await live.waitFor((f) => f.event === 'story' && JSON.parse(f.data).type === 'step.output' && JSON.parse(f.data).stepIndex === 1);
  live.close();
  await handle.cancel();
  await handle.result().catch(() => undefined);
  await stack.stopWorker();
  try {
    // Closed runs other than completed and failed used to need a worker to replay them for a query.
    const sse = await connectSse(eventsUrl(workflowId));
    const end = await sse.waitFor((f) => f.event === 'end', 20_000);
    await sse.done;
    expect(JSON.parse(end.data).status).toBe('cancelled');
    const events = stories(sse.frames).map((f) => JSON.parse(f.data) as StoryEvent);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    expect(events.at(-1)!.type).toBe('run.cancelled');
    const plan = events.find((e) => e.type === 'plan.ready') as Extract<StoryEvent, { type: 'plan.ready' }>;
    const html = await (await fetch(`${stack.base}/runs/${workflowId}`)).text();
    for (const step of plan.plan.steps) expect(html).toContain(step.title);
    expect(html).not.toMatch(/waiting for a worker/i);
  } finally {
    await stack.startWorker();
  }
});

test('two viewers of one run share one watcher, which is gone when both leave', async () => {
  stack.llm.program({ kind: 'step', delayMs: 200, times: Infinity });
  const before = await metrics(stack.base);
  const workflowId = await startRunViaForm(stack.base);
  const a = await connectSse(eventsUrl(workflowId));
  const b = await connectSse(eventsUrl(workflowId));
  await a.waitFor((f) => f.event === 'story' && JSON.parse(f.data).type === 'plan.ready');
  await b.waitFor((f) => f.event === 'story' && JSON.parse(f.data).type === 'plan.ready');
  const during = await metrics(stack.base);
  expect(during.buildstory_run_watchers).toBe(before.buildstory_run_watchers + 1);
  expect(during.buildstory_sse_connections).toBe(before.buildstory_sse_connections + 2);

  a.close();
  b.close();
  await Promise.all([a.done, b.done]);
  await waitUntil(async () => {
    const after = await metrics(stack.base);
    return (
      after.buildstory_run_watchers === before.buildstory_run_watchers &&
      after.buildstory_sse_connections === before.buildstory_sse_connections
    );
  });
  // Nothing left polling: the query count stays put while the run goes on unwatched.
  const settled = (await metrics(stack.base)).buildstory_watcher_queries_total;
  await new Promise((r) => setTimeout(r, 1_500));
  expect((await metrics(stack.base)).buildstory_watcher_queries_total).toBe(settled);
  await stack.env.client.workflow.getHandle(workflowId).query(progressQuery);
  await finalEvents(workflowId);
});

test('a worker on a build without the `story` query still streams live: the watcher falls back to `progress`', async () => {
  const taskQueue = uniqueTaskQueue('legacy');
  const worker = await Worker.create({
    connection: stack.env.nativeConnection,
    namespace: stack.env.namespace ?? 'default',
    taskQueue,
    workflowsPath: require.resolve('./fixtures/legacy-workflow'),
  });
  const running = worker.run();
  try {
    const workflowId = `task-${randomUUID()}`;
    const handle = await stack.env.client.workflow.start('taskWorkflow', { taskQueue, workflowId, args: [{ task: 'Say hello' }] });
    const sse = await connectSse(eventsUrl(workflowId));
    // The run waits for `finish`, so the plan can only come from a live query.
    const plan = await sse.waitFor((f) => f.event === 'story' && JSON.parse(f.data).type === 'plan.ready', 15_000);
    expect(JSON.parse(plan.data).seq).toBe(2);
    expect(stories(sse.frames).map(seqOf)).toEqual([1, 2]);
    await handle.signal(finishSignal);
    await sse.waitFor((f) => f.event === 'end');
    await sse.done;
    expect(stories(sse.frames).map((f) => JSON.parse(f.data).type)).toEqual(['run.started', 'plan.ready', 'run.completed']);
  } finally {
    worker.shutdown();
    await running;
  }
});
