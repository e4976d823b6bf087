/**
 * Process supervision for the fault harness: every part runs as a process of its own (the
 * devstack/parts.ts descriptions, detached, each logging to a file in the run's dir) that can be
 * killed with -9 and started again on the same ports and files, as a supervisor would. Whatever
 * is still alive when this process exits, even by a crash, is killed with it.
 */
import type { ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { llmServerPart, webPart, workerPart, type PartSpec } from '../devstack/parts';
import { freePort, spawnTsx, stopChild, waitForHttp } from '../devstack/processes';
import { ensureTemporalCli, startDevServer, type DevServer } from '../devstack/temporal';
import type { HarnessSettings } from './plan';

type Env = Record<string, string | undefined>;

/** Our environment without the settings the parts read, so nothing from outside leaks in. */
function baseEnv(): Env {
  const env: Env = { ...process.env };
  for (const name of Object.keys(env)) {
    if (/^(TEMPORAL_|OPENAI_|OFFLINE_MODEL_|WORKER_HEALTH_|BUILDSTORY_|LOG_LEVEL$|PORT$|HOST$|NODE_ENV$)/.test(name)) delete env[name];
  }
  return env;
}

/**
 * What we started and is still alive: process groups (our tsx parts) by their leader's pid, as
 * negative numbers, and plain processes (the Temporal server) by pid. An exit of ours, even a
 * crash, takes them along.
 */
const alive = new Set<number>();
/** Kill `child` (a plain process, not a group) with us if it is still alive when we exit. */
export function killWithUs(child: ChildProcess): void {
  const pid = child.pid;
  if (pid === undefined) return;
  alive.add(pid);
  child.once('exit', () => alive.delete(pid));
}
process.once('exit', () => {
  for (const id of alive) {
    try {
      process.kill(id, 'SIGKILL');
    } catch {
      // gone already
    }
  }
});

/**
 * A `tsx` process in its own process group: tsx runs the script in a child node process, so a
 * kill -9 must reach the group, or the real process would live on.
 */
export class NodePart implements CrashTarget {
  child: ChildProcess | null = null;
  /** What the current start runs. */
  spec: PartSpec | null = null;
  private exited: Promise<void> = Promise.resolve();
  private expectingExit = false;
  private starting = false;
  private stopped = false;
  /** Starts that failed (the process exited before it was ready) and were retried. */
  startRetries = 0;

  constructor(
    readonly name: string,
    private readonly logFile: string,
    /** Described again at each start: a worker takes a new health port each time. */
    private readonly describe: () => Promise<PartSpec>,
    /** How long a start may take until its `readyUrl` answers. */
    private readonly readyTimeoutMs: number,
    private readonly onUnexpectedExit: (part: NodePart, code: number | null, signal: string | null) => void,
  ) {}

  /**
   * Start and wait until ready. A process that exits while starting (a worker cannot reach a
   * Temporal server that is itself restarting) is started again, as a supervisor would.
   */
  async start(): Promise<void> {
    this.stopped = false;
    for (let attempt = 1; ; attempt++) {
      await this.spawnOnce();
      try {
        await this.ready();
        this.starting = false;
        return;
      } catch (err) {
        if (this.running || this.stopped || attempt >= 10) {
          this.starting = false;
          throw err;
        }
        this.startRetries++;
        await sleep(1_000);
      }
    }
  }

  private ready(): Promise<void> {
    const url = this.spec?.readyUrl;
    return url ? waitForHttp(url, this.readyTimeoutMs, this.child ?? undefined) : Promise.resolve();
  }

  private async spawnOnce(): Promise<void> {
    const spec = await this.describe();
    this.spec = spec;
    const out = openSync(this.logFile, 'a');
    const child = spawnTsx(spec.script, { env: { ...baseEnv(), ...spec.env }, stdio: ['ignore', out, out], detached: true });
    closeSync(out);
    this.child = child;
    this.expectingExit = false;
    this.starting = true;
    const group = -child.pid!;
    alive.add(group);
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        alive.delete(group);
        if (!this.expectingExit && !this.starting) this.onUnexpectedExit(this, code, signal);
        resolve();
      }),
    );
  }

  get running(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** SIGKILL to the whole group: no shutdown hook runs, as in a power cut. */
  async kill9(): Promise<void> {
    if (!this.child || !this.running) return;
    this.expectingExit = true;
    killGroup(this.child.pid!, 'SIGKILL');
    await this.exited;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (!this.child || !this.running) return;
    this.expectingExit = true;
    const pid = this.child.pid!;
    killGroup(pid, 'SIGTERM');
    const timer = setTimeout(() => killGroup(pid, 'SIGKILL'), 10_000).unref();
    await this.exited;
    clearTimeout(timer);
  }
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // gone already
  }
}

/** What a crash kills with -9 and starts again. */
export interface CrashTarget {
  /** In logs and reports. */
  readonly name: string;
  kill9(): Promise<void>;
  start(): Promise<void>;
  /**
   * After `start`: wait until what depends on the part works again, and say how long that took
   * (PostgreSQL: until Temporal reads from it). Most parts have nothing to wait for.
   */
  recovered?(): Promise<number>;
  stop(): Promise<void>;
}

export class TemporalPart implements CrashTarget {
  readonly name = 'the Temporal server';
  server: DevServer | null = null;
  private expectingExit = false;

  constructor(
    private readonly cli: string,
    readonly port: number,
    private readonly dbFile: string,
    private readonly logFile: string,
    private readonly onUnexpectedExit: (code: number | null, signal: string | null) => void,
  ) {}

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.expectingExit = false;
    // Same file, same port: the restarted server carries on with the same runs.
    const server = await startDevServer({
      cli: this.cli,
      port: this.port,
      dbFile: this.dbFile,
      logFile: this.logFile,
      headless: true,
      log: () => undefined,
    });
    this.server = server;
    const pid = server.process.pid!;
    alive.add(pid);
    server.process.once('exit', (code, signal) => {
      alive.delete(pid);
      if (!this.expectingExit) this.onUnexpectedExit(code, signal);
    });
  }

  async kill9(): Promise<void> {
    const child = this.server?.process;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    this.expectingExit = true;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await exited;
  }

  async stop(): Promise<void> {
    const child = this.server?.process;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    this.expectingExit = true;
    await stopChild(child);
  }
}

/**
 * Temporal as the harness runs and crashes it: where clients reach it, where they reach the web
 * app, what a Temporal crash kills (in turn), and how it all stops.
 */
export interface TemporalUnderTest {
  address: string;
  webBase: string;
  targets: CrashTarget[];
  /** What a PostgreSQL crash kills: the cluster's private PostgreSQL; null when there is none of ours. */
  postgres: CrashTarget | null;
  stop(): Promise<void>;
}

/** The parts of one harness run, on the ports and the task queue it picked. */
export interface FaultStack {
  dir: string;
  topology: HarnessSettings['topology'];
  temporal: TemporalUnderTest;
  workers: NodePart[];
  /** One web app, or (cluster) two replicas behind nginx; web crashes take turns. */
  webs: NodePart[];
  llm: NodePart;
  webBase: string;
  llmBase: string;
  taskQueue: string;
  /** The local artifact store the workers write the code runs' files to (and the web apps serve them from). */
  artifactsDir: string;
}

/** Starts Temporal for a stack whose web apps will listen on `webPorts`. */
export type TemporalStarter = (
  dir: string,
  webPorts: number[],
  log: (line: string) => void,
  unexpected: (what: string) => void,
) => Promise<TemporalUnderTest>;

/** The Temporal dev server on a SQLite file in `dir`, restarted on the same file and port. */
export async function startDevTemporal(
  dir: string,
  webPorts: number[],
  log: (line: string) => void,
  unexpected: (what: string) => void,
): Promise<TemporalUnderTest> {
  const cli = await ensureTemporalCli(log);
  const temporal = new TemporalPart(cli, await freePort(), join(dir, 'temporal.db'), join(dir, 'temporal.log'), (code, signal) => {
    unexpected(`the Temporal server exited by itself (code ${code}, signal ${signal}); restarting it`);
    void temporal.start().catch((err: Error) => unexpected(`the Temporal server did not come back: ${err.message}`));
  });
  await temporal.start();
  return {
    address: temporal.address,
    webBase: `http://127.0.0.1:${webPorts[0]}`,
    targets: [temporal],
    postgres: null,
    stop: () => temporal.stop(),
  };
}

/**
 * Start every part in `dir`: Temporal (`startTemporal`: the dev server here, or for the cluster
 * topology PostgreSQL, Temporal as five processes and nginx in front, faults/cluster.ts) and the
 * LLM server first, then the web app(s) and the two workers. A part that exits by itself is
 * reported to `unexpected` and started again.
 */
export async function startFaultStack(
  dir: string,
  options: HarnessSettings,
  log: (line: string) => void,
  unexpected: (what: string) => void,
  startTemporal: TemporalStarter = startDevTemporal,
): Promise<FaultStack> {
  const cluster = options.topology === 'cluster';
  const webPorts = cluster ? [await freePort(), await freePort()] : [await freePort()];
  const llmPort = await freePort();
  const taskQueue = `faults-${options.seed}-${process.pid}`;
  const llmBase = `http://127.0.0.1:${llmPort}`;

  const restartOnUnexpectedExit = (part: NodePart, code: number | null, signal: string | null) => {
    unexpected(`${part.name} exited by itself (code ${code}, signal ${signal}); restarting it`);
    void part.start().catch((err: Error) => unexpected(`${part.name} did not come back: ${err.message}`));
  };
  const nodePart = (name: string, describe: () => Promise<PartSpec>, readyTimeoutMs: number) =>
    new NodePart(name, join(dir, `${name}.log`), describe, readyTimeoutMs, restartOnUnexpectedExit);
  const llm = nodePart(
    'llm-server',
    async () => llmServerPart({ name: 'llm-server', port: llmPort, chunkDelayMs: options.chunkDelayMs }),
    60_000,
  );
  const [temporal] = await Promise.all([startTemporal(dir, webPorts, log, unexpected), llm.start()]);
  // One artifact directory in the run's dir for every worker and web app, in both topologies: the
  // harness reads it back at the end (faults/artifacts.ts), and nothing lands in the repository's .data.
  const artifactsDir = join(dir, 'artifacts');
  const common = () => ({
    TEMPORAL_ADDRESS: temporal.address,
    TEMPORAL_TASK_QUEUE: taskQueue,
    HOST: '127.0.0.1',
    BUILDSTORY_ARTIFACTS_DIR: artifactsDir,
  });
  const workers = [1, 2].map((n) =>
    nodePart(
      `worker-${n}`,
      async () =>
        workerPart({
          name: `worker-${n}`,
          // Its own health port each start: /readyz says when it polls again after a restart.
          healthPort: await freePort(),
          env: {
            ...common(),
            OPENAI_API_KEY: 'test',
            OPENAI_BASE_URL: `${llmBase}/v1`,
            OPENAI_MODEL: 'test-model',
            OPENAI_TIMEOUT_MS: String(options.openaiTimeoutMs),
            LOG_LEVEL: 'info',
          },
        }),
      120_000,
    ),
  );
  const webs = webPorts.map((port, i) => {
    const name = cluster ? `web-${i + 1}` : 'web';
    return nodePart(
      name,
      async () =>
        webPart({
          name,
          port,
          // The harness is one client submitting many runs: the per-client submission limit is not
          // under test here. Behind nginx (on loopback) the client's address comes from its headers.
          env: {
            ...common(),
            NODE_ENV: 'production',
            LOG_LEVEL: 'info',
            SUBMIT_RATE_LIMIT_PER_MINUTE: '0',
            ...(cluster ? { TRUST_PROXY: 'loopback' } : {}),
          },
        }),
      60_000,
    );
  });
  const stack: FaultStack = {
    dir,
    topology: options.topology,
    temporal,
    workers,
    webs,
    llm,
    webBase: temporal.webBase,
    llmBase,
    taskQueue,
    artifactsDir,
  };
  try {
    await Promise.all([...webs.map((w) => w.start()), ...workers.map((w) => w.start())]);
  } catch (err) {
    await stopFaultStack(stack);
    throw err;
  }
  return stack;
}

/** Stop every part: the web apps and the workers first, then the LLM server and Temporal. */
export async function stopFaultStack(stack: FaultStack): Promise<void> {
  await Promise.all([...stack.webs.map((w) => w.stop()), ...stack.workers.map((w) => w.stop())]);
  await Promise.all([stack.llm.stop(), stack.temporal.stop()]);
}
