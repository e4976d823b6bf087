/**
 * `npm run test:cluster`: the production topology run for real, end to end, without jest. Starts
 * PostgreSQL (a fresh private cluster in a temporary directory unless
 * BUILDSTORY_CLUSTER_POSTGRES_HOST names one), Temporal as five processes and the UI server
 * (devstack/cluster/), nginx in front (devstack/cluster/proxy.ts: HTTP to two web replicas, gRPC
 * balanced over the two frontends), two workers and two web apps that reach Temporal only through
 * nginx. Every client goes through nginx too. Then:
 *
 * 1. a run through the form per replica's turn, read back over the balanced gRPC;
 * 2. a run in headless Chromium: the form, the run page and its live story;
 * 3. a run followed over SSE while the replica serving the stream is killed (-9): the follower
 *    reconnects with Last-Event-ID through nginx to the other replica and must end with every
 *    event of the final story exactly once; the killed replica is started again;
 * 4. runs in flight while a Temporal frontend is killed (-9): all complete through the balancer;
 * 5. the UI server (through the balancer) and its codec setting (through nginx);
 * 6. a rolling deploy with Worker Versioning (devstack/rolling-deploy.ts, the scenario of
 *    tests/rolling-deploy.test.ts), frontend A started again first: workers of builds A and B in
 *    this process, through the balancer; the CLI's commands through it too; "Retry from the failed
 *    step" posted to the web app through nginx; and A seen `drained` (the drainage refresh is set
 *    to 5 s in this cluster's dynamic config; 3 min by default).
 *
 * Prints the timings, the figures of each check, the requests per replica and frontend, and every
 * process's memory; stops everything. Exit 0 = pass. Not part of `npm test` (`.ci/run` runs it).
 * The web apps and workers run under the fault harness's supervisor (faults/supervisor.ts: their
 * own process groups, killed -9 as a whole, started again on the same ports) and their streams
 * are followed by its follower (faults/follower.ts).
 */
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import pino from 'pino';
import type { ProgressSnapshot } from '../contract/data';
import { launchChromium } from '../devstack/browser';
import { writeWorkflowBundle } from '../devstack/bundle';
import { ensureClusterBinaries, clusterLog as log } from '../devstack/cluster/binaries';
import { existingPostgres, startPrivatePostgres, type PostgresTarget } from '../devstack/cluster/postgres';
import { ensureNginx, startProxy, type ClusterProxy } from '../devstack/cluster/proxy';
import { clusterLayout, startTemporalCluster, type TemporalCluster } from '../devstack/cluster/temporal';
import { startRunViaForm } from '../devstack/form';
import { webPart, workerPart } from '../devstack/parts';
import { ensureWebBuild, freePort } from '../devstack/processes';
import { rollingDeploy, rollingDeployProblems } from '../devstack/rolling-deploy';
import { parsePrometheus } from '../devstack/stats';
import { ensureTemporalCli } from '../devstack/temporal';
import { RunFollower } from '../faults/follower';
import { NodePart } from '../faults/supervisor';

/** Per chunk of the offline model: runs last some seconds, long enough to kill a part mid-run. */
const MODEL_DELAY_MS = 150;
const RUN_DEADLINE_MS = 120_000;
/** Worker Versioning's drainage refresh and visibility grace period in this cluster (3 min each by default). */
const DRAINAGE_REFRESH = '5s';

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

/** The story frames a follower received against the run's final story: every event exactly once. */
function compareStory(follower: RunFollower, final: ProgressSnapshot): { events: number; problems: string[] } {
  const got = follower.frames.filter((f) => f.event === 'story').map((f) => JSON.parse(f.data) as { seq: number });
  const seqs = got.map((e) => e.seq);
  const problems: string[] = [];
  const dense = seqs.every((seq, i) => seq === i + 1);
  if (!dense) problems.push(`seqs not 1..n in order: ${seqs.join(',')}`);
  if (final.hasMore) problems.push('the final story has more pages than its result holds');
  if (seqs.length !== final.events.length) problems.push(`${seqs.length} events received, the final story has ${final.events.length}`);
  const altered = got.filter((e, i) => JSON.stringify(e) !== JSON.stringify(final.events[i])).length;
  if (altered) problems.push(`${altered} events differ from the final story`);
  if (follower.end?.status !== 'completed') problems.push(`end: ${JSON.stringify(follower.end)} (204: ${follower.got204})`);
  return { events: seqs.length, problems };
}

/** Open event streams on a replica, read from its own /metrics (not through nginx). */
async function openStreams(port: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return parsePrometheus(text).find((s) => s.name === 'buildstory_sse_connections')?.value ?? 0;
}

/** Requests per upstream address in an nginx access log written with the `upstream` format. */
function perUpstream(file: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const match of readFileSync(file, 'utf8').matchAll(/upstream=(.*?) upstream_status=/g)) {
    // "a, b": the first refused the connection, the second answered.
    for (const address of match[1]!.split(', ')) counts[address] = (counts[address] ?? 0) + 1;
  }
  return counts;
}

async function until(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs / 1000} s`);
    await sleep(50);
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'buildstory-cluster-'));
  // The private PostgreSQL runs as the postgres user, which must reach its directories.
  chmodSync(dir, 0o755);
  let pg: PostgresTarget | undefined;
  let cluster: TemporalCluster | undefined;
  let proxy: ClusterProxy | undefined;
  let connection: Connection | undefined;
  const parts: NodePart[] = [];
  const unexpected: string[] = [];
  const figures: Record<string, unknown> = {};
  const quietRunMs: number[] = [];
  let passed = false;
  try {
    const [bins, cli] = await timed('binaries', () => Promise.all([ensureClusterBinaries(log), ensureTemporalCli(log)]));
    ensureNginx(log);
    ensureWebBuild(log);
    pg = await timed('postgres', async () => existingPostgres() ?? (await startPrivatePostgres(join(dir, 'postgres'))));
    const basePort = Number(process.env.CLUSTER_BASE_PORT || 27233);
    const frontends = clusterLayout(basePort)
      .filter((p) => p.service === 'frontend')
      .map((p) => `127.0.0.1:${p.grpcPort}`);
    const [web0, web1, httpPort, grpcPort, uiPort] = [
      await freePort(),
      await freePort(),
      await freePort(),
      await freePort(),
      await freePort(),
    ];
    const webPorts = [web0!, web1!];

    // nginx first: the web apps, the workers and the UI server reach Temporal through it.
    proxy = await timed('proxy', () =>
      startProxy({
        dir,
        httpPort: httpPort!,
        grpcPort: grpcPort!,
        webUpstreams: webPorts.map((p) => `127.0.0.1:${p}`),
        grpcUpstreams: frontends,
        log,
      }),
    );
    const front = proxy;
    // Given web upstreams, it serves HTTP.
    const webBase = front.httpUrl!;
    cluster = await timed('temporal', () =>
      startTemporalCluster({
        server: bins.server,
        sqlTool: bins.sqlTool,
        cli,
        pg: pg!,
        dir,
        basePort,
        dynamicConfig: {
          'matching.wv.VersionDrainageStatusRefreshInterval': DRAINAGE_REFRESH,
          'matching.wv.VersionDrainageStatusVisibilityGracePeriod': DRAINAGE_REFRESH,
        },
        ui: { uiServer: bins.uiServer, port: uiPort!, codecEndpoint: `${webBase}/codec`, temporalAddress: front.grpcAddress },
        log,
      }),
    );
    log(`cluster up: frontends ${cluster.frontends.join(' ')} behind ${front.grpcAddress}; web ${webBase}; UI ${cluster.uiUrl}`);

    const onExit = (part: NodePart, code: number | null, signal: string | null) => {
      unexpected.push(`${part.name} exited by itself (code ${code}, signal ${signal})`);
      log(`UNEXPECTED: ${part.name} exited (code ${code}, signal ${signal}; log ${join(dir, 'log', `${part.name}.log`)})`);
    };
    const part = (name: string, describe: ConstructorParameters<typeof NodePart>[2]) =>
      new NodePart(name, join(dir, 'log', `${name}.log`), describe, 90_000, onExit);
    const temporal = { TEMPORAL_ADDRESS: front.grpcAddress };
    const workers = [0, 1].map((i) =>
      part(`worker-${i}`, async () =>
        // A health port, so that "ready" means the worker polls its task queue.
        workerPart({
          name: `worker-${i}`,
          healthPort: await freePort(),
          env: { ...temporal, OFFLINE_MODEL_DELAY_MS: String(MODEL_DELAY_MS) },
        }),
      ),
    );
    // TRUST_PROXY: nginx is on loopback; the client's address (the submission limit) and scheme come from its headers.
    const webs = webPorts.map((port, i) =>
      part(`web-${i}`, async () => webPart({ name: `web-${i}`, port, env: { ...temporal, TRUST_PROXY: 'loopback', LOG_LEVEL: 'info' } })),
    );
    parts.push(...workers, ...webs);
    await timed('apps', () => Promise.all(parts.map((p) => p.start())));

    connection = await Connection.connect({ address: front.grpcAddress });
    const client = new Client({ connection });
    const final = async (id: string) => (await client.workflow.getHandle(id).result()) as ProgressSnapshot;

    // 1. Two runs through the form; nginx takes turns between the replicas.
    await timed('forms', () =>
      Promise.all(
        [0, 1].map(async () => {
          const begun = Date.now();
          const id = await startRunViaForm(webBase);
          await final(id);
          quietRunMs.push(Date.now() - begun);
          log(`run ${id} through nginx completed in ${Date.now() - begun} ms`);
        }),
      ),
    );

    // The Origin check sees the Host the browser used (nginx passes it on): another site's post is refused.
    const foreign = await fetch(`${webBase}/?index`, {
      method: 'POST',
      headers: { Origin: 'http://elsewhere.example' },
      body: new URLSearchParams({ task: 'x', token: '00000000-0000-4000-8000-000000000000' }),
      redirect: 'manual',
    });
    if (foreign.status !== 403) throw new Error(`a cross-site form post through nginx answered ${foreign.status}, not 403`);

    // 2. A browser: the form, the run page, its live story over EventSource, all through nginx.
    await timed('browser', async () => {
      const browser = await launchChromium();
      try {
        const page = await browser.newPage();
        await page.goto(`${webBase}/`);
        await page.getByLabel('Task', { exact: true }).fill('Create a hello world python function');
        await page.getByRole('button', { name: 'Start the run' }).click();
        await page.waitForURL(/\/runs\/[^/]+$/);
        const id = new URL(page.url()).pathname.split('/').pop()!;
        await page
          .locator('article header [role="status"]')
          .filter({ hasText: /^Completed$/ })
          .waitFor({ timeout: RUN_DEADLINE_MS });
        const shown = await page.locator('li[data-seq]').count();
        const story = (await final(id)).events.filter((e) => e.type !== 'step.output').length;
        if (shown !== story) throw new Error(`the browser shows ${shown} story rows, the final story has ${story} (not output)`);
        figures.browser = { run: id, rows: shown };
        log(`browser: run ${id} completed on its page, ${shown} story rows as in the final story`);
      } finally {
        await browser.close();
      }
    });

    // 3. Kill -9 the replica that serves a stream; the follower resumes on the other.
    await timed('sseFailover', async () => {
      await until(async () => (await Promise.all(webPorts.map(openStreams))).every((n) => n === 0), 10_000, 'no stream open before');
      const id = await startRunViaForm(webBase);
      const follower = new RunFollower(`${webBase}/runs/${id}/events`, Date.now() + RUN_DEADLINE_MS);
      const following = follower.follow();
      await until(() => follower.frames.filter((f) => f.event === 'story').length >= 3, 30_000, 'three story events');
      const open = await Promise.all(webPorts.map(openStreams));
      const serving = open.indexOf(1);
      if (serving < 0 || open[1 - serving] !== 0) throw new Error(`cannot tell which replica serves the stream: open streams ${open}`);
      if (follower.end) throw new Error('the run ended before the kill');
      const before = follower.frames.length;
      const lastSeqBefore = follower.lastEventId;
      const killedAt = Date.now();
      await webs[serving]!.kill9();
      log(`kill -9 web-${serving} (serving the stream of ${id}, after ${lastSeqBefore})`);
      await following;
      const after = follower.frames.slice(before);
      const { events, problems } = compareStory(follower, await final(id));
      if (problems.length) throw new Error(`SSE failover: ${problems.join('; ')}`);
      if (follower.connections < 2) throw new Error('the follower did not reconnect');
      const reconnectGapMs = (after[0]?.at ?? NaN) - killedAt;
      const openAfter = await openStreams(webPorts[1 - serving]!);
      const restartBegun = Date.now();
      await webs[serving]!.start();
      figures.sseFailover = {
        run: id,
        killed: `web-${serving}`,
        lastEventIdBeforeKill: lastSeqBefore,
        reconnectGapMs,
        connections: follower.connections,
        events,
        storyFramesAfterKill: after.filter((f) => f.event === 'story').length,
        otherFramesAfterKill: after.filter((f) => f.event !== 'story').map((f) => f.event),
        streamsOnSurvivorAfterEnd: openAfter,
        restartMs: Date.now() - restartBegun,
      };
      log(
        `SSE failover: killed web-${serving}; first frame through web-${1 - serving} ${reconnectGapMs} ms after the kill; ` +
          `${events} events, each once (seq 1..${events}); ${follower.connections} connections; web-${serving} back in ${Date.now() - restartBegun} ms`,
      );
    });

    // 4. Kill -9 a Temporal frontend while runs are in flight.
    await timed('frontendKill', async () => {
      const submitted = Date.now();
      const ids = await Promise.all([0, 1, 2, 3].map(() => startRunViaForm(webBase)));
      const followers = ids.map((id) => new RunFollower(`${webBase}/runs/${id}/events`, Date.now() + RUN_DEADLINE_MS));
      const following = followers.map((f) => f.follow());
      await until(() => followers.every((f) => f.frames.some((fr) => fr.event === 'story')), 30_000, 'a story event per run');
      const victim = cluster!.processes.find((p) => p.name === 'frontend-a')!;
      const killedAt = Date.now();
      const inFlight = followers.filter((f) => !f.end).length;
      victim.process.kill('SIGKILL');
      log(`kill -9 frontend-a (${frontends[0]}) with ${inFlight} of ${ids.length} runs in flight`);
      await Promise.all(following);
      const ends: number[] = [];
      for (const [i, id] of ids.entries()) {
        const { events, problems } = compareStory(followers[i]!, await final(id));
        if (problems.length) throw new Error(`run ${id} after the frontend kill: ${problems.join('; ')}`);
        ends.push(followers[i]!.finishedAt! - killedAt);
        figures[`frontendKill.${id}`] = { events, connections: followers[i]!.connections };
      }
      if (inFlight === 0) throw new Error('no run was in flight at the frontend kill');
      figures.frontendKill = {
        runs: ids.length,
        inFlightAtKill: inFlight,
        killAfterSubmitMs: killedAt - submitted,
        lastEndAfterKillMs: Math.max(...ends),
        // Submit to end, against the two runs of check 1 (no fault, two at a time).
        slowestRunMs: killedAt - submitted + Math.max(...ends),
        quietRunMs,
      };
      log(`frontend kill: ${ids.length} runs completed through ${front.grpcAddress}, the last ${Math.max(...ends)} ms after the kill`);
    });

    // 5. The UI server reaches Temporal through the balancer (frontend A is gone now).
    const page = await fetch(`${cluster.uiUrl}/api/v1/namespaces/default`);
    if (!page.ok) throw new Error(`the UI server's namespace API answered ${page.status}`);
    const settings = (await (await fetch(`${cluster.uiUrl}/api/v1/settings`)).json()) as {
      Codec: { Endpoint: string; IncludeCredentials: boolean };
    };
    if (settings.Codec.Endpoint !== `${webBase}/codec` || !settings.Codec.IncludeCredentials)
      throw new Error(`the UI server's codec settings are not ours: ${JSON.stringify(settings.Codec)}`);
    log(`UI namespace API ${page.status} through the balancer; codec ${settings.Codec.Endpoint} with credentials`);

    // 6. A rolling deploy with Worker Versioning, on the whole cluster again: frontend A comes back,
    // and Temporal's worker service is killed and started too (it serves no gRPC, only membership:
    // restart() once waited for a gRPC port it never opens, which failed the fault suite in CI).
    await timed('rollingDeploy', async () => {
      await cluster!.restart('frontend-a');
      const workerService = cluster!.processes.find((p) => p.name === 'worker')!.process;
      const gone = new Promise((resolvePromise) => workerService.once('exit', resolvePromise));
      workerService.kill('SIGKILL');
      await gone;
      await cluster!.restart('worker');
      try {
        // The SDK logs the runs that fail on purpose at WARN.
        Runtime.install({ logger: new DefaultLogger('ERROR') });
      } catch {
        // installed already
      }
      const workerConnection = await NativeConnection.connect({ address: front.grpcAddress });
      const execCli = promisify(execFile);
      try {
        const report = await rollingDeploy({
          connection: workerConnection,
          client,
          namespace: 'default',
          bundleA: await writeWorkflowBundle(dir, 'workflows.js'),
          dir,
          temporalCli: async (args) => (await execCli(cli, [...args, '--address', front.grpcAddress, '--namespace', 'default'])).stdout,
          // The run page's button, through nginx to either replica.
          retry: async (workflowId) => {
            const res = await fetch(`${webBase}/runs/${workflowId}`, {
              method: 'POST',
              body: new URLSearchParams({ intent: 'retry-failed-step' }),
              redirect: 'manual',
            });
            if (res.status !== 302) throw new Error(`retry of ${workflowId} through nginx answered ${res.status}: ${await res.text()}`);
          },
          drainedWithinMs: 60_000,
          logger: pino({ level: 'silent' }),
          log,
        });
        figures.rollingDeploy = { deployment: report.deploymentName, cli: report.cli, timingsMs: report.timingsMs };
        const problems = rollingDeployProblems(report, { drained: true });
        if (problems.length) throw new Error(`rolling deploy: ${problems.join('; ')}`);
        log(
          `rolling deploy: 4 failed runs, 2 in flight and 2 retried on A, 2 new runs on B, no workflow task failed; ` +
            `plain resets: after a failed step on A, from the first task on B; A drained ${report.cli.drainedAfterMs} ms after its last run`,
        );
      } finally {
        await workerConnection.close();
      }
    });

    const metrics = await fetch(`${webBase}/metrics`);
    if (metrics.status !== 404) throw new Error(`/metrics through nginx answered ${metrics.status}, not 404`);

    if (unexpected.length) throw new Error(unexpected.join('; '));
    const pids: Record<string, number | undefined> = { nginx: front.process.pid };
    for (const p of cluster.processes) pids[p.name] = p.process.exitCode === null && !p.process.signalCode ? p.process.pid : undefined;
    for (const p of parts) pids[p.name] = p.child?.pid;
    log(`web requests per replica: ${JSON.stringify(perUpstream(front.accessLog))}`);
    log(`gRPC calls per frontend: ${JSON.stringify(perUpstream(join(dir, 'proxy', 'grpc-access.log')))}`);
    log(`figures: ${JSON.stringify(figures)}`);
    log(`RSS MB: ${JSON.stringify(memory(pids))}`);
    log(`timings ms: ${JSON.stringify(timings)}`);
    log('PASS');
    passed = true;
  } finally {
    await connection?.close();
    await Promise.all(parts.map((p) => p.stop()));
    await proxy?.stop();
    await cluster?.stop();
    await pg?.stop();
    // Keep the configs and logs of a failed run (and of any with CLUSTER_KEEP=1).
    if (passed && !process.env.CLUSTER_KEEP) rmSync(dir, { recursive: true, force: true });
    else log(`configs and logs kept in ${dir}`);
  }
}

main().catch((err: Error) => {
  log(`FAIL: ${err.message}`);
  process.exit(1);
});
