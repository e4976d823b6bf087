/**
 * The web app's Prometheus metrics: event streams, watchers, what they cost Temporal.
 * Gauges read the live counters at scrape time, so nothing has to remember to update them.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { streamStats } from './stream-stats.server';
import { activeWatchers, watcherStats } from './watcher.server';

// One registry per process, kept across Remix's dev-time module reloads.
const globalForMetrics = globalThis as unknown as { __buildstoryRegistry?: Registry };

function createRegistry(): Registry {
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
  return registry;
}

export const registry = (globalForMetrics.__buildstoryRegistry ??= createRegistry());
