/**
 * The parts of a dev stack that run as processes of their own, each described once: the web app,
 * a worker, the test LLM server. A description says what runs (a tsx script), with which
 * settings, and what answers once it is ready. `startPart` runs one with its output prefixed
 * (npm start, the tests, the bench); the fault harness runs the same descriptions under its own
 * supervisor, detached and logging to files (faults/supervisor.ts). The Temporal dev server is
 * devstack/temporal.ts.
 */
import type { ChildProcess } from 'node:child_process';
import { startNode, stopChild, waitForHttp } from './processes';

export interface PartSpec {
  /** Its log prefix, and its name in reports. */
  name: string;
  /** The tsx script it runs, from the repository root. */
  script: string;
  /** Its settings, on top of the environment it is started from. */
  env: NodeJS.ProcessEnv;
  /** Answers 2xx once the part is ready; null when there is nothing to wait for. */
  readyUrl: string | null;
}

/** A part that serves HTTP. */
export interface ServedPartSpec extends PartSpec {
  /** Where it answers, e.g. http://127.0.0.1:3000. */
  base: string;
}

/** The web app, `web/server.ts` on the production build (`npm run build`), on `port`. */
export function webPart(options: {
  name?: string;
  port: number;
  /** HOST: 127.0.0.1 unless said otherwise; null leaves it to the app's own setting (npm start). */
  host?: string | null;
  /**
   * Open its inspector (for a forced GC or a profile). Port 0: tsx's launcher and the server
   * each get one of their own, announced on stderr (devstack/inspector.ts).
   */
  inspect?: boolean;
  env?: NodeJS.ProcessEnv;
}): ServedPartSpec {
  const host = options.host === undefined ? '127.0.0.1' : options.host;
  const base = `http://127.0.0.1:${options.port}`;
  return {
    name: options.name ?? 'web',
    script: 'web/server.ts',
    env: {
      PORT: String(options.port),
      ...(host === null ? {} : { HOST: host }),
      ...(options.inspect ? { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --inspect=127.0.0.1:0`.trim() } : {}),
      ...options.env,
    },
    readyUrl: `${base}/healthz`,
    base,
  };
}

/** A worker, `worker/index.ts`; with a health port, ready once its /readyz says it polls. */
export function workerPart(options: { name?: string; healthPort?: number; env?: NodeJS.ProcessEnv }): PartSpec {
  const { healthPort } = options;
  return {
    name: options.name ?? 'worker',
    script: 'worker/index.ts',
    env: { ...(healthPort === undefined ? {} : { WORKER_HEALTH_PORT: String(healthPort) }), ...options.env },
    readyUrl: healthPort ? `http://127.0.0.1:${healthPort}/readyz` : null,
  };
}

/**
 * The test LLM server as a process of its own (tests/fixtures/llm-server-main.ts: a fixture server
 * per task behind one port, driven at `/__control/`), so that crashes of the other parts leave it
 * and its call log alone. In-process, tests/fixtures/llm-server.ts serves one test.
 */
export function llmServerPart(options: { name?: string; port: number; chunkDelayMs: number }): ServedPartSpec {
  const base = `http://127.0.0.1:${options.port}`;
  return {
    name: options.name ?? 'llm-server',
    script: 'tests/fixtures/llm-server-main.ts',
    env: { PORT: String(options.port), LLM_CHUNK_DELAY_MS: String(options.chunkDelayMs) },
    readyUrl: `${base}/__control/health`,
    base,
  };
}

export type StartedPart<S extends PartSpec = PartSpec> = S & {
  child: ChildProcess;
  /** Resolves once `readyUrl` answers (at once without one); rejects if the process exits first. */
  ready(timeoutMs?: number): Promise<void>;
  /** SIGTERM, then SIGKILL after 10 s. */
  stop(): Promise<void>;
};

/** Start a part with our environment and its settings, its output prefixed by its name. */
export function startPart<S extends PartSpec>(spec: S): StartedPart<S> {
  const child = startNode(spec.name, spec.script, spec.env);
  return {
    ...spec,
    child,
    ready: (timeoutMs = 60_000) => (spec.readyUrl ? waitForHttp(spec.readyUrl, timeoutMs, child) : Promise.resolve()),
    stop: () => stopChild(child),
  };
}
