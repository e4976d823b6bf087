/**
 * What the benchmark runs against, all its own: a headless Temporal dev server (random port,
 * SQLite in a temp dir), in-process workers with the offline model at fixed delays (so the
 * figures measure Buildstory, not a model), and the web app as a real process.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import pino from 'pino';
import { OfflineProvider } from '../activities/llm/offline';
import { writeWorkflowBundle } from '../devstack/bundle';
import { SAMPLE_TASK } from '../devstack/form';
import { ensureWebBuild, freePort } from '../devstack/processes';
import { ensureTemporalCli, startDevServer, type DevServer } from '../devstack/temporal';
import { createBuildstoryWorker, withVerification } from '../worker/worker';
import { WORKFLOW_NAME } from '../contract/data';
import { createBareActivities } from './bare-activities';
import { connectCountingClient, type CountingClient } from './poller';
import { startWeb, type WebProcess } from './web-process';

export const BARE_WORKFLOW_NAME = 'bareTaskWorkflow';

export interface RunningWorker {
  taskQueue: string;
  stop(): Promise<void>;
}

/** Start the sample task on a queue; terminate runs at the end of a phase: the same on every stack. */
export function runControls(client: Client): Pick<BenchStack, 'startRun' | 'terminate'> {
  return {
    async startRun(taskQueue, workflow = WORKFLOW_NAME) {
      const workflowId = `task-${randomUUID()}`;
      await client.workflow.start(workflow, { taskQueue, workflowId, args: [{ task: SAMPLE_TASK }] });
      return workflowId;
    },
    async terminate(workflowIds) {
      await Promise.all(
        workflowIds.map((id) =>
          client.workflow
            .getHandle(id)
            .terminate('benchmark phase over')
            .catch(() => undefined),
        ),
      );
    },
  };
}

export interface BenchStack {
  address: string;
  web: WebProcess;
  base: string;
  /** The web app's task queue; its worker runs the offline model at `webDelayMs` per chunk. */
  webQueue: string;
  webDelayMs: number;
  /** Starts and ends runs; not counted. */
  client: Client;
  /** The naive baseline's client: counts its RPCs. */
  naive: CountingClient;
  /** A worker for taskWorkflow on a queue of its own, the offline model at `delayMs` per chunk. */
  startStoryWorker(name: string, delayMs: number): Promise<RunningWorker>;
  /** A worker for the bare baseline workflow and activities. */
  startBareWorker(name: string, delayMs: number): Promise<RunningWorker>;
  /** Start a run directly (not through the form); returns its workflow id. */
  startRun(taskQueue: string, workflow?: string): Promise<string>;
  terminate(workflowIds: readonly string[]): Promise<void>;
  /** Root pids of the processes it started, for CPU accounting. */
  pids: { temporal: number | undefined; web: number | undefined };
  close(): Promise<void>;
}

export async function startBenchStack(log: (line: string) => void, options: { webDelayMs: number }): Promise<BenchStack> {
  const cli = await ensureTemporalCli(log);
  ensureWebBuild(log);
  try {
    // Terminating runs mid-step is routine here: keep the SDK's warnings about it out of the output.
    Runtime.install({
      logger: new DefaultLogger('ERROR'),
      telemetryOptions: { logging: { filter: { core: 'ERROR', other: 'ERROR' }, forward: {} } },
    });
  } catch {
    // installed already
  }

  const dir = mkdtempSync(join(process.env.BENCH_TMP ?? tmpdir(), 'buildstory-bench-'));
  const cleanups: Array<() => Promise<void> | void> = [() => rmSync(dir, { recursive: true, force: true })];
  const close = async () => {
    for (const cleanup of cleanups.reverse()) await Promise.resolve(cleanup()).catch(() => undefined);
  };
  try {
    log('starting the Temporal dev server (headless, SQLite in a temp dir)...');
    const server: DevServer = await startDevServer({
      cli,
      port: await freePort(),
      dbFile: join(dir, 'temporal.db'),
      logFile: join(dir, 'temporal-server.log'),
      headless: true,
      log,
    });
    cleanups.push(() => server.stop());
    const address = server.address;

    log('bundling the workflows and starting the web app...');
    const webQueue = `bench-web-${randomUUID().slice(0, 8)}`;
    const [storyBundle, bareBundle, web] = await Promise.all([
      writeWorkflowBundle(dir, 'workflows.js'),
      writeWorkflowBundle(dir, 'bare-workflow.js', { workflowsPath: require.resolve('./bare-workflow') }),
      // Once more after a rebuild: in a shared work tree another build may have been replacing web/build.
      startWeb({ temporalAddress: address, taskQueue: webQueue }).catch(() => {
        ensureWebBuild(log);
        return startWeb({ temporalAddress: address, taskQueue: webQueue });
      }),
    ]);
    cleanups.push(() => web.stop());

    const connection = await NativeConnection.connect({ address });
    cleanups.push(() => connection.close());
    const clientConnection = await Connection.connect({ address });
    cleanups.push(() => clientConnection.close());
    const client = new Client({ connection: clientConnection, namespace: 'default' });
    const naive = await connectCountingClient(address);
    cleanups.push(() => naive.close());
    const logger = pino({ level: 'error' }); // "progress signal failed" after a terminate is expected

    const runWorker = async (worker: Worker, taskQueue: string): Promise<RunningWorker> => {
      const running = worker.run();
      let stopped = false;
      const stop = async () => {
        if (stopped) return;
        stopped = true;
        worker.shutdown();
        await running.catch(() => undefined);
      };
      cleanups.push(stop);
      return { taskQueue, stop };
    };
    /** A worker for taskWorkflow on `taskQueue`, the offline model at `delayMs` per chunk. */
    const runStoryWorker = async (taskQueue: string, delayMs: number) => {
      const worker = await createBuildstoryWorker({
        connection,
        namespace: 'default',
        taskQueue,
        provider: new OfflineProvider(delayMs),
        logger,
        workflowBundle: { codePath: storyBundle },
        shutdownGraceTime: '1 second',
      });
      // The offline model's code steps are verified, as the worker process does it.
      const verified = await withVerification(worker, {
        connection,
        namespace: 'default',
        taskQueue,
        logger,
        shutdownGraceTime: '1 second',
      });
      return runWorker(verified, taskQueue);
    };
    const startStoryWorker = (name: string, delayMs: number) => runStoryWorker(`bench-${name}-${randomUUID().slice(0, 8)}`, delayMs);
    const startBareWorker = async (name: string, delayMs: number) => {
      const taskQueue = `bench-${name}-${randomUUID().slice(0, 8)}`;
      const worker = await Worker.create({
        connection,
        namespace: 'default',
        taskQueue,
        workflowBundle: { codePath: bareBundle },
        activities: createBareActivities(new OfflineProvider(delayMs)),
        // As createBuildstoryWorker sets them.
        maxHeartbeatThrottleInterval: '1 second',
        defaultHeartbeatThrottleInterval: '1 second',
        shutdownGraceTime: '1 second',
      });
      return runWorker(worker, taskQueue);
    };

    // The web app's own worker, up for the whole benchmark.
    await runStoryWorker(webQueue, options.webDelayMs);

    return {
      address,
      web,
      base: web.base,
      webQueue,
      webDelayMs: options.webDelayMs,
      client,
      naive,
      startStoryWorker,
      startBareWorker,
      ...runControls(client),
      pids: { temporal: server.process.pid, web: web.child.pid },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
