/**
 * The production topology for the benchmark, all its own (a temp dir, free ports): PostgreSQL (a
 * private cluster, or BUILDSTORY_CLUSTER_POSTGRES_HOST), Temporal as five processes
 * (devstack/cluster/temporal.ts, ports from BENCH_CLUSTER_BASE_PORT, default 29233), nginx in front
 * (HTTP to two web replicas, gRPC balanced over the two frontends), two web apps as in stack.ts but
 * reaching Temporal through nginx, and the web app's worker in the bench process, through nginx too,
 * on the offline model at the same per-chunk delay as the dev-server stack's. No UI server.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import pino from 'pino';
import { OfflineProvider } from '../activities/llm/offline';
import { writeWorkflowBundle } from '../devstack/bundle';
import { ensureClusterBinaries } from '../devstack/cluster/binaries';
import { existingPostgres, startPrivatePostgres, type PostgresTarget } from '../devstack/cluster/postgres';
import { ensureNginx, startProxy, type ClusterProxy } from '../devstack/cluster/proxy';
import { clusterLayout, startTemporalCluster, type TemporalCluster } from '../devstack/cluster/temporal';
import { ensureWebBuild, freePort } from '../devstack/processes';
import { ensureTemporalCli } from '../devstack/temporal';
import { createBuildstoryWorker, withVerification } from '../worker/worker';
import type { BatchStack } from './figures/throughput';
import { runControls } from './stack';
import { startWeb, type WebProcess } from './web-process';

export interface ClusterBenchStack extends BatchStack {
  /** Both replicas; `web` is the first. */
  webs: WebProcess[];
  webQueue: string;
  /** Root pids for CPU accounting: every Temporal process, PostgreSQL's postmaster, nginx, the replicas. */
  pids: Record<string, number | undefined>;
  close(): Promise<void>;
}

export async function startClusterBenchStack(log: (line: string) => void, options: { webDelayMs: number }): Promise<ClusterBenchStack> {
  const [bins, cli] = await Promise.all([ensureClusterBinaries(log), ensureTemporalCli(log)]);
  ensureNginx(log);
  ensureWebBuild(log);
  const dir = mkdtempSync(join(process.env.BENCH_TMP ?? tmpdir(), 'buildstory-bench-cluster-'));
  // The private PostgreSQL runs as the postgres user, which must reach its directories.
  chmodSync(dir, 0o755);
  // BENCH_KEEP=1 keeps the configs and logs (nginx, each Temporal process, PostgreSQL).
  const cleanups: Array<() => Promise<void> | void> = [
    () =>
      process.env.BENCH_KEEP === '1' ? log(`cluster: configs and logs kept in ${dir}`) : rmSync(dir, { recursive: true, force: true }),
  ];
  const close = async () => {
    for (const cleanup of cleanups.reverse()) await Promise.resolve(cleanup()).catch(() => undefined);
  };
  try {
    log('cluster: PostgreSQL, Temporal as five processes, nginx...');
    const pg: PostgresTarget = existingPostgres() ?? (await startPrivatePostgres(join(dir, 'postgres')));
    cleanups.push(() => pg.stop());
    const basePort = Number(process.env.BENCH_CLUSTER_BASE_PORT || 29233);
    const frontends = clusterLayout(basePort)
      .filter((p) => p.service === 'frontend')
      .map((p) => `127.0.0.1:${p.grpcPort}`);
    const webPorts = [await freePort(), await freePort()];
    const proxy: ClusterProxy = await startProxy({
      dir,
      httpPort: await freePort(),
      grpcPort: await freePort(),
      webUpstreams: webPorts.map((p) => `127.0.0.1:${p}`),
      grpcUpstreams: frontends,
      log,
    });
    cleanups.push(() => proxy.stop());
    const cluster: TemporalCluster = await startTemporalCluster({
      server: bins.server,
      sqlTool: bins.sqlTool,
      cli,
      pg,
      dir,
      basePort,
      log,
    });
    cleanups.push(() => cluster.stop());

    log('cluster: bundling the workflows and starting two web replicas...');
    const webQueue = `bench-web-${randomUUID().slice(0, 8)}`;
    const [bundle, ...webs] = await Promise.all([
      writeWorkflowBundle(dir, 'workflows.js'),
      ...webPorts.map((port, i) => startWeb({ temporalAddress: proxy.grpcAddress, taskQueue: webQueue, port, name: `web-${i}` })),
    ]);
    for (const web of webs as WebProcess[]) cleanups.push(() => web.stop());

    const connection = await NativeConnection.connect({ address: proxy.grpcAddress });
    cleanups.push(() => connection.close());
    const clientConnection = await Connection.connect({ address: proxy.grpcAddress });
    cleanups.push(() => clientConnection.close());
    const client = new Client({ connection: clientConnection, namespace: 'default' });
    const logger = pino({ level: 'error' });
    const worker = await withVerification(
      await createBuildstoryWorker({
        connection,
        namespace: 'default',
        taskQueue: webQueue,
        provider: new OfflineProvider(options.webDelayMs),
        logger,
        workflowBundle: { codePath: bundle as string },
        shutdownGraceTime: '1 second',
      }),
      { connection, namespace: 'default', taskQueue: webQueue, logger, shutdownGraceTime: '1 second' },
    );
    const running = worker.run();
    cleanups.push(async () => {
      worker.shutdown();
      await running.catch(() => undefined);
    });

    const pids: Record<string, number | undefined> = { nginx: proxy.process.pid };
    for (const p of cluster.processes) pids[`temporal-${p.name}`] = p.process.pid;
    for (const [i, web] of (webs as WebProcess[]).entries()) pids[`web-${i}`] = web.child.pid;
    try {
      pids.postgres = Number(readFileSync(join(dir, 'postgres', 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
    } catch {
      // an existing server, not ours to count
    }

    return {
      webs: webs as WebProcess[],
      web: webs[0] as WebProcess,
      base: proxy.httpUrl!,
      webQueue,
      client,
      pids,
      ...runControls(client),
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
