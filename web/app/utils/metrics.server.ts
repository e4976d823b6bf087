/**
 * The web app's Prometheus metrics: HTTP requests, runs started, event streams, watchers, what
 * they cost Temporal. Gauges read the live counters at scrape time, so nothing has to remember to
 * update them.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { streamStats } from './stream-stats.server';
import { activeWatchers, watcherStats } from './watcher.server';

export interface WebMetrics {
  registry: Registry;
  /** Runs started from the web app: start requests that Temporal accepted. */
  workflowStarts: Counter;
  /** Time to answer HTTP requests (event streams excepted: they last as long as the page). */
  httpRequestDuration: Histogram<'method' | 'route' | 'status'>;
  /**
   * Record one finished response; web/server.ts calls it for every request, with the pattern of
   * the route it matched as `route` (see route-label.server.ts), never the path.
   */
  observeRequest(request: { method: string; route: string; status: number; contentType: string | undefined; seconds: number }): void;
}

/**
 * Where the metrics live, one set per process, kept across Remix's dev-time module reloads.
 * web/server.ts runs outside the Vite build and reaches them here: importing this module there
 * would load second copies of the stats modules it reads.
 */
export type WebMetricsGlobal = { __buildstoryMetrics?: WebMetrics };

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

function createMetrics(): WebMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  new Gauge({
    name: 'buildstory_sse_connections',
    help: 'Event streams open now',
    registers: [registry],
    collect() {
      this.set(streamStats.open);
    },
  });
  new Gauge({
    name: 'buildstory_run_watchers',
    help: 'Runs watched now (one watcher per run, shared by its streams)',
    registers: [registry],
    collect() {
      this.set(activeWatchers());
    },
  });
  const counters: Array<[string, string, () => number]> = [
    ['buildstory_sse_events_sent_total', 'Story events written to event streams', () => streamStats.eventsSent],
    ['buildstory_watcher_queries_total', 'Progress queries made by watchers', () => watcherStats.queries],
    ['buildstory_watcher_history_polls_total', 'History long polls made by watchers', () => watcherStats.historyPolls],
    ['buildstory_watcher_describes_total', 'Describe calls made by watchers and streams', () => watcherStats.describes],
    [
      'buildstory_watcher_held_queries_total',
      'Queries that timed out while a worker was at work on the run (not reported as waiting for a worker)',
      () => watcherStats.heldQueries,
    ],
    [
      'buildstory_watcher_story_batches_total',
      "Batches of story events watchers read from runs' histories (no query needed)",
      () => watcherStats.storyBatches,
    ],
  ];
  for (const [name, help, read] of counters) {
    let seen = 0;
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        const now = read();
        this.inc(now - seen);
        seen = now;
      },
    });
  }
  // Every call to Temporal, by gRPC method (the client interceptor counts them): what watching
  // costs the server, for the benchmark and dashboards. Methods are a small fixed set.
  const rpcsSeen: Record<string, number> = {};
  new Counter({
    name: 'buildstory_temporal_rpcs_total',
    help: 'Calls this web process made to Temporal, by gRPC method',
    labelNames: ['method'] as const,
    registers: [registry],
    collect() {
      for (const [method, now] of Object.entries(streamStats.temporalRpcs)) {
        this.inc({ method }, now - (rpcsSeen[method] ?? 0));
        rpcsSeen[method] = now;
      }
    },
  });

  const workflowStarts = new Counter({
    name: 'buildstory_workflow_starts_total',
    help: 'Runs started from the web app (start requests Temporal accepted; a repeated submit counts again)',
    registers: [registry],
  });
  const httpRequestDuration = new Histogram({
    name: 'buildstory_http_request_duration_seconds',
    help: 'Time to answer HTTP requests, event streams excepted',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });

  return {
    registry,
    workflowStarts,
    httpRequestDuration,
    observeRequest({ method, route, status, contentType, seconds }) {
      if (contentType && /^text\/event-stream/i.test(contentType)) return;
      httpRequestDuration.observe({ method: METHODS.has(method) ? method : 'other', route, status: String(status) }, seconds);
    },
  };
}

const metrics = ((globalThis as WebMetricsGlobal).__buildstoryMetrics ??= createMetrics());

export const registry = metrics.registry;
export const workflowStarts = metrics.workflowStarts;
export const httpRequestDuration = metrics.httpRequestDuration;
