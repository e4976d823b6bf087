/**
 * The production topology under the fault harness (`npm run test:faults -- --cluster`): PostgreSQL
 * (a private cluster in the run's dir, or BUILDSTORY_CLUSTER_POSTGRES_HOST), Temporal as five
 * processes (devstack/cluster/temporal.ts, ports from CLUSTER_BASE_PORT, default 27233) and nginx
 * in front (devstack/cluster/proxy.ts): the web replicas and the workers reach Temporal through
 * its gRPC balancer, the harness's clients reach the web replicas through its HTTP side.
 *
 * A Temporal crash kills one server process with -9 and starts it again on the same config and
 * ports, in turn: frontend A, history, matching, frontend B, the worker service. A PostgreSQL
 * crash kills the private cluster's postmaster and every backend with -9 and starts it again on
 * the same data directory and port (crash recovery). An external PostgreSQL
 * (BUILDSTORY_CLUSTER_POSTGRES_HOST) is not ours to restart: the plan then has no PostgreSQL crash.
 */
import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Connection, isGrpcServiceError } from '@temporalio/client';
import { ensureClusterBinaries } from '../devstack/cluster/binaries';
import { existingPostgres, startPrivatePostgres, type PostgresTarget, type PrivatePostgres } from '../devstack/cluster/postgres';
import { startProxy, type ClusterProxy } from '../devstack/cluster/proxy';
import { clusterLayout, startTemporalCluster, type TemporalCluster } from '../devstack/cluster/temporal';
import { freePort } from '../devstack/processes';
import { ensureTemporalCli } from '../devstack/temporal';
import { killWithUs, type CrashTarget, type TemporalUnderTest } from './supervisor';

/** The server processes a Temporal crash takes in turn. */
export const CLUSTER_CRASH_ORDER = ['frontend-a', 'history', 'matching', 'frontend-b', 'worker'];

/** One server process of the cluster as a crash target. */
class ClusterServer implements CrashTarget {
  constructor(
    private readonly cluster: TemporalCluster,
    private readonly process: string,
  ) {}

  get name(): string {
    return `Temporal ${this.process}`;
  }

  private get current() {
    return this.cluster.processes.find((p) => p.name === this.process)!;
  }

  async kill9(): Promise<void> {
    const child = this.current.process;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await exited;
  }

  async start(): Promise<void> {
    await this.cluster.restart(this.process);
    killWithUs(this.current.process);
  }

  /** The cluster stops as a whole (TemporalUnderTest.stop). */
  async stop(): Promise<void> {}
}

/** gRPC NOT_FOUND: Temporal looked the execution up in the database and it was not there. */
const NOT_FOUND = 5;

/** The private PostgreSQL as a crash target. */
class ClusterPostgres implements CrashTarget {
  readonly name = 'PostgreSQL';
  private connection: Connection | null = null;

  constructor(
    private readonly pg: PrivatePostgres,
    /** Temporal's gRPC address for the clients (the balancer). */
    private readonly temporalAddress: string,
  ) {}

  kill9(): Promise<void> {
    return this.pg.kill9();
  }

  start(): Promise<void> {
    return this.pg.start();
  }

  /**
   * Once PostgreSQL is back: how long until Temporal reads from it again (its services' connection
   * pools hold dead connections until an error makes them refresh). Asked through the balancer:
   * the history service looks up an execution that does not exist, and says so (NOT_FOUND) only
   * after a database read.
   */
  async recovered(): Promise<number> {
    const started = Date.now();
    const deadline = started + 120_000;
    this.connection ??= await Connection.connect({ address: this.temporalAddress });
    const connection = this.connection;
    for (;;) {
      try {
        await connection.withDeadline(Date.now() + 3_000, () =>
          connection.workflowService.describeWorkflowExecution({
            namespace: 'default',
            execution: { workflowId: `buildstory-faults-probe-${Date.now()}` },
          }),
        );
      } catch (err) {
        if (isGrpcServiceError(err) && err.code === NOT_FOUND) return Date.now() - started;
        if (Date.now() > deadline)
          throw new Error(`Temporal did not read from PostgreSQL within 120 s of its restart: ${(err as Error).message}`, {
            cause: err,
          });
      }
      await sleep(100);
    }
  }

  /** PostgreSQL itself stops with the stack (TemporalUnderTest.stop). */
  async stop(): Promise<void> {
    await this.connection?.close();
    this.connection = null;
  }
}

/** A TemporalStarter (faults/supervisor.ts) for the cluster topology. */
export async function startClusterTemporal(dir: string, webPorts: number[], log: (line: string) => void): Promise<TemporalUnderTest> {
  // The private PostgreSQL runs as the postgres user, which must reach its directories.
  chmodSync(dir, 0o755);
  const [bins, cli] = await Promise.all([ensureClusterBinaries(log), ensureTemporalCli(log)]);
  let pg: PostgresTarget | undefined;
  let privatePg: PrivatePostgres | null = null;
  let proxy: ClusterProxy | undefined;
  let cluster: TemporalCluster | undefined;
  const stop = async () => {
    await proxy?.stop();
    await cluster?.stop();
    await pg?.stop();
  };
  try {
    pg = existingPostgres() ?? (privatePg = await startPrivatePostgres(join(dir, 'postgres')));
    const basePort = Number(process.env.CLUSTER_BASE_PORT || 27233);
    const frontends = clusterLayout(basePort)
      .filter((p) => p.service === 'frontend')
      .map((p) => `127.0.0.1:${p.grpcPort}`);
    proxy = await startProxy({
      dir,
      httpPort: await freePort(),
      grpcPort: await freePort(),
      webUpstreams: webPorts.map((port) => `127.0.0.1:${port}`),
      grpcUpstreams: frontends,
      log,
    });
    killWithUs(proxy.process);
    cluster = await startTemporalCluster({ server: bins.server, sqlTool: bins.sqlTool, cli, pg, dir, basePort, log });
    for (const p of cluster.processes) killWithUs(p.process);
  } catch (err) {
    await stop();
    throw err;
  }
  const started = cluster;
  const crashablePg = privatePg ? new ClusterPostgres(privatePg, proxy.grpcAddress) : null;
  return {
    address: proxy.grpcAddress,
    // Given web upstreams, it serves HTTP.
    webBase: proxy.httpUrl!,
    targets: CLUSTER_CRASH_ORDER.map((name) => new ClusterServer(started, name)),
    postgres: crashablePg,
    stop: async () => {
      await crashablePg?.stop();
      await stop();
    },
  };
}
