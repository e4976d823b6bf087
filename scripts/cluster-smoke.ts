/**
 * `npm run test:cluster`: the production topology run for real, end to end, without jest. Starts
 * PostgreSQL (a fresh private cluster in a temporary directory unless
 * BUILDSTORY_CLUSTER_POSTGRES_HOST names one), Temporal as five processes and the UI server
 * (devstack/cluster/), two workers and two web apps, one of each on each frontend; submits a task
 * through each web app's form and waits until both runs complete; checks the UI server and its
 * codec setting; prints the timings and every process's memory; stops everything. Exit 0 = pass.
 * Not part of `npm test` (it takes minutes on a cold Go cache).
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { ensureClusterBinaries, clusterLog as log } from '../devstack/cluster/binaries';
import { existingPostgres, startPrivatePostgres, type PostgresTarget } from '../devstack/cluster/postgres';
import { startTemporalCluster, type TemporalCluster } from '../devstack/cluster/temporal';
import { startRunViaForm } from '../devstack/form';
import { startPart, webPart, workerPart, type StartedPart } from '../devstack/parts';
import { ensureWebBuild, freePort } from '../devstack/processes';
import { ensureTemporalCli } from '../devstack/temporal';

const timings: Record<string, number> = {};
async function timed<T>(name: string, work: () => Promise<T>): Promise<T> {
  const begun = Date.now();
  try {
    return await work();
  } finally {
    timings[name] = Date.now() - begun;
  }
}

/** RSS in MB of each process and its descendants (tsx runs node under a launcher). */
function memory(pids: Record<string, number | undefined>): Record<string, number> {
  const rows = execFileSync('ps', ['-eo', 'pid=,ppid=,rss=']).toString().trim().split('\n');
  const procs = rows.map((r) => r.trim().split(/\s+/).map(Number));
  const tree = (pid: number): number =>
    (procs.find(([p]) => p === pid)?.[2] ?? 0) + procs.filter(([, pp]) => pp === pid).reduce((sum, [p]) => sum + tree(p!), 0);
  return Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, pid ? Math.round(tree(pid) / 1024) : 0]));
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'buildstory-cluster-'));
  // The private PostgreSQL runs as the postgres user, which must reach its directories.
  chmodSync(dir, 0o755);
  let pg: PostgresTarget | undefined;
  let cluster: TemporalCluster | undefined;
  const parts: StartedPart[] = [];
  let passed = false;
  try {
    const [bins, cli] = await timed('binaries', () => Promise.all([ensureClusterBinaries(log), ensureTemporalCli(log)]));
    ensureWebBuild(log);
    pg = await timed('postgres', async () => existingPostgres() ?? (await startPrivatePostgres(join(dir, 'postgres'))));
    const webPorts = [await freePort(), await freePort()];
    const uiPort = await freePort();
    const basePort = Number(process.env.CLUSTER_BASE_PORT || 27233);
    cluster = await timed('temporal', () =>
      startTemporalCluster({
        server: bins.server,
        sqlTool: bins.sqlTool,
        cli,
        pg: pg!,
        dir,
        basePort,
        ui: { uiServer: bins.uiServer, port: uiPort, codecEndpoint: `http://127.0.0.1:${webPorts[0]}/codec` },
        log,
      }),
    );
    log(`cluster up: frontends ${cluster.frontends.join(' ')}, UI ${cluster.uiUrl}`);

    await timed('apps', async () => {
      for (const [i, address] of cluster!.frontends.entries()) {
        // A health port, so that "ready" means the worker polls its task queue.
        parts.push(startPart(workerPart({ name: `worker-${i}`, healthPort: await freePort(), env: { TEMPORAL_ADDRESS: address } })));
        parts.push(startPart(webPart({ name: `web-${i}`, port: webPorts[i]!, env: { TEMPORAL_ADDRESS: address } })));
      }
      await Promise.all(parts.map((p) => p.ready(90_000)));
    });

    // One run through each web app, each web app on its own frontend; the result is read back
    // through the other frontend, so both see the same cluster.
    await timed('runs', () =>
      Promise.all(
        webPorts.map(async (port, i) => {
          const begun = Date.now();
          const id = await startRunViaForm(`http://127.0.0.1:${port}`);
          const connection = await Connection.connect({ address: cluster!.frontends[1 - i]! });
          try {
            await new Client({ connection }).workflow.getHandle(id).result();
          } finally {
            await connection.close();
          }
          log(`run ${id} (web-${i}, frontend ${cluster!.frontends[i]}) completed in ${Date.now() - begun} ms`);
        }),
      ),
    );

    const page = await fetch(`${cluster.uiUrl}/`);
    if (!page.ok) throw new Error(`the UI page answered ${page.status}`);
    const settings = (await (await fetch(`${cluster.uiUrl}/api/v1/settings`)).json()) as {
      Codec: { Endpoint: string; IncludeCredentials: boolean };
    };
    if (settings.Codec.Endpoint !== `http://127.0.0.1:${webPorts[0]}/codec` || !settings.Codec.IncludeCredentials)
      throw new Error(`the UI server's codec settings are not ours: ${JSON.stringify(settings.Codec)}`);
    log(`UI page ${page.status}; codec ${settings.Codec.Endpoint} with credentials`);

    const pids: Record<string, number | undefined> = {};
    for (const p of cluster.processes) pids[p.name] = p.process.pid;
    for (const p of parts) pids[p.name] = p.child.pid;
    log(`RSS MB: ${JSON.stringify(memory(pids))}`);
    log(`timings ms: ${JSON.stringify(timings)}`);
    log('PASS');
    passed = true;
  } finally {
    await Promise.all(parts.map((p) => p.stop()));
    await cluster?.stop();
    await pg?.stop();
    // Keep the configs and logs of a failed run.
    if (passed) rmSync(dir, { recursive: true, force: true });
    else log(`configs and logs kept in ${dir}`);
  }
}

main().catch((err: Error) => {
  log(`FAIL: ${err.message}`);
  process.exit(1);
});
