/**
 * The web app as the benchmark runs it: `tsx web/server.ts` (devstack/parts.ts) with its
 * inspector open on a random loopback port, so the bench can force a full GC in it and read its
 * heap without any code in the app for it; and its /metrics, read into the numbers the figures use.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { inspectorUrls } from '../devstack/inspector';
import { startPart, webPart } from '../devstack/parts';
import { ROOT, freePort } from '../devstack/processes';
import { parsePrometheus } from '../devstack/stats';

const run = promisify(execFile);

export interface WebSnapshot {
  at: number;
  /** buildstory_temporal_rpcs_total by method. */
  rpcs: Record<string, number>;
  heapUsedBytes: number;
  cpuSeconds: number;
  connections: number;
  watchers: number;
  eventsSent: number;
  /**
   * The watchers' own counters, `buildstory_watcher_<name>_total` by <name> (queries,
   * history_polls, describes, ...): whatever the watcher counts, read by name.
   */
  watcher: Record<string, number>;
}

export interface WebProcess {
  base: string;
  child: ChildProcess;
  snapshot(): Promise<WebSnapshot>;
  /** Full GC (through the inspector), then V8's used heap in bytes; null if the inspector is not reachable. */
  heapAfterGc(): Promise<number | null>;
  /**
   * A CPU profile of `ms` through the inspector, written to `file`; resolves with the functions
   * with the most self time (null if the inspector is not reachable).
   */
  cpuProfile(ms: number, file: string): Promise<Array<{ where: string; share: number }> | null>;
  stop(): Promise<void>;
}

export async function startWeb(options: {
  temporalAddress: string;
  taskQueue: string;
  /** A free one unless given (a proxy in front needs it before the app starts). */
  port?: number;
  name?: string;
}): Promise<WebProcess> {
  const web = startPart(
    webPart({
      name: options.name,
      port: options.port ?? (await freePort()),
      // tsx's launcher and the server each open one; the server's is found by its script below.
      inspect: true,
      env: {
        TEMPORAL_ADDRESS: options.temporalAddress,
        TEMPORAL_TASK_QUEUE: options.taskQueue,
        TEMPORAL_UI_URL: 'http://localhost:8233',
        LOG_LEVEL: 'warn',
        // The bench submits far more than a person would, and reads streams without a session.
        SUBMIT_RATE_LIMIT_PER_MINUTE: '0',
        BUILDSTORY_AUTH_PASSWORDS: '',
      },
    }),
  );
  const { base, child } = web;
  const inspectors: string[] = [];
  child.stderr?.on('data', (chunk: Buffer) => inspectors.push(...inspectorUrls(chunk.toString())));
  await web.ready();

  let serverInspector: string | null | undefined;
  const findInspector = async (): Promise<string | null> => {
    for (const ws of inspectors) {
      const { host } = new URL(ws);
      try {
        const targets = (await (await fetch(`http://${host}/json/list`)).json()) as Array<{ url: string; webSocketDebuggerUrl: string }>;
        const target = targets.find((t) => t.url.includes('web/server.ts'));
        if (target) return target.webSocketDebuggerUrl;
      } catch {
        // that process is gone
      }
    }
    return null;
  };

  return {
    base,
    child,
    async snapshot() {
      const samples = parsePrometheus(await (await fetch(`${base}/metrics`)).text());
      const value = (name: string) => samples.find((s) => s.name === name)?.value ?? 0;
      const rpcs: Record<string, number> = {};
      for (const s of samples) if (s.name === 'buildstory_temporal_rpcs_total') rpcs[s.labels.method ?? 'unknown'] = s.value;
      const watcher: Record<string, number> = {};
      for (const s of samples) {
        const name = /^buildstory_watcher_(.+)_total$/.exec(s.name)?.[1];
        if (name) watcher[name] = (watcher[name] ?? 0) + s.value;
      }
      return {
        at: Date.now(),
        rpcs,
        heapUsedBytes: value('nodejs_heap_size_used_bytes'),
        cpuSeconds: value('process_cpu_seconds_total'),
        connections: value('buildstory_sse_connections'),
        watchers: value('buildstory_run_watchers'),
        eventsSent: value('buildstory_sse_events_sent_total'),
        watcher,
      };
    },
    async heapAfterGc() {
      if (serverInspector === undefined) serverInspector = await findInspector();
      if (!serverInspector) return null;
      try {
        const { stdout } = await run(
          process.execPath,
          ['--experimental-websocket', '--no-warnings', join(ROOT, 'bench', 'inspect.mjs'), serverInspector, 'heap'],
          {
            timeout: 30_000,
          },
        );
        return (JSON.parse(stdout) as { usedSize: number }).usedSize;
      } catch {
        return null;
      }
    },
    async cpuProfile(ms, file) {
      if (serverInspector === undefined) serverInspector = await findInspector();
      if (!serverInspector) return null;
      try {
        const { stdout } = await run(
          process.execPath,
          ['--experimental-websocket', '--no-warnings', join(ROOT, 'bench', 'inspect.mjs'), serverInspector, 'profile', String(ms), file],
          { timeout: ms + 60_000 },
        );
        return JSON.parse(stdout) as Array<{ where: string; share: number }>;
      } catch {
        return null;
      }
    },
    stop: web.stop,
  };
}
