/**
 * The worker's health and metrics over HTTP, for orchestrators and Prometheus:
 *
 * - `/healthz`: 200 while the process runs (liveness);
 * - `/readyz`: 200 while the worker polls its task queue (state RUNNING), else 503;
 * - `/metrics`: this process's metrics (prom-client) followed by the Temporal SDK's own.
 *
 * The SDK's metrics come from its Prometheus exporter, which the Runtime serves on a loopback port
 * of its own; /metrics fetches them from there, so one port is scraped per worker.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { WorkerStatus } from '@temporalio/worker';
import type { Logger } from 'pino';
import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { llmRegistry } from './llm-metrics';

/** A scrape that waits longer than this on the SDK's exporter gets our metrics alone. */
const SDK_SCRAPE_TIMEOUT_MS = 2_000;
const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export interface HealthServerOptions {
  port: number;
  host: string;
  isReady: () => boolean;
  /** Prometheus text exposition. */
  metrics: () => Promise<string>;
  logger: Logger;
}

export interface HealthServer {
  /** The port it listens on (the configured one, or the one the OS chose for port 0). */
  port: number;
  /** The address it listens on, as the OS reports it. */
  host: string;
  close(): Promise<void>;
}

export async function startHealthServer(options: HealthServerOptions): Promise<HealthServer> {
  const { logger } = options;
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (status: number, body: string, type = 'text/plain; charset=utf-8') => {
      res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed\n');
    switch (path) {
      case '/healthz':
        return send(200, 'ok\n');
      case '/readyz':
        return options.isReady() ? send(200, 'ready\n') : send(503, 'the worker is not polling its task queue\n');
      case '/metrics':
        options.metrics().then(
          (text) => send(200, text, PROMETHEUS_CONTENT_TYPE),
          (err: unknown) => {
            logger.error({ err }, 'metrics failed');
            send(500, 'metrics failed\n');
          },
        );
        return;
      default:
        return send(404, 'not found\n');
    }
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port, address: host } = server.address() as AddressInfo;
  logger.info({ port, host }, 'health server listening (/healthz, /readyz, /metrics)');

  return {
    port,
    host,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Scrapers keep connections alive: do not wait for them.
        server.closeAllConnections();
      }),
  };
}

/**
 * The worker's metrics, read at scrape time: process and Node.js defaults plus what the worker
 * reports about itself, then the SDK exporter's text (task slots, poll and request latencies...).
 */
export function workerMetrics(options: {
  /** Undefined until the worker exists. */
  status: () => WorkerStatus | undefined;
  /** The SDK's Prometheus exporter, e.g. http://127.0.0.1:PORT/metrics; none without it. */
  sdkMetricsUrl?: string;
  logger: Logger;
}): () => Promise<string> {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const gauges: Array<[string, string, (status: WorkerStatus) => number]> = [
    ['buildstory_worker_running', '1 while the worker polls its task queue, else 0', (s) => (s.runState === 'RUNNING' ? 1 : 0)],
    ['buildstory_worker_activities_in_flight', 'Activities (plan or step) running now', (s) => s.numInFlightActivities],
    [
      'buildstory_worker_workflow_activations_in_flight',
      'Workflow activations being processed now',
      (s) => s.numInFlightWorkflowActivations,
    ],
    ['buildstory_worker_cached_workflows', 'Workflow executions cached in this worker', (s) => s.numCachedWorkflows],
  ];
  for (const [name, help, read] of gauges) {
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        const status = options.status();
        this.set(status ? read(status) : 0);
      },
    });
  }

  let sdkFailureLogged = false;
  return async () => {
    const own = `${await registry.metrics()}\n${await llmRegistry.metrics()}`;
    if (!options.sdkMetricsUrl) return own;
    try {
      const res = await fetch(options.sdkMetricsUrl, { signal: AbortSignal.timeout(SDK_SCRAPE_TIMEOUT_MS) });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      sdkFailureLogged = false;
      return `${own}\n${await res.text()}`;
    } catch (err) {
      // Our own metrics still say something; log once per outage, not once per scrape.
      if (!sdkFailureLogged) options.logger.warn({ err }, 'the Temporal SDK metrics exporter did not answer');
      sdkFailureLogged = true;
      return own;
    }
  };
}

/** A free loopback port for the SDK's exporter (it cannot report a port the OS chose). */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}
