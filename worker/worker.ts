/**
 * The worker as the entrypoint and the tests build it: one function, so tests exercise the same
 * options that production runs with.
 */
import { hostname } from 'node:os';
import { Worker, type NativeConnection, type WorkerOptions } from '@temporalio/worker';
import type { WorkerDeploymentVersion } from '@temporalio/common';
import type { Logger } from 'pino';
import { createActivities, type ActivityDeps } from '../activities';
import type { LlmProvider } from '../activities/llm/provider';
import { OFFLINE_WORKER_MARK } from '../contract/data';
import { recordLlmUsage } from './llm-metrics';

export interface BuildstoryWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  provider: LlmProvider;
  logger: Logger;
  /**
   * A prebuilt bundle (tests bundle once); otherwise the workflows are bundled at start, with
   * dataConverter.failureConverterPath (a prebuilt one must be bundled with it too).
   */
  workflowBundle?: { codePath: string };
  progress?: ActivityDeps['progress'];
  /** How long running activities may take to finish on shutdown. */
  shutdownGraceTime?: WorkerOptions['shutdownGraceTime'];
  /** Temporal's name for this worker; `pid@host` by default. The offline model adds OFFLINE_WORKER_MARK. */
  identity?: string;
  /** Payload codecs and failure converter (encryption: workerDataConverter in codec/worker.ts). */
  dataConverter?: WorkerOptions['dataConverter'];
  /**
   * Worker Versioning: this build's Worker Deployment Version. Every run it starts stays on it
   * (PINNED) until it ends, so a build with an incompatible workflow change can roll out beside
   * it (docs/deploy.md). Unset: unversioned, any run on the task queue.
   */
  deploymentVersion?: WorkerDeploymentVersion | null;
}

export async function createBuildstoryWorker(options: BuildstoryWorkerOptions): Promise<Worker> {
  const activities = createActivities({
    provider: options.provider,
    logger: options.logger,
    progress: options.progress,
    onUsage: recordLlmUsage,
  });
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    identity: workerIdentity(options.identity ?? `${process.pid}@${hostname()}`, options.provider),
    ...(options.dataConverter ? { dataConverter: options.dataConverter } : {}),
    ...(options.deploymentVersion
      ? {
          workerDeploymentOptions: {
            version: options.deploymentVersion,
            useWorkerVersioning: true,
            defaultVersioningBehavior: 'PINNED' as const,
          },
        }
      : {}),
    ...(options.workflowBundle ? { workflowBundle: options.workflowBundle } : { workflowsPath: require.resolve('../workflows') }),
    activities,
    // Heartbeats reach the server at least every second (activities beat every second), so
    // cancellation arrives promptly and a dead worker is noticed at the 10 s heartbeat timeout.
    maxHeartbeatThrottleInterval: '1 second',
    defaultHeartbeatThrottleInterval: '1 second',
    shutdownGraceTime: options.shutdownGraceTime ?? '10 seconds',
  });
}

/** The identity, marked when the worker runs the offline model (the web app reads the mark). */
export function workerIdentity(base: string, provider: LlmProvider): string {
  return provider.model.offline ? `${base} ${OFFLINE_WORKER_MARK}` : base;
}
