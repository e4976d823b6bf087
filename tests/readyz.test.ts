/**
 * The web app's probes as an orchestrator sees them: /healthz answers whenever the process does;
 * /readyz only when Temporal answers for our namespace, and says why not at its own deadline.
 * Also its request metrics, which web/server.ts records for every route.
 */
import type { ChildProcess } from 'node:child_process';
import { createServer, type Socket } from 'node:net';
import { freePort, startNode, stopChild, waitForHttp } from '../devstack/processes';
import { startRunViaForm } from '../devstack/form';
import { startStack, type Stack } from './setup/stack';
import { sharedServer } from './setup/temporal';

let stack: Stack;
const others: ChildProcess[] = [];

beforeAll(async () => {
  stack = await startStack({ name: 'readyz', model: 'offline' });
});

afterAll(async () => {
  await Promise.all(others.map((child) => stopChild(child)));
  await stack?.close();
});

/** Another web process with its own settings; resolves with its base URL once /healthz answers. */
async function startWeb(name: string, env: NodeJS.ProcessEnv): Promise<string> {
  const port = await freePort();
  const child = startNode(`web:${name}`, 'web/server.ts', { PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'fatal', ...env });
  others.push(child);
  const base = `http://127.0.0.1:${port}`;
  await waitForHttp(`${base}/healthz`, 60_000, child);
  return base;
}

/** A GET that gives up after 15 s: a probe that hangs fails the test instead of stalling it. */
async function get(url: string): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(15_000) });
  return { status: res.status, body: await res.text() };
}

test('with Temporal up: /healthz and /readyz answer 200', async () => {
  expect(await get(`${stack.base}/healthz`)).toMatchObject({ status: 200, body: 'ok' });
  const ready = await get(`${stack.base}/readyz`);
  expect(ready).toMatchObject({ status: 200, body: 'ready\n' });
});

test('with a Temporal that never answers: /healthz still 200, /readyz 503 naming the address', async () => {
  // Accepts connections and says nothing, like a hung server or a firewall that drops packets.
  const sockets: Socket[] = [];
  const silent = createServer((socket) => sockets.push(socket));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const address = `127.0.0.1:${(silent.address() as { port: number }).port}`;
  try {
    // Every call to Temporal may wait two minutes: only /readyz's own deadline answers before get() gives up.
    const base = await startWeb('silent-temporal', { TEMPORAL_ADDRESS: address, TEMPORAL_RPC_TIMEOUT_MS: '120000' });
    expect(await get(`${base}/healthz`)).toMatchObject({ status: 200 });
    expect(await get(`${base}/readyz`)).toEqual({ status: 503, body: `Temporal is not reachable at ${address}\n` });
    // It did try that address.
    expect(sockets.length).toBeGreaterThan(0);
  } finally {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
  }
});

test('with a namespace Temporal does not have: /readyz 503 naming it', async () => {
  const base = await startWeb('no-namespace', { TEMPORAL_ADDRESS: sharedServer().address, TEMPORAL_NAMESPACE: 'no-such-namespace' });
  const ready = await get(`${base}/readyz`);
  expect(ready).toMatchObject({ status: 503, body: `Temporal at ${sharedServer().address} has no namespace no-such-namespace\n` });
});

test('/metrics has request durations by route pattern (run ids folded) and the workflow-start counter', async () => {
  const workflowId = await startRunViaForm(stack.base);
  // Whole responses: a request is recorded when its response has finished.
  expect(await get(`${stack.base}/runs/${workflowId}`)).toMatchObject({ status: 200 });
  expect(await get(`${stack.base}/readyz`)).toMatchObject({ status: 200 });
  expect(await get(`${stack.base}/no-such-page-${Date.now()}`)).toMatchObject({ status: 404 });
  const text = await (await fetch(`${stack.base}/metrics`)).text();
  const count = (labels: string) => new RegExp(`^buildstory_http_request_duration_seconds_count\\{${labels}\\} [1-9]`, 'm');
  expect(text).toMatch(count('method="GET",route="/runs/:runId",status="200"'));
  expect(text).toMatch(count('method="GET",route="/readyz",status="200"'));
  expect(text).toMatch(count('method="GET",route="\\(unmatched\\)",status="404"'));
  expect(text).not.toContain(workflowId);
  expect(text).not.toContain('no-such-page');
  expect(text).toMatch(/^buildstory_workflow_starts_total \d+$/m);
});
