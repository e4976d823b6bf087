/**
 * The JSON API under /api/v1 over real HTTP: the production web process on the run's dev server,
 * a worker on the test LLM server; a second replica for idempotency across processes; a third
 * with access control on. The OpenAPI document is checked against the route files and against
 * what the start handler accepts. (ajv comes into node_modules with other packages: see the report.)
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import Ajv2020 from 'ajv/dist/2020';
import { connectSse } from '../devstack/sse';
import { startPart, webPart, type ServedPartSpec, type StartedPart } from '../devstack/parts';
import { freePort } from '../devstack/processes';
import { startStack, type Stack } from './setup/stack';
import { sharedServer } from './setup/temporal';

let stack: Stack;
let replica: StartedPart<ServedPartSpec> | undefined;
let locked: StartedPart<ServedPartSpec> | undefined;

const TASK = 'Create a hello world python function';
const PROBLEM = 'application/problem+json';

beforeAll(async () => {
  // The tests start more runs than the default 30 a minute: the limit is checked on the replica.
  stack = await startStack({ name: 'api', chunkDelayMs: 0, webEnv: { SUBMIT_RATE_LIMIT_PER_MINUTE: '500' } });
  const env = { TEMPORAL_ADDRESS: sharedServer().address, TEMPORAL_TASK_QUEUE: stack.taskQueue, LOG_LEVEL: 'warn' };
  replica = startPart(webPart({ name: 'web:api-replica', port: await freePort(), env: { ...env, SUBMIT_RATE_LIMIT_PER_MINUTE: '2' } }));
  locked = startPart(
    webPart({
      name: 'web:api-locked',
      port: await freePort(),
      env: {
        ...env,
        BUILDSTORY_AUTH_PASSWORDS: 'alice:correct-horse-battery-staple',
        BUILDSTORY_SESSION_SECRET: 'test-session-secret-0123456789abcdef-0123456789',
      },
    }),
  );
  await Promise.all([replica.ready(), locked.ready()]);
});

afterAll(async () => {
  await locked?.stop();
  await replica?.stop();
  await stack?.close();
});

function post(path: string, body: unknown, headers: Record<string, string> = {}, base = stack.base): Promise<Response> {
  return fetch(`${base}${path}`, {
    method: 'POST',
    body: typeof body === 'string' ? body : JSON.stringify(body),
    headers: { 'Content-Type': 'application/json', ...headers },
  });
}

async function getJson<T = Record<string, unknown>>(path: string): Promise<{ status: number; body: T; type: string | null }> {
  const res = await fetch(`${stack.base}${path}`);
  return { status: res.status, type: res.headers.get('content-type'), body: (await res.json()) as T };
}

type Problem = { type: string; title: string; status: number; detail?: string; errors?: Array<Record<string, string>> };

async function expectProblem(res: Response, status: number): Promise<Problem> {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toBe(PROBLEM);
  const body = (await res.json()) as Problem;
  expect(body.status).toBe(status);
  expect(body.title.length).toBeGreaterThan(5);
  return body;
}

type RunJson = {
  workflowId: string;
  runId: string;
  temporalStatus: string;
  snapshot: { status: string; review?: { revision: number } | null } | null;
};

async function runWhen(workflowId: string, done: (run: RunJson) => boolean, timeoutMs = 30_000): Promise<RunJson> {
  const deadline = Date.now() + timeoutMs;
  let run: RunJson | null = null;
  while (Date.now() < deadline) {
    run = (await getJson<RunJson>(`/api/v1/runs/${workflowId}`)).body;
    if (done(run)) return run;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${workflowId} never got there; last: ${JSON.stringify(run).slice(0, 500)}`);
}

/** Every run (all workflow ids) on this test's task queue, from Temporal itself. */
async function allRuns(): Promise<string[]> {
  const ids: string[] = [];
  for await (const run of stack.env.client.workflow.list({ query: `TaskQueue = '${stack.taskQueue}'` })) ids.push(run.workflowId);
  return ids.sort();
}

test('start without a key: 201 with Location; the run completes, and GET answers its story', async () => {
  const res = await post('/api/v1/runs', { task: TASK });
  expect(res.status).toBe(201);
  const started = (await res.json()) as { workflowId: string; href: string };
  expect(started.workflowId).toMatch(/^task-[0-9a-f-]{36}$/);
  expect(res.headers.get('location')).toBe(`/api/v1/runs/${started.workflowId}`);
  const run = await runWhen(started.workflowId, (r) => r.temporalStatus === 'COMPLETED');
  expect(run.snapshot?.status).toBe('completed');
});

test('the same key and body start one run, even through two replicas at once; another body under the key is a 409', async () => {
  const key = randomUUID();
  const body = { task: 'Say hello once', budget: { steps: 3 } };
  // Key order does not matter: the hash is of the validated body.
  const [a, b] = await Promise.all([
    post('/api/v1/runs', body, { 'Idempotency-Key': key }),
    post('/api/v1/runs', { budget: { steps: 3 }, task: 'Say hello once' }, { 'Idempotency-Key': key }, replica!.base),
  ]);
  const [first, second] = [(await a.json()) as { workflowId: string }, (await b.json()) as { workflowId: string }];
  expect(second.workflowId).toBe(first.workflowId);
  expect([a.status, b.status].sort()).toEqual([200, 201]);

  await stack.env.client.workflow.getHandle(first.workflowId).result();
  // After the run ended: still that run, not a second one.
  const again = await post('/api/v1/runs', body, { 'Idempotency-Key': `"${key}"` });
  expect(again.status).toBe(200);
  expect(((await again.json()) as { workflowId: string }).workflowId).toBe(first.workflowId);
  const runs = [];
  for await (const run of stack.env.client.workflow.list({ query: `WorkflowId = '${first.workflowId}'` })) runs.push(run.runId);
  expect(runs).toHaveLength(1);

  const other = await expectProblem(await post('/api/v1/runs', { ...body, task: 'Say goodbye' }, { 'Idempotency-Key': key }), 409);
  expect(other.type).toBe('urn:buildstory:problem:idempotency-key-reused');
  expect(other.errors).toEqual([expect.objectContaining({ header: 'Idempotency-Key' })]);
});

test('bad input is a 400 problem naming the field, and starts nothing', async () => {
  const before = await allRuns();
  const cases: Array<{ body: unknown; headers?: Record<string, string>; where: Record<string, string> }> = [
    { body: { task: '   ' }, where: { pointer: '#/task' } },
    { body: {}, where: { pointer: '#/task' } },
    { body: { task: 42 }, where: { pointer: '#/task' } },
    { body: { task: 'x'.repeat(4_001) }, where: { pointer: '#/task' } },
    { body: { task: TASK, review: 'yes' }, where: { pointer: '#/review' } },
    { body: { task: TASK, budget: { steps: 9 } }, where: { pointer: '#/budget/steps' } },
    { body: { task: TASK, budget: { minutes: 3 } }, where: { pointer: '#/budget/minutes' } },
    { body: { task: TASK, colour: 'blue' }, where: { pointer: '#/colour' } },
    { body: '{"task": ', where: { pointer: '#' } },
    { body: { task: TASK }, headers: { 'Idempotency-Key': 'has spaces in it' }, where: { header: 'Idempotency-Key' } },
    { body: { task: TASK }, headers: { 'Idempotency-Key': 'k'.repeat(256) }, where: { header: 'Idempotency-Key' } },
  ];
  for (const { body, headers, where } of cases) {
    const problem = await expectProblem(await post('/api/v1/runs', body, headers), 400);
    expect({ body, errors: problem.errors }).toEqual({ body, errors: expect.arrayContaining([expect.objectContaining(where)]) });
  }
  expect((await expectProblem(await post('/api/v1/runs', { task: TASK }, { 'Content-Type': 'text/plain' }), 415)).title).toMatch(/json/i);
  expect(await allRuns()).toEqual(before);
});

test("the submit rate limit counts the API's starts too: a 429 problem with Retry-After", async () => {
  const answers: Response[] = [];
  for (let i = 0; i < 3; i++) answers.push(await post('/api/v1/runs', { task: '' }, {}, replica!.base));
  const limited = answers.find((res) => res.status === 429);
  expect(limited).toBeDefined();
  expect(Number(limited!.headers.get('retry-after'))).toBeGreaterThan(0);
  expect((await expectProblem(limited!, 429)).title).toMatch(/Too many/);
});

test('list: a status filter, pages of two with a cursor that do not overlap, and a 400 for a bad filter, limit or cursor', async () => {
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) {
    const res = await post('/api/v1/runs', { task: `${TASK} number ${i}` });
    ids.push(((await res.json()) as { workflowId: string }).workflowId);
  }
  await Promise.all(ids.map((id) => stack.env.client.workflow.getHandle(id).result()));
  type Page = { runs: Array<{ workflowId: string; status: string; task: string | null }>; nextCursor: string | null };
  // Pages of two completed runs (everyone's: access control is off), until all three are seen.
  // Visibility is eventually consistent: start over from the first page until then.
  const deadline = Date.now() + 15_000;
  let seen: string[] = [];
  while (!ids.every((id) => seen.includes(id))) {
    if (Date.now() > deadline) throw new Error(`the runs never all showed in the list: ${seen.join(', ')}`);
    seen = [];
    let cursor: string | null = null;
    do {
      const { status, body }: { status: number; body: Page } = await getJson<Page>(
        `/api/v1/runs?status=Completed&limit=2${cursor ? `&cursor=${cursor}` : ''}`,
      );
      expect(status).toBe(200);
      expect(body.runs.length).toBeLessThanOrEqual(2);
      expect(body.runs.every((r) => r.status === 'COMPLETED')).toBe(true);
      for (const run of body.runs) expect(seen).not.toContain(run.workflowId);
      seen.push(...body.runs.map((r) => r.workflowId));
      cursor = body.nextCursor;
    } while (cursor && !ids.every((id) => seen.includes(id)));
    if (!ids.every((id) => seen.includes(id))) await new Promise((r) => setTimeout(r, 300));
  }
  expect(seen.length).toBeGreaterThanOrEqual(3);
  expect((await getJson<Page>('/api/v1/runs?status=Running&limit=100')).body.runs.map((r) => r.workflowId)).not.toContain(ids[0]);

  const bad = await expectProblem(await fetch(`${stack.base}/api/v1/runs?status=Sleeping`), 400);
  expect(bad.errors).toEqual([expect.objectContaining({ parameter: 'status' })]);
  const badLimit = await expectProblem(await fetch(`${stack.base}/api/v1/runs?limit=1000`), 400);
  expect(badLimit.errors).toEqual([expect.objectContaining({ parameter: 'limit' })]);
  const badCursor = await expectProblem(await fetch(`${stack.base}/api/v1/runs?cursor=bm90LWEtY3Vyc29y`), 400);
  expect(badCursor.errors).toEqual([expect.objectContaining({ parameter: 'cursor' })]);
});

test('review: approve the plan the run waits for; cancel another; run again; 409 for what the state does not allow', async () => {
  const start = async () =>
    ((await (await post('/api/v1/runs', { task: TASK, review: true })).json()) as { workflowId: string }).workflowId;
  const [reviewed, cancelled] = await Promise.all([start(), start()]);
  const waiting = await runWhen(reviewed, (r) => Boolean(r.snapshot?.review));
  const revision = waiting.snapshot!.review!.revision;
  const key = randomUUID();
  const approve = await post(`/api/v1/runs/${reviewed}/review`, { decision: 'approve', revision }, { 'Idempotency-Key': key });
  expect(approve.status).toBe(200);
  expect(((await approve.json()) as { outcome: { decision: string } }).outcome.decision).toBe('approve');
  await runWhen(reviewed, (r) => r.temporalStatus === 'COMPLETED');
  // Sent again with its key after the run ended: the same outcome, not an error.
  expect((await post(`/api/v1/runs/${reviewed}/review`, { decision: 'approve', revision }, { 'Idempotency-Key': key })).status).toBe(200);
  const badReview = await expectProblem(await post(`/api/v1/runs/${reviewed}/review`, { decision: 'maybe', revision }), 400);
  expect(badReview.errors?.[0]?.pointer).toBe('#/decision');

  await runWhen(cancelled, (r) => Boolean(r.snapshot?.review));
  const cancel = await post(`/api/v1/runs/${cancelled}/cancel`, '');
  expect(cancel.status).toBe(200);
  await runWhen(cancelled, (r) => r.temporalStatus === 'CANCELLED');
  const twice = await expectProblem(await post(`/api/v1/runs/${cancelled}/cancel`, ''), 409);
  expect(twice.type).toBe('urn:buildstory:problem:run-state-conflict');
  expect(twice.detail).toMatch(/nothing to cancel/);

  const againKey = randomUUID();
  const again = await post(`/api/v1/runs/${reviewed}/run-again`, '', { 'Idempotency-Key': againKey });
  expect(again.status).toBe(200);
  const rerun = ((await again.json()) as { workflowId: string }).workflowId;
  expect(rerun).not.toBe(reviewed);
  const repeat = await post(`/api/v1/runs/${reviewed}/run-again`, '', { 'Idempotency-Key': againKey });
  expect(((await repeat.json()) as { workflowId: string }).workflowId).toBe(rerun);
  await stack.env.client.workflow.getHandle(rerun).result();
});

test('retry from the failed step: the run fails at step 2, the retry keeps step 1 and completes', async () => {
  stack.llm.program({ kind: 'step', stepIndex: 1, status: 400, message: 'This step is refused once', times: 1 });
  const { workflowId } = (await (await post('/api/v1/runs', { task: TASK })).json()) as { workflowId: string };
  const failed = await runWhen(workflowId, (r) => r.temporalStatus === 'FAILED');
  const plansAndFirstSteps = () => stack.llm.calls.filter((c) => c.kind === 'plan' || c.stepIndex === 0).length;
  const before = plansAndFirstSteps();
  const retry = await post(`/api/v1/runs/${workflowId}/retry`, '');
  expect(retry.status).toBe(200);
  const retried = (await retry.json()) as { runId: string };
  expect(retried.runId).not.toBe(failed.runId);
  const done = await runWhen(workflowId, (r) => r.temporalStatus === 'COMPLETED');
  expect(done.runId).toBe(retried.runId);
  // Neither the plan nor step 1 was asked for again.
  expect(plansAndFirstSteps()).toBe(before);
  const completed = await expectProblem(await post(`/api/v1/runs/${workflowId}/retry`, ''), 409);
  expect(completed.detail).toMatch(/no failed step/);
});

test('the event stream is the page stream: story events with ids, then end; 404 problem for an unknown run', async () => {
  const { workflowId } = (await (await post('/api/v1/runs', { task: TASK })).json()) as { workflowId: string };
  const stream = await connectSse(`${stack.base}/api/v1/runs/${workflowId}/events`);
  expect(stream.status).toBe(200);
  expect(stream.headers.get('content-type')).toMatch(/^text\/event-stream/);
  await stream.waitFor((frame) => frame.event === 'end', 30_000);
  const story = stream.frames.filter((f) => f.event === 'story');
  expect(story.length).toBeGreaterThan(3);
  expect(story[0]!.id).toMatch(/^[0-9a-f-]+:1$/);
  stream.close();
  await expectProblem(await fetch(`${stack.base}/api/v1/runs/task-${randomUUID()}/events`), 404);
});

test('a method a route does not serve is a 405 problem', async () => {
  const id = `task-${randomUUID()}`;
  expect((await expectProblem(await fetch(`${stack.base}/api/v1/runs/${id}/cancel`), 405)).title).toBe('Use POST here');
  expect((await expectProblem(await post(`/api/v1/runs/${id}`, ''), 405)).title).toBe('Use GET here');
  const del = await fetch(`${stack.base}/api/v1/runs`, { method: 'DELETE' });
  expect(del.headers.get('allow')).toBe('GET, POST');
  await expectProblem(del, 405);
});

test('unknown runs and routes are 404 problems', async () => {
  for (const path of [`/api/v1/runs/task-${randomUUID()}`, '/api/v1/runs/not-a-run', '/api/v1/nothing-here']) {
    await expectProblem(await fetch(`${stack.base}${path}`), 404);
  }
  for (const action of ['cancel', 'retry', 'run-again']) {
    await expectProblem(await post(`/api/v1/runs/task-${randomUUID()}/${action}`, ''), 404);
  }
});

test('with access control on, the API answers 401 problems, a session cookie or not, and starts nothing', async () => {
  const before = await allRuns();
  const base = locked!.base;
  // Sign in as a browser would: the cookie opens the pages, not the API.
  const login = await fetch(`${base}/login`);
  const cookie = login.headers
    .getSetCookie()
    .find((c) => c.startsWith('buildstory_session='))!
    .split(';')[0]!;
  const csrf = /name="csrf" value="([^"]+)"/.exec(await login.text())![1]!;
  const signIn = await fetch(`${base}/login`, {
    method: 'POST',
    body: new URLSearchParams({ csrf, user: 'alice', password: 'correct-horse-battery-staple' }),
    headers: { Cookie: cookie },
    redirect: 'manual',
  });
  expect(signIn.status).toBe(302);
  const session = signIn.headers
    .getSetCookie()
    .find((c) => c.startsWith('buildstory_session='))!
    .split(';')[0]!;
  expect((await fetch(`${base}/`, { headers: { Cookie: session } })).status).toBe(200);

  for (const headers of [{}, { Cookie: session }] as Array<Record<string, string>>) {
    const start = await post('/api/v1/runs', { task: TASK }, headers, base);
    expect((await expectProblem(start, 401)).title).toMatch(/API token/);
    expect(start.headers.get('www-authenticate')).toMatch(/^Bearer/);
    await expectProblem(await fetch(`${base}/api/v1/runs`, { headers }), 401);
    await expectProblem(await fetch(`${base}/api/v1/runs/task-${randomUUID()}`, { headers }), 401);
  }
  expect(await allRuns()).toEqual(before);
});

describe('the OpenAPI document', () => {
  type Doc = { openapi: string; paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: object }> } }>> };
  let doc: Doc;

  beforeAll(async () => {
    const res = await fetch(`${stack.base}/api/v1/openapi.json`);
    expect(res.status).toBe(200);
    doc = (await res.json()) as Doc;
  });

  test('is OpenAPI 3.1 and lists every route the API serves, with its methods', () => {
    expect(doc.openapi).toMatch(/^3\.1\./);
    const dir = join(__dirname, '..', 'web', 'app', 'routes');
    const served: string[] = [];
    for (const file of readdirSync(dir).filter((name) => name.startsWith('api.v1.'))) {
      const path = `/${file
        .replace(/\.tsx?$/, '')
        // Flat routes: a dot is a slash, `[.]` a dot, `$name` a parameter.
        .replace(/\[\.\]/g, '%2E')
        .split('.')
        .map((part) => (part.startsWith('$') ? `{${part.slice(1)}}` : part))
        .join('/')
        .replace(/%2E/g, '.')}`;
      const source = readFileSync(join(dir, file), 'utf8');
      // A method a route answers only with a 405 (methodNotAllowed) is not one it serves.
      const serves = (name: string) => new RegExp(`export (async )?(function|const) ${name}\\b(?! = methodNotAllowed)`).test(source);
      if (serves('loader')) served.push(`get ${path}`);
      if (serves('action')) served.push(`post ${path}`);
    }
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((method) => `${method} ${path}`));
    expect(served.length).toBeGreaterThanOrEqual(9);
    expect(documented.sort()).toEqual(served.sort());
  });

  test("the start body's schema accepts and refuses what the handler does", async () => {
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    ajv.addSchema({ $id: 'https://buildstory.invalid/openapi.json', ...doc } as object);
    const schema = doc.paths['/api/v1/runs']!.post!.requestBody!.content['application/json']!.schema as { $ref: string };
    const validate = ajv.compile({ $ref: `https://buildstory.invalid/openapi.json${schema.$ref}` });
    const examples: unknown[] = [
      { task: TASK },
      { task: TASK, review: false },
      { task: TASK, budget: { tokens: 1000, cost: 0.5, timeMs: 60_000, steps: 2 } },
      {},
      { task: 42 },
      { task: '' },
      { task: 'x'.repeat(4_001) },
      { task: TASK, review: 'yes' },
      { task: TASK, budget: { steps: 0 } },
      { task: TASK, budget: { steps: 9 } },
      { task: TASK, budget: { timeMs: 999 } },
      { task: TASK, budget: { tokens: 1.5 } },
      { task: TASK, budget: { minutes: 3 } },
      { task: TASK, colour: 'blue' },
      [TASK],
    ];
    for (const body of examples) {
      // A fresh key per example: an accepted one starts a run, whose id the test does not need.
      const res = await post('/api/v1/runs', body, { 'Idempotency-Key': randomUUID() });
      const handler = res.status === 201 ? 'accepts' : res.status === 400 ? 'refuses' : `answers ${res.status}`;
      expect({ body, schema: validate(body) ? 'accepts' : 'refuses' }).toEqual({ body, schema: handler });
    }
  });
});
