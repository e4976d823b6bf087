/**
 * Worker entrypoint: reads and validates its configuration, bundles the workflows, runs
 * taskWorkflow and its activities, and shuts down gracefully on SIGINT/SIGTERM. Beside them it
 * serves the verification queue where the sandbox is available (BUILDSTORY_VERIFY); as a sandbox
 * worker (BUILDSTORY_WORKER_ROLE=sandbox) it serves that queue only. Unless
 * WORKER_HEALTH_PORT is 0, it answers /healthz, /readyz and /metrics on that port, on loopback
 * unless WORKER_HEALTH_HOST says otherwise. With OTEL_EXPORTER_OTLP_ENDPOINT set, it exports traces
 * (telemetry/tracing.ts).
 */
import { DefaultLogger, NativeConnection, Runtime, type LogLevel, type Worker } from '@temporalio/worker';
import pino from 'pino';
import { ConfigError, describeLlm, loadWorkerConfig } from '../config/worker';
import { createProvider } from '../activities/llm';
import { createArtifactStore } from '../artifacts';
import { startTracing } from '../telemetry/tracing';
import { workerDataConverter } from '../codec/worker';
import { freeLoopbackPort, startHealthServer, workerMetrics } from './health';
import { createBuildstoryWorker, createVerificationWorker } from './worker';

async function main(): Promise<void> {
  let config;
  try {
    config = loadWorkerConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`worker: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  const logger = pino({ name: 'worker', level: config.logLevel });
  // The SDK's own logs go through the same structured logger.
  const sdkLevel: LogLevel = config.logLevel === 'debug' || config.logLevel === 'trace' ? 'DEBUG' : 'WARN';
  const { healthPort, healthHost } = config.worker;
  // The SDK exports its metrics on a loopback port of its own; /metrics passes them on.
  const sdkMetricsAddress = healthPort ? `127.0.0.1:${await freeLoopbackPort()}` : undefined;
  Runtime.install({
    logger: new DefaultLogger(sdkLevel, (entry) => {
      const level = entry.level === 'ERROR' ? 'error' : entry.level === 'WARN' ? 'warn' : 'debug';
      logger[level]({ sdk: true, ...entry.meta }, entry.message);
    }),
    ...(sdkMetricsAddress ? { telemetryOptions: { metrics: { prometheus: { bindAddress: sdkMetricsAddress } } } } : {}),
  });

  // Up before the slow part (connecting, bundling), so a probe sees "alive, not ready yet".
  const workers: Worker[] = [];
  let started = false;
  const health = healthPort
    ? await startHealthServer({
        port: healthPort,
        host: healthHost,
        isReady: () => started && workers.every((w) => w.getState() === 'RUNNING'),
        metrics: workerMetrics({ status: () => workers[0]?.getStatus(), sdkMetricsUrl: `http://${sdkMetricsAddress}/metrics`, logger }),
        logger,
      })
    : undefined;

  const tracing = startTracing(config.tracing, { defaultServiceName: 'buildstory-worker', redactErrors: config.encryption !== null });
  if (tracing) logger.info({ endpoint: tracing.display }, 'tracing on: spans are exported over OTLP');
  // Key ids only: the keys themselves never reach a log.
  if (config.encryption)
    logger.info({ keyId: config.encryption.currentKeyId, keyIds: [...config.encryption.keys.keys()] }, 'payload encryption on');
  logger.info({ temporal: config.temporal.describe }, 'connecting to Temporal');
  const connection = await NativeConnection.connect(config.temporal.connectionOptions);
  const { role, serve } = config.verification;
  if (role === 'all') {
    const provider = createProvider(config.llm);
    logger.info({ llm: describeLlm(config.llm), offline: provider.model.offline }, 'model');
    if (provider.model.offline) logger.warn('using the offline model: set OPENAI_API_KEY to use a real one');
    workers.push(
      await createBuildstoryWorker({
        connection,
        namespace: config.temporal.namespace,
        taskQueue: config.temporal.taskQueue,
        provider,
        logger,
        dataConverter: workerDataConverter(config.encryption),
        shutdownGraceTime: config.worker.shutdownGraceMs,
        deploymentVersion: config.deploymentVersion,
        webhook: config.webhook,
        tracing,
      }),
    );
    // The host only: the URL may carry a token, and the secret never reaches a log.
    if (config.webhook) logger.info({ webhook: config.webhook.display }, 'webhooks on: runs that notify are delivered there');
  }
  if (serve) {
    const store = createArtifactStore(config.artifacts, config.encryption);
    const verification = await createVerificationWorker({
      connection,
      namespace: config.temporal.namespace,
      taskQueue: config.temporal.taskQueue,
      logger,
      dataConverter: workerDataConverter(config.encryption),
      shutdownGraceTime: config.worker.shutdownGraceMs,
      deploymentVersion: config.deploymentVersion,
      store,
      tracing,
    });
    if (verification.worker) {
      workers.push(verification.worker);
      logger.info({ taskQueue: verification.taskQueue, artifacts: store.description }, 'verification on: code runs in the sandbox');
    } else if (role === 'sandbox') {
      // Its only job: a sandbox worker without a sandbox must not look healthy.
      throw new Error(`verification off: ${verification.off}`);
    } else {
      logger.warn({ why: verification.off }, `verification off: ${verification.off}`);
    }
  } else {
    logger.info('verification off: BUILDSTORY_VERIFY=off (a sandbox worker serves the verification queue)');
  }
  logger.info(
    // A versioned worker gets new runs only once its version is current (docs/deploy.md).
    {
      role,
      taskQueue: config.temporal.taskQueue,
      namespace: config.temporal.namespace,
      deploymentVersion: config.deploymentVersion ?? 'unversioned',
    },
    'worker running',
  );
  started = true;
  // Worker.run() installs SIGINT/SIGTERM handlers (Runtime's shutdownSignals) that drain and stop each.
  await Promise.all(workers.map((w) => w.run()));
  await health?.close();
  // The spans still buffered go out before the process does.
  await tracing?.shutdown();
  await connection.close();
  logger.info('worker stopped');
}

main().catch((err) => {
  process.stderr.write(`worker: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
