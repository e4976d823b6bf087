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
import { traced } from '../activities/llm/tracing';
import { DEFAULT_HOST, sandboxAvailability, type SandboxHost } from '../activities/sandbox/sandbox';
import { createVerifyActivities } from '../activities/verify/verify';
import type { ArtifactStore } from '../artifacts';
import type { WebhookConfig } from '../config/webhooks';
import { OFFLINE_WORKER_MARK, verificationTaskQueue } from '../contract/data';
import type { Tracing } from '../telemetry/tracing';
import { activityTracing, workerTracing } from '../telemetry/worker';
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
  /** The deployment's webhook, which deliverWebhook posts to (docs/webhooks.md); null or absent: none. */
  webhook?: WebhookConfig | null;
  /**
   * OpenTelemetry (telemetry/tracing.ts): spans for the workflow, its activities and each model
   * call. A prebuilt bundle must then have been built with WORKFLOW_TRACING_INTERCEPTORS. Null or
   * absent: off, no interceptors.
   */
  tracing?: Tracing | null;
}

export async function createBuildstoryWorker(options: BuildstoryWorkerOptions): Promise<Worker> {
  const tracing = options.tracing ?? null;
  const activities = createActivities({
    provider: tracing ? traced(options.provider) : options.provider,
    logger: options.logger,
    progress: options.progress,
    onUsage: recordLlmUsage,
    webhook: options.webhook ?? null,
  });
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    identity: workerIdentity(options.identity ?? `${process.pid}@${hostname()}`, options.provider),
    ...(options.dataConverter ? { dataConverter: options.dataConverter } : {}),
    ...deploymentOptions(options.deploymentVersion),
    ...(options.workflowBundle ? { workflowBundle: options.workflowBundle } : { workflowsPath: require.resolve('../workflows') }),
    activities,
    ...(tracing ? workerTracing(tracing) : {}),
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

function deploymentOptions(version: WorkerDeploymentVersion | null | undefined) {
  return version
    ? { workerDeploymentOptions: { version, useWorkerVersioning: true as const, defaultVersioningBehavior: 'PINNED' as const } }
    : {};
}

export type VerificationWorkerOptions = Pick<
  BuildstoryWorkerOptions,
  'connection' | 'namespace' | 'logger' | 'identity' | 'dataConverter' | 'shutdownGraceTime' | 'deploymentVersion' | 'tracing'
> & {
  /** The runs' task queue: verification is served on verificationTaskQueue(taskQueue) beside it. */
  taskQueue: string;
  /** The sandbox's uid and tools (tests point it elsewhere to see it missing). */
  sandboxHost?: SandboxHost;
  /** Where the files code steps write are kept (createArtifactStore); without one they are only hashed. */
  store?: ArtifactStore;
};

/**
 * The worker of the verification queue: verifyCode only, no workflows. None where the sandbox is
 * not available: code is never run unsandboxed, so verification is then off, and `off` says why.
 */
export async function createVerificationWorker(
  options: VerificationWorkerOptions,
): Promise<{ worker: Worker; taskQueue: string } | { worker: null; off: string }> {
  const host = options.sandboxHost ?? DEFAULT_HOST;
  const available = sandboxAvailability(host);
  if (!available.ok) return { worker: null, off: available.why };
  const taskQueue = verificationTaskQueue(options.taskQueue);
  const worker = await Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue,
    identity: `${options.identity ?? `${process.pid}@${hostname()}`} (verification)`,
    ...(options.dataConverter ? { dataConverter: options.dataConverter } : {}),
    // On the runs' version too: a run pinned to this build sends its verification to this build.
    ...deploymentOptions(options.deploymentVersion),
    activities: createVerifyActivities({ logger: options.logger, host, store: options.store }),
    ...(options.tracing ? { interceptors: activityTracing() } : {}),
    // Each verification holds a sandbox (a few processes, up to 256 MB): a few at a time per worker.
    maxConcurrentActivityTaskExecutions: 4,
    shutdownGraceTime: options.shutdownGraceTime ?? '10 seconds',
  });
  return { worker, taskQueue };
}

/**
 * `worker` (of the runs' task queue) with a verification worker of that queue beside it, as
 * worker/index.ts runs them: its `run` (and so `runUntil`) runs both and ends when both have
 * stopped. For in-process workers (tests, the benchmark, the history recorder). Throws when the
 * sandbox is not available here: code never runs unsandboxed, and these callers need verification.
 */
export async function withVerification(worker: Worker, options: VerificationWorkerOptions): Promise<Worker> {
  const verification = await createVerificationWorker(options);
  if (!verification.worker) throw new Error(`verification off: ${verification.off}`);
  const sandbox = verification.worker;
  const run = worker.run.bind(worker);
  worker.run = async () => {
    const serving = sandbox.run();
    try {
      return await run();
    } finally {
      if (sandbox.getState() === 'RUNNING') sandbox.shutdown();
      await serving;
    }
  };
  return worker;
}
