/**
 * Temporal as production runs it: each service in its own process (two frontends, history,
 * matching, worker) on PostgreSQL, plus the UI server. Writes one config per process (every
 * process reads `services.<name>.rpc` for its own ports, so two frontends need two files), sets
 * up the schemas with the SQL tool, starts the services, waits until a frontend answers, then
 * creates the namespace, sets its retention and creates our search attribute.
 *
 * Port layout from `basePort` (all on 127.0.0.1):
 *   frontend A grpc +0, http +1, membership +2; frontend B +3, +4, +5; history grpc +6,
 *   membership +7; matching +8, +9; worker +10, +11.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createSearchAttributes, setRetention, waitForTemporal } from '../temporal';
import { stopChild, waitForHttp } from '../processes';
import type { PostgresTarget } from './postgres';

const run = promisify(execFile);
type Log = (line: string) => void;

export type ServiceName = 'frontend' | 'history' | 'matching' | 'worker';

export interface ServiceProcess {
  /** e.g. `frontend-a`, `history`. */
  name: string;
  service: ServiceName;
  grpcPort: number;
  httpPort?: number;
  membershipPort: number;
}

/** The five server processes and their ports. */
export function clusterLayout(basePort: number): ServiceProcess[] {
  return [
    { name: 'frontend-a', service: 'frontend', grpcPort: basePort, httpPort: basePort + 1, membershipPort: basePort + 2 },
    { name: 'frontend-b', service: 'frontend', grpcPort: basePort + 3, httpPort: basePort + 4, membershipPort: basePort + 5 },
    { name: 'history', service: 'history', grpcPort: basePort + 6, membershipPort: basePort + 7 },
    { name: 'matching', service: 'matching', grpcPort: basePort + 8, membershipPort: basePort + 9 },
    { name: 'worker', service: 'worker', grpcPort: basePort + 10, membershipPort: basePort + 11 },
  ];
}

export const TEMPORAL_DB = 'temporal';
export const VISIBILITY_DB = 'temporal_visibility';

function datastore(pg: PostgresTarget, database: string, maxConns: number): string {
  return `      sql:
        pluginName: postgres12
        databaseName: ${database}
        connectAddr: "${pg.host}:${pg.port}"
        connectProtocol: tcp
        user: ${JSON.stringify(pg.user)}
        password: ${JSON.stringify(pg.password)}
        maxConns: ${maxConns}
        maxIdleConns: ${maxConns}
        maxConnLifetime: 1h`;
}

/**
 * A cut-down development-postgres12 config for one process; the others are found through
 * membership (ringpop, seeded from the cluster_membership table).
 * No metrics or pprof listeners, so processes do not fight over those ports. `publicClient` is
 * left unset: the worker service then reaches a frontend through membership.
 */
export function serverConfig(proc: ServiceProcess, layout: ServiceProcess[], pg: PostgresTarget, dynamicConfig: string): string {
  // Every service must be listed, or the membership monitor does not track it ("service not
  // tracked by Monitor"); the frontend entry is this process's own frontend when it is one.
  const byService = new Map<ServiceName, ServiceProcess>();
  for (const p of layout) if (!byService.has(p.service)) byService.set(p.service, p);
  byService.set(proc.service, proc);
  const services = [...byService.values()]
    .map(
      (p) => `  ${p.service}:
    rpc:
      grpcPort: ${p.grpcPort}
      membershipPort: ${p.membershipPort}
      bindOnLocalHost: true${p.httpPort ? `\n      httpPort: ${p.httpPort}` : ''}`,
    )
    .join('\n');
  return `log:
  stdout: true
  level: warn
persistence:
  defaultStore: postgres-default
  visibilityStore: postgres-visibility
  numHistoryShards: 4
  datastores:
    postgres-default:
${datastore(pg, TEMPORAL_DB, 20)}
    postgres-visibility:
${datastore(pg, VISIBILITY_DB, 4)}
global:
  membership:
    maxJoinDuration: 30s
    broadcastAddress: 127.0.0.1
services:
${services}
clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: active
  currentClusterName: active
  clusterInformation:
    active:
      enabled: true
      initialFailoverVersion: 1
      rpcName: frontend
      rpcAddress: "127.0.0.1:${layout[0].grpcPort}"
dcRedirectionPolicy:
  policy: noop
dynamicConfigClient:
  filepath: ${JSON.stringify(dynamicConfig)}
  pollInterval: 10s
`;
}

/**
 * Dynamic config, the same as docker-compose.yml's Temporal reads (deploy/temporal-dynamic.yaml,
 * checked by tests/deploy.test.ts).
 *
 * Search attributes stay cached (a minute per process), unlike the dev server's: refreshing on
 * read cost a PostgreSQL query on nearly every call to Temporal (about 87 a second at the
 * benchmark's load, and about 10 ms on each workflow task's completion). Nothing needs it here:
 * on SQL visibility a custom search attribute is the namespace's alias for a column the schema
 * creates, so a new one reaches the services with the namespace (its cache refreshes in
 * seconds), not through this cache.
 * Worker Versioning (docs/deploy.md, Rolling deploys) needs no change on 1.29.1: deployment
 * versions and the versioning fields of the workflow APIs are on by default; they are written out
 * so that a server upgrade that changed those defaults would not turn it off unnoticed.
 */
export const DYNAMIC_CONFIG: Record<string, string | number | boolean> = {
  'system.forceSearchAttributesCacheRefreshOnRead': false,
  'system.enableDeploymentVersions': true,
  'frontend.workerVersioningWorkflowAPIs': true,
};

/** The dynamic config file: one global value per key. */
export function dynamicConfigYaml(values: Record<string, string | number | boolean>): string {
  return Object.entries(values)
    .map(([key, value]) => `${key}:\n  - value: ${JSON.stringify(value)}\n`)
    .join('');
}

/** Create both databases and bring their schemas to the newest version; safe to rerun. */
export async function setupSchemas(sqlTool: string, pg: PostgresTarget, log: Log): Promise<void> {
  const conn = ['--plugin', 'postgres12', '--ep', pg.host, '-p', String(pg.port), '-u', pg.user, '--pw', pg.password];
  for (const [db, schema] of [
    [TEMPORAL_DB, 'postgresql/v12/temporal'],
    [VISIBILITY_DB, 'postgresql/v12/visibility'],
  ]) {
    const tool = async (args: string[]) => {
      try {
        await run(sqlTool, [...conn, '--db', db, ...args], { timeout: 120_000 });
      } catch (err) {
        const e = err as { stderr?: string; message: string };
        // create-database on an existing database fails; that is the rerun case.
        if (args[0] === 'create' && /already exists/.test(e.stderr ?? e.message)) return;
        throw new Error(`temporal-sql-tool ${args.join(' ')} on ${db} failed: ${(e.stderr ?? e.message).trim().slice(-800)}`, {
          cause: err,
        });
      }
    };
    await tool(['create']);
    await tool(['setup-schema', '-v', '0.0']);
    await tool(['update-schema', '--schema-name', schema]);
    log(`schema ready: ${db}`);
  }
}

export interface UiOptions {
  uiServer: string;
  port: number;
  /** The web app's codec endpoint (…/codec), when there is one. */
  codecEndpoint?: string;
  /** Where it reaches Temporal: a balancer in front of the frontends; frontend A by default. */
  temporalAddress?: string;
}

export interface ClusterOptions {
  server: string;
  sqlTool: string;
  cli: string;
  pg: PostgresTarget;
  /** Configs and logs go here. */
  dir: string;
  basePort: number;
  namespace?: string;
  retentionDays?: number;
  /** Dynamic config values on top of ours (e.g. a short Worker Versioning drainage refresh for a test). */
  dynamicConfig?: Record<string, string | number | boolean>;
  ui?: UiOptions;
  log: Log;
}

export interface TemporalCluster {
  /** Both frontends' gRPC addresses. */
  frontends: string[];
  uiUrl: string | null;
  processes: { name: string; process: ChildProcess; logFile: string }[];
  stop(): Promise<void>;
  /**
   * Start a server process that has exited (e.g. after a kill -9) again, with its config and
   * ports; resolves once it listens (servingPort).
   */
  restart(name: string): Promise<void>;
}

function startProcess(bin: string, args: string[], logFile: string): ChildProcess {
  const out = openSync(logFile, 'a');
  return spawn(bin, args, { stdio: ['ignore', out, out] });
}

function uiConfig(frontend: string, ui: UiOptions, namespace: string): string {
  const codec = ui.codecEndpoint ? `\ncodec:\n  endpoint: ${JSON.stringify(ui.codecEndpoint)}\n  includeCredentials: true` : '';
  return `temporalGrpcAddress: "${frontend}"
host: 127.0.0.1
port: ${ui.port}
enableUi: true
defaultNamespace: ${namespace}
refreshInterval: 1m
cors:
  cookieInsecure: true${codec}
`;
}

export async function startTemporalCluster(options: ClusterOptions): Promise<TemporalCluster> {
  const { log, pg } = options;
  const namespace = options.namespace ?? 'default';
  const configDir = join(options.dir, 'config');
  const logDir = join(options.dir, 'log');
  mkdirSync(configDir, { recursive: true });
  mkdirSync(logDir, { recursive: true });

  await setupSchemas(options.sqlTool, pg, log);

  const layout = clusterLayout(options.basePort);
  const dynamicConfig = join(configDir, 'dynamic.yaml');
  writeFileSync(dynamicConfig, dynamicConfigYaml({ ...DYNAMIC_CONFIG, ...options.dynamicConfig }));
  const processes: TemporalCluster['processes'] = [];
  // One at a time, in the reverse of the start order (UI, worker, frontends, matching, history):
  // stopped all at once, each logged errors about the others being gone ("Not enough hosts to
  // serve the request", the worker service's "Couldn't cleanup task worker").
  const stop = async () => {
    for (const p of [...processes].reverse()) {
      await stopChild(p.process, 10_000, () => log(`${p.name} did not stop within 10 s; killing it`));
    }
  };
  const launch = (proc: ServiceProcess) => {
    writeFileSync(join(configDir, `${proc.name}.yaml`), serverConfig(proc, layout, pg, dynamicConfig));
    const logFile = join(logDir, `${proc.name}.log`);
    const args = ['--root', '/', '--config', configDir, '--env', proc.name, '--allow-no-auth', 'start', '--service', proc.service];
    const entry = { name: proc.name, process: startProcess(options.server, args, logFile), logFile };
    // A restart takes the place of the process it replaces (and its place in the stop order).
    const previous = processes.findIndex((p) => p.name === proc.name);
    if (previous >= 0) processes[previous] = entry;
    else processes.push(entry);
    return entry;
  };
  const restart = async (name: string) => {
    const proc = layout.find((p) => p.name === name);
    if (!proc) throw new Error(`no server process named ${name}`);
    const current = processes.find((p) => p.name === name);
    if (current && current.process.exitCode === null && current.process.signalCode === null)
      throw new Error(`${name} is still running (pid ${current.process.pid})`);
    await waitForPort(servingPort(proc), 30_000, launch(proc));
  };
  // History alone first: on a fresh database every process inserts the cluster metadata record at
  // start, and the losers of that race exit ("failed to initialize current cluster metadata").
  // History serves gRPC only after the record is written; then the others start together.
  const history = launch(layout[2]!);
  try {
    await waitForPort(layout[2]!.grpcPort, 60_000, history);
  } catch (err) {
    await stop();
    throw err;
  }
  for (const proc of [layout[3]!, layout[0]!, layout[1]!, layout[4]!]) launch(proc);
  const frontends = [layout[0], layout[1]].map((f) => `127.0.0.1:${f.grpcPort}`);

  try {
    await registerNamespace(options.cli, frontends[0], namespace, processes, log);
    // A new namespace reaches the frontends' namespace cache some seconds after it was created
    // ("Namespace default is not found." from update until then).
    await retry(() => setRetention(options.cli, frontends[0]!, namespace, options.retentionDays ?? 30), 60_000);
    await retry(() => createSearchAttributes(options.cli, frontends[0]!, namespace), 60_000);
    // The second frontend must answer too before anyone is told about it.
    await waitForTemporal(options.cli, frontends[1], namespace, 60_000);
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message} (logs: ${logDir})`, { cause: err });
  }

  let uiUrl: string | null = null;
  if (options.ui) {
    const uiDir = join(options.dir, 'ui');
    mkdirSync(join(uiDir, 'config'), { recursive: true });
    writeFileSync(join(uiDir, 'config', 'cluster.yaml'), uiConfig(options.ui.temporalAddress ?? frontends[0], options.ui, namespace));
    const logFile = join(logDir, 'ui-server.log');
    const child = startProcess(options.ui.uiServer, ['--root', uiDir, '--config', 'config', '--env', 'cluster', 'start'], logFile);
    processes.push({ name: 'ui-server', process: child, logFile });
    uiUrl = `http://127.0.0.1:${options.ui.port}`;
    try {
      await waitForHttp(`${uiUrl}/api/v1/settings`, 30_000, child);
    } catch (err) {
      await stop();
      throw new Error(`the UI server did not answer: ${(err as Error).message} (log: ${logFile})`, { cause: err });
    }
  }
  return { frontends, uiUrl, processes, stop, restart };
}

/**
 * Wait until frontend A answers, creating the namespace (a fresh database has none). Until the
 * ring has formed, the frontend answers with errors; we keep trying for two minutes.
 */
async function registerNamespace(
  cli: string,
  address: string,
  namespace: string,
  processes: TemporalCluster['processes'],
  log: Log,
): Promise<void> {
  const deadline = Date.now() + 120_000;
  let lastError = '';
  while (Date.now() < deadline) {
    const dead = processes.find((p) => p.process.exitCode !== null);
    if (dead) throw new Error(`${dead.name} exited with code ${dead.process.exitCode} (log: ${dead.logFile})`);
    try {
      await run(cli, ['operator', 'namespace', 'describe', '--address', address, '--namespace', namespace], { timeout: 10_000 });
      return;
    } catch (err) {
      lastError = ((err as { stderr?: string }).stderr || (err as Error).message).trim().split('\n')[0];
    }
    try {
      await run(cli, ['operator', 'namespace', 'create', '--address', address, '--namespace', namespace], { timeout: 10_000 });
      log(`namespace ${namespace} created`);
    } catch (err) {
      lastError = ((err as { stderr?: string }).stderr || (err as Error).message).trim().split('\n')[0];
      await new Promise((r) => setTimeout(r, 1_000));
    }
  }
  throw new Error(`no frontend answered at ${address} within 120 s: ${lastError}`);
}

async function retry(work: () => Promise<void>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await work();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 1_000));
    }
  }
}

/**
 * The port that shows a server process is up. Temporal's worker service serves no gRPC (nothing in
 * it takes the gRPC listener, so its grpcPort never opens); it listens only on its membership port.
 */
export function servingPort(proc: ServiceProcess): number {
  return proc.service === 'worker' ? proc.membershipPort : proc.grpcPort;
}

/** Wait until something accepts TCP connections on 127.0.0.1:`port`; fail if `owner` exits first. */
export async function waitForPort(port: number, timeoutMs: number, owner: TemporalCluster['processes'][number]): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (owner.process.exitCode !== null)
      throw new Error(`${owner.name} exited with code ${owner.process.exitCode} (log: ${owner.logFile})`);
    const open = await new Promise<boolean>((resolvePromise) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolvePromise(true);
      });
      socket.once('error', () => resolvePromise(false));
    });
    if (open) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${owner.name} did not listen on port ${port} within ${timeoutMs / 1000} s (log: ${owner.logFile})`);
}
