/**
 * `npm run bench`: latency, Temporal load per viewer, throughput and connections, each beside a
 * baseline measured in the same run. Starts everything it needs (see stack.ts), prints progress
 * lines and a table, writes bench/results/<timestamp>.json and latest.json. Sized to finish in
 * well under 10 minutes on a 2-core machine, plus ~3 for figure 8 on the production topology
 * (BENCH_CLUSTER=0 or `--no-cluster` leaves it out), plus ~1 for figure 9, verification in the
 * sandbox (BENCH_VERIFY=0 or `--no-verify` leaves it out); BENCH_QUICK=1 runs a smaller version of
 * each figure. What each figure means: bench/README.md.
 */
import { join } from 'node:path';
import { ROOT } from '../devstack/processes';
import { percentile, round, summarize } from '../devstack/stats';
import { measureConnections } from './figures/connections';
import { measureFirstEvent } from './figures/first-event';
import { measureFairShare } from './fair-share';
import { measureApproval, measureWaiting } from './figures/review';
import { measureStoryLag } from './figures/story-lag';
import { measureTopology, type TopologyResult } from './figures/topology';
import { measureVerification, verificationDetails, verificationFigures } from './figures/verification';
import { measureIdle, measureLoad, type LoadResult } from './figures/temporal-load';
import { combineBatches, runBatch, throughputSize, type BatchResult } from './figures/throughput';
import { explainMisses } from './findings';
import { startClusterBenchStack, type ClusterBenchStack } from './cluster-stack';
import { cpuShare, readCpu } from './machine-load';
import { byNumber, figure, machine, table, writeResults, type Figure, type Results } from './report';
import { BARE_WORKFLOW_NAME, startBenchStack, type BenchStack } from './stack';
import { ViewerProcess } from './viewer-process';

const QUICK = process.env.BENCH_QUICK === '1';
/** Figure 8 on the production topology: on unless BENCH_CLUSTER=0 or `--no-cluster`. */
const CLUSTER = process.env.BENCH_CLUSTER !== '0' && !process.argv.includes('--no-cluster');
/** Figure 9, verification in the sandbox: on unless BENCH_VERIFY=0 or `--no-verify` (and off where there is no sandbox). */
const VERIFY = process.env.BENCH_VERIFY !== '0' && !process.argv.includes('--no-verify');

/** Every size in one place; the defaults fit the 10-minute budget on 2 cores. */
export const SIZES = {
  /** Per-chunk delay of the offline model behind the web app's queue (the app's default). */
  webDelayMs: 40,
  firstEventSamples: QUICK ? 5 : 20,
  lagRuns: QUICK ? 4 : 12,
  lagStaggerMs: 400,
  idleWindowMs: QUICK ? 10_000 : 30_000,
  /** Runs for the load windows stream a chunk every this many ms (one progress signal each). */
  loadDelayMs: 700,
  loadWindowMs: QUICK ? 4_000 : 6_000,
  loadManyViewers: QUICK ? 20 : 100,
  loadManyRuns: QUICK ? 20 : 100,
  throughputTasks: QUICK ? 20 : 100,
  connectionsRuns: QUICK ? 20 : 100,
  connectionsViewersPerRun: 10,
  /** Long enough that the runs outlive the phase; they are terminated at its end. */
  connectionsDelayMs: 1_500,
  connectionsWindowMs: QUICK ? 8_000 : 20_000,
  /** Stop opening streams after this long (a busy machine may not open them all). */
  connectionsOpenWithinMs: 60_000,
  /** Figure 6: approvals measured (each way), runs waiting at once, and the window their cost is read over. */
  approvalSamples: QUICK ? 5 : 15,
  waitingRuns: QUICK ? 20 : 100,
  waitingWindowMs: QUICK ? 15_000 : 60_000,
  /** Figure 7: runs in each round of the fair-share comparison. */
  fairShareRuns: QUICK ? 16 : 40,
  /** Figure 8, the same on the dev server and on the cluster: runs watched by this many viewers each, and a batch size. */
  topology: {
    runs: QUICK ? 4 : 8,
    viewersPerRun: 4,
    staggerMs: 400,
    tasks: QUICK ? 20 : 40,
    batchDeadlineMs: 90_000,
  },
  /** Figure 9: code steps verified per language, one at a time, each way; then python `concurrency` at a time. */
  verification: { samples: QUICK ? 6 : 20, concurrency: 4, concurrentSamples: QUICK ? 8 : 12 },
  /** The whole run, setup and teardown included, must fit in this. */
  budgetS: Number(process.env.BENCH_BUDGET_S ?? (QUICK ? 300 : 570)),
};

export async function runBench(): Promise<void> {
  const startedAt = new Date();
  // Leaves time to stop everything and write the results.
  const budgetEnd = startedAt.getTime() + SIZES.budgetS * 1000 - 25_000;
  const elapsed = () => `${Math.round((Date.now() - startedAt.getTime()) / 1000)}s`.padStart(5);
  const log = (line: string) => process.stdout.write(`[bench ${elapsed()}] ${line}\n`);
  const figures: Figure[] = [];
  const details: Record<string, unknown> = { sizes: SIZES };
  const phases: Record<string, unknown> = {};

  let stack: BenchStack | undefined;
  let viewers: ViewerProcess | undefined;
  const shutdown = async () => {
    await viewers?.stop().catch(() => undefined);
    await stack?.close();
  };
  process.once('SIGINT', () => void shutdown().then(() => process.exit(130)));
  process.once('SIGTERM', () => void shutdown().then(() => process.exit(143)));

  const readParts = () =>
    stack ? readCpu({ web: stack.pids.web, temporal: stack.pids.temporal, viewers: viewers?.pid }, { bench: process.pid }) : null;

  /** Runs one phase, logging it and recording the CPU the bench process itself used. */
  const phase = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    log(`${name}...`);
    const cpu = process.cpuUsage();
    const machineBefore = readParts();
    const began = performance.now();
    const webBefore = await stack!.web.snapshot();
    const result = await fn();
    const ms = performance.now() - began;
    const used = process.cpuUsage(cpu);
    const webAfter = await stack!.web.snapshot();
    phases[name] = {
      seconds: round(ms / 1000, 1),
      benchProcessCpuCores: round((used.user + used.system) / 1000 / ms, 2),
      webCpuCores: round((webAfter.cpuSeconds - webBefore.cpuSeconds) / (ms / 1000), 2),
      cpuCores: cpuShare(machineBefore, readParts()),
    };
    log(`${name}: done in ${(ms / 1000).toFixed(1)} s`);
    return result;
  };

  try {
    stack = await startBenchStack(log, { webDelayMs: SIZES.webDelayMs });
    viewers = ViewerProcess.start();
    log(`ready: Temporal ${stack.address}, web ${stack.base}`);
    const s = stack;
    const v = viewers;

    // 1. Submit → first event.
    const first = await phase('1/5 submit → first event', () => measureFirstEvent(s, SIZES.firstEventSamples, log));
    details.firstEvent = {
      sse: summarize(first.sseMs),
      directPolling: summarize(first.pollMs),
      formPost: summarize(first.postMs),
      streamHeaders: summarize(first.headersMs),
      firstWorkflowTaskCompleted: summarize(first.firstTaskMs),
      firstTaskToFirstFrame: summarize(first.sseMs.map((ms, i) => ms - first.firstTaskMs[i])),
      directPollingAttempts: summarize(first.pollAttempts),
      directPollingQuery: summarize(first.pollQueryMs),
      failures: first.failures,
      samplesMs: {
        sse: first.sseMs,
        directPolling: first.pollMs,
        formPost: first.postMs,
        streamHeaders: first.headersMs,
        firstWorkflowTask: first.firstTaskMs,
      },
    };
    const polled = { what: 'direct query polling' };
    figures.push(
      figure('firstEvent.p50', '1. submit → first event, p50', 'ms', percentile(first.sseMs, 50), {
        value: percentile(first.pollMs, 50),
        ...polled,
      }),
      figure(
        'firstEvent.p95',
        '1. submit → first event, p95',
        'ms',
        percentile(first.sseMs, 95),
        { value: percentile(first.pollMs, 95), ...polled },
        {
          op: '<=',
          limit: 250,
          text: 'p95 ≤ 250 ms',
        },
      ),
    );

    // 2. Story-event lag (and figure 3's queries per story event, from the same runs).
    const lag = await phase('2/5 story-event lag', () => measureStoryLag(s, SIZES.lagRuns, SIZES.lagStaggerMs));
    details.storyLag = {
      runs: lag.runs,
      events: lag.events,
      incompleteStreams: lag.incomplete,
      sse: { other: summarize(lag.sse.other), output: summarize(lag.sse.output) },
      naive1s: { other: summarize(lag.naive.other), output: summarize(lag.naive.output) },
      webRpcs: lag.webRpcs,
      naiveRpcs: lag.naiveRpcs,
      rpcsPerEvent: round(lag.rpcsPerEvent, 2),
      breakdown: {
        workerTaskStartedToCompleted: summarize(lag.breakdown.worker),
        sseCompletedToArrival: summarize(lag.breakdown.sseDelivery),
        naiveCompletedToArrival: summarize(lag.breakdown.naiveDelivery),
        unmatched: lag.breakdown.unmatched,
        triggerToTaskStarted: summarize(lag.breakdown.triggerToStart),
        sseFromTrigger: summarize(lag.breakdown.sseFromTrigger),
      },
      naiveQueryMsOnBusyRuns: summarize(lag.busyQueryMs),
    };
    const naive1s = (values: number[], p: number) => ({ value: percentile(values, p), what: 'naive 1 s poller' });
    figures.push(
      figure('lag.other.p50', '2. lag, non-output events, p50', 'ms', percentile(lag.sse.other, 50), naive1s(lag.naive.other, 50)),
      figure('lag.other.p95', '2. lag, non-output events, p95', 'ms', percentile(lag.sse.other, 95), naive1s(lag.naive.other, 95), {
        op: '<=',
        limit: 150,
        text: 'p95 ≤ 150 ms',
      }),
      figure('lag.output.p50', '2. lag, output chunks, p50', 'ms', percentile(lag.sse.output, 50), naive1s(lag.naive.output, 50)),
      figure('lag.output.p95', '2. lag, output chunks, p95', 'ms', percentile(lag.sse.output, 95), naive1s(lag.naive.output, 95), {
        op: '<=',
        limit: 400,
        text: 'p95 ≤ 400 ms',
      }),
      figure(
        'load.queriesPerEvent',
        '3. queries per story event',
        'q/event',
        lag.queriesPerEvent,
        { value: lag.naiveQueriesPerEvent, what: 'naive 1 s poller, 1 viewer' },
        {
          op: '<=',
          limit: 1.1,
          text: 'about 1 (≤ 1.1)',
        },
      ),
    );

    // 3. Temporal load.
    const idle = await phase('3/5 Temporal load: idle watched run', () => measureIdle(s, SIZES.idleWindowMs));
    details.idle = { ...idle, idleQueryMs: summarize(idle.idleQueryMs) };
    figures.push(
      figure('load.idlePerMinute', '3. RPCs per idle watched run per minute', 'RPC/min', idle.rpcsPerMinute, {
        value: idle.naiveRpcsPerMinute,
        what: 'naive 1 s poller',
      }),
    );
    const loads: LoadResult[] = await phase('3/5 Temporal load: viewers', async () => {
      const paced = await s.startStoryWorker('paced', SIZES.loadDelayMs);
      const out: LoadResult[] = [];
      try {
        const scenarios = [
          { name: '1 viewer of 1 run', runs: 1, viewersPerRun: 1 },
          { name: '10 viewers of 1 run', runs: 1, viewersPerRun: 10 },
          { name: `${SIZES.loadManyViewers} viewers of 1 run`, runs: 1, viewersPerRun: SIZES.loadManyViewers },
          { name: `${SIZES.loadManyRuns} viewers of ${SIZES.loadManyRuns} runs`, runs: SIZES.loadManyRuns, viewersPerRun: 1 },
        ];
        for (const scenario of scenarios) {
          log(`  ${scenario.name}`);
          out.push(await measureLoad(s, v, paced.taskQueue, scenario, SIZES.loadWindowMs, readParts));
        }
      } finally {
        await paced.stop();
      }
      return out;
    });
    details.load = loads.map((l) => ({
      ...l,
      rpcsPerSecond: round(l.rpcsPerSecond, 2),
      naiveRpcsPerSecond: round(l.naiveRpcsPerSecond, 2),
    }));
    for (const l of loads) {
      figures.push(
        figure(`load.rps.${l.scenario.runs}x${l.scenario.viewersPerRun}`, `3. RPC/s, ${l.scenario.name}`, 'RPC/s', l.rpcsPerSecond, {
          value: l.naiveRpcsPerSecond,
          what: `${l.scenario.runs * l.scenario.viewersPerRun} naive poller${l.scenario.runs * l.scenario.viewersPerRun === 1 ? '' : 's'}`,
        }),
      );
    }
    const one = loads[0];
    const many = loads[2];
    figures.push(
      figure(
        'load.manyViewersOverOne',
        `3. RPC/s, ${many.scenario.viewersPerRun} viewers ÷ 1 viewer (1 run)`,
        '×',
        many.rpcsPerSecond / one.rpcsPerSecond,
        { value: many.naiveRpcsPerSecond / one.naiveRpcsPerSecond, what: 'naive pollers' },
        { op: '<=', limit: 1.1, text: '≤ 1.1' },
      ),
    );

    // 6. People in the loop: approval → first step, and what a waiting run costs.
    const approval = await phase('6 review: approval → first step', () => measureApproval(s, SIZES.approvalSamples, log));
    details.approval = {
      sse: summarize(approval.sseMs),
      direct: summarize(approval.directMs),
      post: summarize(approval.postMs),
      delivery: summarize(approval.deliveryMs),
      failures: approval.failures,
      samplesMs: { sse: approval.sseMs, direct: approval.directMs, post: approval.postMs },
    };
    const directUpdate = (p: number) => ({ value: percentile(approval.directMs, p), what: 'update sent directly, story query polled' });
    figures.push(
      figure(
        'review.approval.p50',
        '6. approval → first step.started at an SSE client, p50',
        'ms',
        percentile(approval.sseMs, 50),
        directUpdate(50),
      ),
      figure(
        'review.approval.p95',
        '6. approval → first step.started at an SSE client, p95',
        'ms',
        percentile(approval.sseMs, 95),
        directUpdate(95),
        { op: '<=', limit: 250, text: 'p95 ≤ 250 ms' },
      ),
    );
    const waiting = await phase('6 review: runs waiting', () =>
      measureWaiting(s, { runs: SIZES.waitingRuns, windowMs: SIZES.waitingWindowMs, cpu: readParts, progress: log }),
    );
    details.waiting = waiting;
    const noneWaiting = (value: number) => ({ value, what: 'no run waiting' });
    figures.push(
      figure(
        'review.waiting.eventsPerHour',
        '6. history events per waiting run per hour (extrapolated)',
        'events/h',
        waiting.eventsPerRunPerHour,
        {
          value: waiting.eventsToWait,
          what: 'events written to reach the wait, once',
        },
      ),
      figure(
        'review.waiting.workerCpu',
        `6. worker CPU, ${waiting.runs} runs waiting`,
        'cores',
        waiting.waiting.workerCores,
        noneWaiting(waiting.none.workerCores),
      ),
      figure(
        'review.waiting.workerRss',
        `6. worker RSS, ${waiting.runs} runs waiting`,
        'MB',
        waiting.waiting.workerRssMB,
        noneWaiting(waiting.none.workerRssMB),
      ),
      figure(
        'review.waiting.workerHeap',
        `6. worker heap after GC, ${waiting.runs} runs waiting`,
        'MB',
        waiting.waiting.workerHeapMB,
        noneWaiting(waiting.none.workerHeapMB),
      ),
    );

    // 8. The dev-server side of the topology comparison (the cluster's comes after this stack stops).
    if (CLUSTER) {
      details.topologyDevServer = await phase('8 topology: dev server', () =>
        measureTopology({ ...s, webs: [s.web], webQueue: s.webQueue }, v, SIZES.topology, readParts, log),
      );
    }

    // 5. Connections (before throughput, which takes the rest of the budget).
    /** Figure 5's streams over runs on a worker whose model writes a chunk every `delayMs`. */
    const connectionsOver = async (name: string, delayMs: number, profileFile?: string) => {
      const worker = await s.startStoryWorker(name, delayMs);
      try {
        return await measureConnections(s, v, {
          taskQueue: worker.taskQueue,
          runs: SIZES.connectionsRuns,
          viewersPerRun: SIZES.connectionsViewersPerRun,
          windowMs: SIZES.connectionsWindowMs,
          openWithinMs: SIZES.connectionsOpenWithinMs,
          progress: log,
          cpu: readParts,
          profileFile,
        });
      } finally {
        await worker.stop();
      }
    };
    const profileFile =
      process.env.BENCH_PROFILE === '1'
        ? join(ROOT, 'bench', 'results', `${startedAt.toISOString().replace(/[:.]/g, '-')}-web.cpuprofile`)
        : undefined;
    const conns = await phase('4/5 connections', () => connectionsOver('conns', SIZES.connectionsDelayMs, profileFile));
    details.connections = conns;
    figures.push(
      figure(
        'connections.heapPerConnection',
        `5. heap per connection, ${conns.connections} streams`,
        'KB',
        conns.heapPerConnectionBytes / 1024,
        null,
        {
          op: '<=',
          limit: 200,
          text: '≤ 200 KB',
        },
      ),
      figure(
        'connections.lag.p95',
        `5. lag p95 at ${conns.connections} streams`,
        'ms',
        conns.lag.all.p95,
        {
          value: conns.lagOnePerRun.all.p95,
          what: `same runs, 1 viewer each (${SIZES.connectionsRuns} streams)`,
        },
        { op: '<=', limit: 250, text: 'p95 ≤ 250 ms' },
      ),
    );
    // 5b. The same streams over runs at half the pace: what the lag is when the runs leave the
    // cores some room (diagnostic beside figure 5; no target of its own).
    const halfPace = await phase('4/5 connections, runs at half pace', () => connectionsOver('conns-half', SIZES.connectionsDelayMs * 2));
    details.connectionsHalfPace = halfPace;
    figures.push(
      figure(
        'connections.lag.p95.halfPace',
        `5. lag p95 at ${halfPace.connections} streams, runs at half pace`,
        'ms',
        halfPace.lag.all.p95,
        {
          value: halfPace.lagOnePerRun.all.p95,
          what: `same runs, 1 viewer each (${SIZES.connectionsRuns} streams)`,
        },
      ),
    );
    // 4. Throughput, last: it takes what is left of the time budget (see throughputSize).
    const batches = await phase('5/5 throughput', async () => {
      const { tasks: n, calibration } = await throughputSize(s, { target: SIZES.throughputTasks, budgetEnd, cpu: readParts, log });
      // Alternating order (plain, watched, plain; story, bare, bare, story) so that a machine whose
      // other load drifts during the phase weighs on both sides alike. Each batch's deadline is its
      // share of the time left.
      const plan: Array<{ kind: 'plain' | 'watched' | 'story' | 'bare'; share: number }> = [
        { kind: 'plain', share: 1 },
        { kind: 'watched', share: 2.5 },
        { kind: 'plain', share: 1 },
        { kind: 'story', share: 0.75 },
        { kind: 'bare', share: 0.75 },
        { kind: 'bare', share: 0.75 },
        { kind: 'story', share: 0.75 },
      ];
      const zero = await s.startStoryWorker('zero', 0);
      const bareWorker = await s.startBareWorker('bare', 0);
      const results: Record<string, BatchResult[]> = { plain: [], watched: [], story: [], bare: [] };
      try {
        for (let i = 0; i < plan.length; i++) {
          const { kind, share } = plan[i];
          const left = plan.slice(i).reduce((sum, p) => sum + p.share, 0);
          const deadline = Date.now() + Math.max(20_000, ((budgetEnd - Date.now()) * share) / left);
          const what = {
            plain: `model ${SIZES.webDelayMs} ms/chunk, no viewers`,
            watched: `model ${SIZES.webDelayMs} ms/chunk, 1 viewer per run`,
            story: 'zero model delay, taskWorkflow (story)',
            bare: 'zero model delay, bare workflow (no story)',
          }[kind];
          log(`  ${n} tasks, ${what}`);
          const queue = kind === 'story' ? zero.taskQueue : kind === 'bare' ? bareWorker.taskQueue : s.webQueue;
          results[kind].push(
            await runBatch(s, {
              taskQueue: queue,
              workflow: kind === 'bare' ? BARE_WORKFLOW_NAME : undefined,
              tasks: n,
              viewers: kind === 'watched' ? v : undefined,
              cpu: readParts,
              deadline,
            }),
          );
        }
      } finally {
        await zero.stop();
        await bareWorker.stop();
      }
      const [plain, watched, story, bare] = (['plain', 'watched', 'story', 'bare'] as const).map((k) => combineBatches(results[k]));
      return { tasks: n, calibration, plain, watched, story, bare, batches: results };
    });
    details.throughput = batches;
    const cut = (b: { truncated: boolean }) => (b.truncated ? ' (cut at its deadline)' : '');
    figures.push(
      figure(
        'throughput.withViewers',
        `4. tasks/min, ${batches.tasks} tasks, 1 viewer each${cut(batches.watched)}`,
        'tasks/min',
        batches.watched.tasksPerMinute,
        {
          value: batches.plain.tasksPerMinute,
          what: `no viewers${cut(batches.plain)}`,
        },
        { op: '>=', limit: 0.85, text: '≥ 85 % of no viewers', on: 'ratio' },
      ),
      figure(
        'throughput.story',
        `4. tasks/min, zero model delay, with story${cut(batches.story)}`,
        'tasks/min',
        batches.story.tasksPerMinute,
        {
          value: batches.bare.tasksPerMinute,
          what: `bare workflow${cut(batches.bare)}`,
        },
      ),
    );
  } finally {
    log('stopping...');
    await shutdown();
  }

  // 8. The production topology, once the dev-server stack has stopped: the same measurement.
  const devTopology = details.topologyDevServer as TopologyResult | undefined;
  if (CLUSTER && devTopology) {
    log('8 topology: the cluster (PostgreSQL, Temporal as five processes, nginx, two web replicas)...');
    let cluster: ClusterBenchStack | undefined;
    let clusterViewers: ViewerProcess | undefined;
    const began = performance.now();
    try {
      cluster = await startClusterBenchStack(log, { webDelayMs: SIZES.webDelayMs });
      clusterViewers = ViewerProcess.start();
      const c = cluster;
      const cv = clusterViewers;
      const readCluster = () => readCpu({ ...c.pids, viewers: cv.pid }, { bench: process.pid });
      const startedIn = performance.now() - began;
      log(`  cluster up in ${(startedIn / 1000).toFixed(1)} s; web ${c.base} -> 2 replicas`);
      const measured = performance.now();
      const result = await measureTopology(c, cv, SIZES.topology, readCluster, log);
      details.topologyCluster = result;
      phases['8 topology: cluster'] = {
        seconds: round((performance.now() - measured) / 1000, 1),
        startSeconds: round(startedIn / 1000, 1),
        cpuCores: result.lagCpu,
      };
      figures.push(...topologyFigures(devTopology, result));
      log(
        `8 topology: cluster lag p95 ${result.lag.all.p95} ms (dev server ${devTopology.lag.all.p95}); ` +
          `streams per replica ${result.streamsPerReplica.join('/')}, watchers ${result.watchersPerReplica.join('/')}; ` +
          `${result.workflowTaskFailures} workflow tasks failed or timed out; other load: ${result.lagCpu?.others ?? '?'} cores (dev-server phase ${devTopology.lagCpu?.others ?? '?'})`,
      );
    } catch (err) {
      details.topologyCluster = { error: (err as Error).message };
      log(`8 topology: the cluster phase failed: ${(err as Error).message}`);
    } finally {
      await clusterViewers?.stop().catch(() => undefined);
      await cluster?.close();
    }
  }

  // 7. Fair share, on a dev server of its own once the rest has stopped: the same runs without a
  // queue and with one (perUser 2, total 4), and the handover from a freed slot to the next run.
  log('7 fair share (a dev server of its own)...');
  const fair = await measureFairShare(SIZES.fairShareRuns, 300);
  details.fairShare = fair;
  figures.push(
    figure('fairShare.handover.p50', '7. free slot → next run starts, p50', 'ms', percentile(fair.gapsMs, 50), null),
    figure('fairShare.handover.p95', '7. free slot → next run starts, p95', 'ms', percentile(fair.gapsMs, 95), null),
    figure('fairShare.tasksPerMinute', '7. tasks/min with fair share (4 slots)', 'tasks/min', fair.onPerMinute, {
      value: fair.offPerMinute,
      what: 'no queue, all at once',
    }),
  );

  // 9. Verification overhead, in this process once everything else has stopped: no stack needed.
  if (VERIFY) {
    log('9 verification overhead (verifyCode in the sandbox against the same tests run directly)...');
    const verification = await measureVerification(SIZES.verification, log);
    if (verification) {
      details.verification = verificationDetails(verification);
      figures.push(...verificationFigures(verification));
      log(
        `9 verification: ${verification.failures.length} failures; cores ${JSON.stringify(verification.cpu)}, load average ${verification.loadavg.before} → ${verification.loadavg.after}`,
      );
    } else details.verification = { skipped: 'no sandbox here' };
  }

  details.phases = phases;
  const host = machine();
  const results: Results = {
    startedAt: startedAt.toISOString(),
    durationS: Math.round((Date.now() - startedAt.getTime()) / 1000),
    machine: host,
    config: { task: 'offline model, "Create a hello world python function" (3 steps, 35 chunks)', ...SIZES },
    figures: byNumber(figures),
    notes: explainMisses(figures, { ...details, machine: host }),
    details,
  };
  const path = writeResults(join(ROOT, 'bench', 'results'), results);
  process.stdout.write(`\n${table(figures)}\n\n`);
  for (const note of results.notes) process.stdout.write(`- ${note}\n`);
  process.stdout.write(`\nresults: ${path} (and bench/results/latest.json), ${results.durationS} s\n`);
}

/** Figure 8: the cluster's figures, each against the dev server's in the same run. */
function topologyFigures(dev: TopologyResult, cluster: TopologyResult): Figure[] {
  const onDev = (value: number) => ({ value, what: 'dev server, same measurement' });
  const viewers = `${cluster.viewersPerRun} viewers per run`;
  return [
    figure(
      'cluster.lag.p50',
      `8. cluster: story-event lag p50, ${viewers} over 2 replicas`,
      'ms',
      cluster.lag.all.p50,
      onDev(dev.lag.all.p50),
    ),
    figure(
      'cluster.lag.p95',
      `8. cluster: story-event lag p95, ${viewers} over 2 replicas`,
      'ms',
      cluster.lag.all.p95,
      onDev(dev.lag.all.p95),
    ),
    figure(
      'cluster.callsPerWorkflowTask',
      `8. cluster: web calls to Temporal per workflow task, ${viewers}`,
      'calls',
      cluster.rpcsPerWorkflowTask,
      onDev(dev.rpcsPerWorkflowTask),
    ),
    figure(
      'cluster.tasksPerMinute',
      `8. cluster: tasks/min, ${cluster.plain.tasks} tasks, no viewers`,
      'tasks/min',
      cluster.plain.tasksPerMinute,
      onDev(dev.plain.tasksPerMinute),
    ),
    figure(
      'cluster.tasksPerMinute.watched',
      `8. cluster: tasks/min, ${cluster.watched.tasks} tasks, 1 viewer each`,
      'tasks/min',
      cluster.watched.tasksPerMinute,
      onDev(dev.watched.tasksPerMinute),
    ),
  ];
}
