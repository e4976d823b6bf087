/**
 * The worker's health server: alone (readiness follows the worker, metrics survive a silent SDK
 * exporter), and in the real worker process against the run's dev server, from start to SIGTERM.
 */
import type { ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { loadWorkerConfig } from '../config/worker';
import { freePort, startNode, waitForHttp } from '../devstack/processes';
import { connectTestEnv, sharedServer, uniqueTaskQueue } from '../tests/setup/temporal';
import { WORKFLOW_NAME, type ProgressSnapshot } from '../contract/data';
import { startHealthServer, workerMetrics, type HealthServer } from './health';

const logger = pino({ level: 'silent' });

async function get(url: string): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  return { status: res.status, body: await res.text() };
}

describe('startHealthServer', () => {
  let server: HealthServer;
  let ready = false;
  let exporter: Server;
  let exporterUrl: string;

  beforeAll(async () => {
    // Stands in for the SDK's Prometheus exporter.
    exporter = createServer((_req, res) => res.end('# TYPE temporal_worker_start counter\ntemporal_worker_start 1\n'));
    await new Promise<void>((resolve) => exporter.listen(0, '127.0.0.1', resolve));
    exporterUrl = `http://127.0.0.1:${(exporter.address() as AddressInfo).port}/metrics`;
    server = await startHealthServer({
      port: 0,
      host: '127.0.0.1',
      isReady: () => ready,
      metrics: workerMetrics({ status: () => undefined, sdkMetricsUrl: exporterUrl, logger }),
      logger,
    });
  });

  afterAll(async () => {
    await server?.close();
    await new Promise((resolve) => exporter?.close(resolve));
  });

  test('/healthz answers while the process runs; /readyz follows the worker', async () => {
    const base = `http://127.0.0.1:${server.port}`;
    expect(await get(`${base}/healthz`)).toEqual({ status: 200, body: 'ok\n' });
    expect((await get(`${base}/readyz`)).status).toBe(503);
    ready = true;
    expect(await get(`${base}/readyz`)).toEqual({ status: 200, body: 'ready\n' });
    expect((await get(`${base}/nope`)).status).toBe(404);
  });

  test("/metrics gives our metrics and the SDK exporter's", async () => {
    const res = await fetch(`http://127.0.0.1:${server.port}/metrics`);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    expect(text).toMatch(/^buildstory_worker_running 0$/m);
    expect(text).toMatch(/^process_cpu_seconds_total /m);
    expect(text).toMatch(/^temporal_worker_start 1$/m);
  });

  test('/metrics still answers when the SDK exporter does not', async () => {
    const metrics = workerMetrics({ status: () => undefined, sdkMetricsUrl: 'http://127.0.0.1:1/metrics', logger });
    const text = await metrics();
    expect(text).toMatch(/^buildstory_worker_running 0$/m);
    expect(text).not.toMatch(/^temporal_/m);
  });
});

describe("the health server's interface", () => {
  /** Where a health server started as worker/index.ts starts it, with these settings, listens. */
  async function boundTo(vars: Record<string, string>): Promise<string> {
    // No Temporal profile of the developer's: only these settings count.
    const { healthHost } = loadWorkerConfig({ TEMPORAL_CONFIG_FILE: join(tmpdir(), 'buildstory-no-such-profile.toml'), ...vars }).worker;
    const server = await startHealthServer({ port: 0, host: healthHost, isReady: () => true, metrics: async () => '', logger });
    await server.close();
    return server.host;
  }

  test('is loopback by default, even with the web app on all interfaces (HOST)', async () => {
    expect(await boundTo({})).toBe('127.0.0.1');
    expect(await boundTo({ HOST: '0.0.0.0' })).toBe('127.0.0.1');
  });

  test('WORKER_HEALTH_HOST opens it', async () => {
    expect(await boundTo({ WORKER_HEALTH_HOST: '0.0.0.0' })).toBe('0.0.0.0');
  });
});

describe('the worker process (worker/index.ts)', () => {
  let worker: ChildProcess | undefined;

  afterAll(() => {
    if (worker && worker.exitCode === null && worker.signalCode === null) worker.kill('SIGKILL');
  });

  test("is alive at once, ready once polling, exports its and the SDK's metrics, and exits 0 on SIGTERM", async () => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const taskQueue = uniqueTaskQueue('health');
    worker = startNode('worker', 'worker/index.ts', {
      TEMPORAL_ADDRESS: sharedServer().address,
      TEMPORAL_NAMESPACE: 'default',
      TEMPORAL_TASK_QUEUE: taskQueue,
      WORKER_HEALTH_PORT: String(port),
      // Left to its default interface, loopback: the probes below come from this machine.
      WORKER_HEALTH_HOST: '',
      // Blank means unset: the offline model, whatever the developer's shell holds.
      OPENAI_API_KEY: '',
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'error',
    });
    const exited = new Promise<number | null>((resolve) => worker!.once('exit', (code) => resolve(code)));

    await waitForHttp(`${base}/healthz`, 60_000, worker);
    // The server is up before the worker connects and bundles its workflows: not ready yet.
    const seen: number[] = [];
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      const { status } = await get(`${base}/readyz`);
      seen.push(status);
      if (status === 200) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(seen[0]).toBe(503);
    expect(seen[seen.length - 1]).toBe(200);

    const metrics = (await get(`${base}/metrics`)).body;
    expect(metrics).toMatch(/^buildstory_worker_running 1$/m);
    // From the SDK's own exporter: the worker started and polls.
    expect(metrics).toMatch(/^temporal_worker_start\{[^}]*task_queue="test-health-/m);
    expect(metrics).toMatch(/^temporal_num_pollers\{/m);

    // A run's model calls are counted by model: tokens, and dollars (the offline model costs 0).
    const env = await connectTestEnv();
    try {
      const handle = await env.client.workflow.start(WORKFLOW_NAME, {
        taskQueue,
        workflowId: `wf-${taskQueue}`,
        args: [{ task: 'Say hi' }],
      });
      const final = (await handle.result()) as ProgressSnapshot;
      const after = (await get(`${base}/metrics`)).body;
      const completion = /^buildstory_llm_tokens_total\{model="offline model",kind="completion"\} (\d+)$/m.exec(after);
      const all = final.steps.reduce((sum, step) => sum + step.usage!.completionTokens, 0);
      expect(Number(completion?.[1])).toBeGreaterThanOrEqual(all);
      expect(after).toMatch(/^buildstory_llm_cost_usd_total\{model="offline model"\} 0$/m);
    } finally {
      await env.teardown();
    }

    worker.kill('SIGTERM');
    const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 20_000).unref());
    expect(await Promise.race([exited, timeout])).toBe(0);
    await expect(fetch(`${base}/healthz`)).rejects.toThrow();
  });
});
