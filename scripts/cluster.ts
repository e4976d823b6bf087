/**
 * `npm run cluster`: Temporal as production runs it, on this machine without Docker: PostgreSQL
 * (a private cluster, or an existing server), the schemas, two frontends, history, matching and
 * worker as separate processes, the UI server, and nginx balancing gRPC over the two frontends
 * (devstack/cluster/proxy.ts): clients use its address. Prints the addresses; Ctrl-C/SIGTERM stops all.
 * (Seen with npm 11: a SIGTERM sent to `npm run cluster` itself is not passed on and leaves this
 * script running; under a supervisor run `tsx scripts/cluster.ts`, or signal the process group.)
 *
 *   CLUSTER_DIR         configs, logs and the private PostgreSQL (default .data/cluster)
 *   CLUSTER_BASE_PORT   first of the 12 server ports (default 17233; layout in devstack/cluster/temporal.ts)
 *   CLUSTER_GRPC_PORT   nginx's gRPC balancer, the address for clients (default CLUSTER_BASE_PORT + 12)
 *   CLUSTER_UI_PORT     the UI server (default 18233)
 *   CLUSTER_CODEC_URL   the web app's codec endpoint for the UI (e.g. http://127.0.0.1:3000/codec)
 *   BUILDSTORY_CLUSTER_POSTGRES_HOST etc.   an existing PostgreSQL (devstack/cluster/postgres.ts)
 */
import { resolve, join } from 'node:path';
import { ensureClusterBinaries, clusterLog as log } from '../devstack/cluster/binaries';
import { existingPostgres, startPrivatePostgres, type PostgresTarget } from '../devstack/cluster/postgres';
import { startProxy, type ClusterProxy } from '../devstack/cluster/proxy';
import { clusterLayout, startTemporalCluster, type TemporalCluster } from '../devstack/cluster/temporal';
import { ensureTemporalCli } from '../devstack/temporal';

async function main(): Promise<void> {
  const started = Date.now();
  const seconds = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;
  const dir = resolve(process.env.CLUSTER_DIR || join('.data', 'cluster'));
  const [bins, cli] = await Promise.all([ensureClusterBinaries(log), ensureTemporalCli(log)]);
  log(`binaries ready (${seconds()})`);

  let pg: PostgresTarget | undefined;
  let cluster: TemporalCluster | undefined;
  let proxy: ClusterProxy | undefined;
  let stopping = false;
  const shutdown = async (code: number) => {
    if (stopping) return;
    stopping = true;
    log('stopping...');
    await proxy?.stop();
    await cluster?.stop();
    await pg?.stop();
    process.exit(code);
  };
  process.once('SIGINT', () => void shutdown(0));
  process.once('SIGTERM', () => void shutdown(0));

  try {
    pg = existingPostgres() ?? (await startPrivatePostgres(join(dir, 'postgres')));
    log(`PostgreSQL at ${pg.host}:${pg.port}${pg.logFile ? ` (log ${pg.logFile})` : ''} (${seconds()})`);
    const basePort = Number(process.env.CLUSTER_BASE_PORT || 17233);
    const frontends = clusterLayout(basePort)
      .filter((p) => p.service === 'frontend')
      .map((p) => `127.0.0.1:${p.grpcPort}`);
    // First: the UI server reaches Temporal through it.
    proxy = await startProxy({
      dir,
      grpcPort: Number(process.env.CLUSTER_GRPC_PORT || basePort + 12),
      webUpstreams: [],
      grpcUpstreams: frontends,
      log,
    });
    cluster = await startTemporalCluster({
      server: bins.server,
      sqlTool: bins.sqlTool,
      cli,
      pg,
      dir,
      basePort,
      retentionDays: 30,
      ui: {
        uiServer: bins.uiServer,
        port: Number(process.env.CLUSTER_UI_PORT || 18233),
        codecEndpoint: process.env.CLUSTER_CODEC_URL,
        temporalAddress: proxy.grpcAddress,
      },
      log,
    });
  } catch (err) {
    log((err as Error).message);
    await shutdown(1);
    return;
  }
  log(`ready in ${seconds()}`);
  log(`frontends: ${cluster.frontends.join(' ')}`);
  log(`clients: TEMPORAL_ADDRESS=${proxy!.grpcAddress} (nginx, balancing over both frontends; log ${proxy!.logFile})`);
  log(`UI: ${cluster.uiUrl}`);
  for (const p of cluster.processes) log(`${p.name}: pid ${p.process.pid}, log ${p.logFile}`);
  for (const p of [...cluster.processes, { name: 'nginx', process: proxy!.process, logFile: proxy!.logFile }]) {
    p.process.once('exit', (code) => {
      if (stopping) return;
      log(`${p.name} exited with code ${code} (log ${p.logFile}); stopping the cluster`);
      void shutdown(1);
    });
  }
}

void main();
