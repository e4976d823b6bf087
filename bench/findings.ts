import type { Summary } from '../devstack/stats';
/**
 * The `notes` of a result: for each missed target, what this same run measured around it (where
 * the time went, what was counted), plus what the machine was doing. Written from the details, so
 * the notes of every run describe that run.
 */
import type { Figure } from './report';

// The details are this run's own JSON, read back loosely: a note that finds a field missing says n/a.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Details = Record<string, any>;

const ms = (s: Summary | undefined) => (s && s.n ? `p50 ${Math.round(s.p50)} / p95 ${Math.round(s.p95)} ms` : 'n/a');
const n = (value: number | undefined, digits = 1) => (value === undefined || !Number.isFinite(value) ? 'n/a' : value.toFixed(digits));

function perCall(rpcs: Record<string, number> | undefined): string {
  const queries = rpcs?.QueryWorkflow ?? 0;
  if (!queries) return 'no queries';
  const each = (method: string) => n((rpcs?.[method] ?? 0) / queries);
  return `per query: ${each('DescribeWorkflowExecution')} describes and ${each('GetWorkflowExecutionHistory')} history polls`;
}

export function explainMisses(figures: readonly Figure[], details: Details): string[] {
  const notes: string[] = [];
  const missed = (key: string) => figures.find((f) => f.key === key && f.target && !f.target.met);

  // The machine first: every timing below depends on it.
  const phases = Object.entries((details.phases ?? {}) as Record<string, { seconds: number; cpuCores?: Record<string, number> }>);
  const others = phases.map(([, p]) => p.cpuCores?.others ?? 0);
  const busiest = Math.max(0, ...others);
  if (busiest >= 0.3) {
    notes.push(
      `Shared machine: processes outside the benchmark used up to ${n(busiest, 2)} of the ${details.machine?.nproc ?? 2} cores during a phase ` +
        `(${phases.map(([name, p]) => `${name.split(' ')[0]} ${n(p.cpuCores?.others, 2)}`).join(', ')}; details.phases). ` +
        'Every timing figure of this run is inflated by that contention; RPC counts and heap are not.',
    );
  }

  const first = details.firstEvent;
  if (missed('firstEvent.p95') && first) {
    notes.push(
      `1. submit → first event: form POST ${ms(first.formPost)}, stream headers (the route's describe) ${ms(first.streamHeaders)}, ` +
        `first workflow task completed ${ms(first.firstWorkflowTaskCompleted)} after submit, first frame ${ms(first.firstTaskToFirstFrame)} after that. ` +
        `A query sent right after the start took ${ms(first.directPollingQuery)} (direct-polling baseline) against ${ms(details.idle?.idleQueryMs)} on a ` +
        "running run: the server holds a query until the run's first workflow task has completed (the watcher waits for that task in the history instead).",
    );
  }

  const lag = details.storyLag;
  if ((missed('lag.other.p95') || missed('lag.output.p95')) && lag) {
    const b = lag.breakdown ?? {};
    notes.push(
      `2. story-event lag split at the completion of the workflow task that recorded the event: worker (task started → completed) ` +
        `${ms(b.workerTaskStartedToCompleted)}; delivery to the SSE client (completed → arrival) ${ms(b.sseCompletedToArrival)}; ` +
        `for the naive 1 s poller ${ms(b.naiveCompletedToArrival)}. A query on these busy runs took ${ms(lag.naiveQueryMsOnBusyRuns)} ` +
        `against ${ms(details.idle?.idleQueryMs)} on an idle run: a query that arrives while a workflow task is in flight waits for it. ` +
        `The watcher's calls: ${perCall(lag.webRpcs)}.`,
    );
  }

  if (lag?.breakdown?.sseFromTrigger) {
    const b = lag.breakdown;
    notes.push(
      `2. where the lag starts: the figures count from an event's \`at\`, the start of the workflow task that records it. Before that, what ` +
        `made the task (a progress signal, an activity's completion) reached the server and waited ${ms(b.triggerToTaskStarted)} for the task to start; ` +
        `counted from that arrival the SSE lag is ${ms(b.sseFromTrigger)}. (An activity also holds output up to 250 ms before it signals it: ` +
        'ProgressReporter batches chunks into at most 4 signals a second.)',
    );
  }

  const idle = details.idle;
  if (idle) {
    const polls = idle.webRpcs?.GetWorkflowExecutionHistory ?? 0;
    notes.push(
      `3. idle watched run: ${polls} history polls, ${idle.webRpcs?.QueryWorkflow ?? 0} queries and ${idle.webRpcs?.DescribeWorkflowExecution ?? 0} describes in ${idle.windowS} s ` +
        `(${n(idle.rpcsPerMinute, 0)} RPC/min): a 15 s history long poll at a time, and after each quiet one a describe (a run that publishes ` +
        'its story; a query for one that does not), which is how the watcher learns that work waits for a worker (a lost worker leaves no ' +
        'trace in the history).',
    );
  }

  const loads = details.load as Array<Details> | undefined;
  const one = loads?.[0];
  const many = loads?.[2];
  if (missed('load.manyViewersOverOne') && one && many) {
    const perUpdate = (l: Details) => {
      const rpcs = Object.values((l.webRpcs ?? {}) as Record<string, number>).reduce((a, b) => a + b, 0);
      return n(rpcs / (l.webRpcs?.QueryWorkflow || 1));
    };
    notes.push(
      `3. ${many.scenario.name} against 1: per update (per query) the watcher made ${perUpdate(many)} RPCs against ${perUpdate(one)}, ` +
        `with ${many.webRpcs?.QueryWorkflow ?? 0} against ${one.webRpcs?.QueryWorkflow ?? 0} updates in the ${many.windowS} s windows: the difference is how far ` +
        `each run got in its window (other processes took ${n(many.cpuCores?.others, 2)} and ${n(one.cpuCores?.others, 2)} cores), not the viewers, which ` +
        'share one watcher.',
    );
  }
  if (one) {
    notes.push(
      `3. load: a watched run costs about ${n(one.rpcsPerSecond)} RPC/s while it streams (${perCall(one.webRpcs)}; one run of these windows ` +
        `writes a chunk every ${details.sizes?.loadDelayMs ?? 'n/a'} ms), against 1 RPC/s for a naive 1 s poller that lags by up to a second, ` +
        `and it does not grow with its viewers: sharing costs less than polling from ${n(Math.ceil(one.rpcsPerSecond), 0)} viewers per run on.`,
    );
  }

  const tp = details.throughput;
  if (tp?.plain && tp?.watched) {
    const ours = (batch: Details) => {
      const cores = (batch?.cpuCores ?? {}) as Record<string, number>;
      return (cores.bench ?? 0) + (cores.web ?? 0) + (cores.temporal ?? 0) + (cores.viewers ?? 0);
    };
    const perTask = (batch: Details) => (ours(batch) * batch.seconds) / batch.tasks;
    const split = (batch: Details) => {
      const cores = (batch?.cpuCores ?? {}) as Record<string, number>;
      const part = (name: string) => n(((cores[name] ?? 0) * batch.seconds) / batch.tasks, 2);
      return `worker ${part('bench')}, Temporal ${part('temporal')}, web ${part('web')}; other processes meanwhile ${n(cores.others, 2)} cores`;
    };
    notes.push(
      `4. CPU per task (the benchmark's processes only, so other load on the machine hardly changes it): no viewers ${n(perTask(tp.plain), 2)} CPU-s ` +
        `(${split(tp.plain)}); one viewer per run ${n(perTask(tp.watched), 2)} CPU-s (${split(tp.watched)}), with ` +
        `${n((tp.watched.webRpcs?.QueryWorkflow ?? 0) / tp.watched.tasks)} queries and ` +
        `${n(Object.values((tp.watched.webRpcs ?? {}) as Record<string, number>).reduce((a, b) => a + b, 0) / tp.watched.tasks)} web RPCs per task ` +
        '(every query is also a task for the worker). ' +
        (tp.story && tp.bare
          ? `Zero model delay: with the story ${n(perTask(tp.story), 2)} CPU-s/task, bare ${n(perTask(tp.bare), 2)} CPU-s/task. `
          : '') +
        (missed('throughput.withViewers')
          ? 'Tasks/min missed its target in this run; compare the CPU per task before blaming the viewers.'
          : ''),
    );
  }

  const conns = details.connections;
  if (conns && (missed('connections.lag.p95') || missed('connections.heapPerConnection'))) {
    const cores = (share: Record<string, number> | null | undefined) =>
      Object.entries(share ?? {})
        .map(([k, v]) => `${k} ${n(v, 2)}`)
        .join(', ');
    const nproc = details.machine?.nproc ?? 2;
    const saturated = (conns.cpuCores?.machine ?? 0) >= 0.9 * nproc;
    notes.push(
      `5. at ${conns.connections} streams (${conns.requested} asked for, opened in ${n(conns.openSeconds)} s): lag ${ms(conns.lag?.all)} (output ${ms(conns.lag?.output)}), ${n(conns.eventsSentPerSecond, 0)} story frames/s written; ` +
        `for ${conns.breakdown?.runs} of the runs, worker (task started → completed) ${ms(conns.breakdown?.worker)} and delivery (completed → arrival) ${ms(conns.breakdown?.delivery)}; ` +
        `cores in the window: ${cores(conns.cpuCores)}; with one viewer per run (${conns.runs} streams) lag ${ms(conns.lagOnePerRun?.all)}, cores ${cores(conns.lagOnePerRun?.cpuCores)}; ` +
        `viewer process loop delay p99 ${n(conns.viewerProcess?.loopDelayP99Ms, 0)} ms. ` +
        (saturated
          ? `The ${nproc} cores were saturated: the ${conns.runs} runs' own workflow tasks (worker and Temporal server, on the same cores) wait for CPU, ` +
            'so the worker part of the lag grows with the delivery part; compare the lag with one viewer per run to see what the extra streams cost. '
          : '') +
        (details.connectionsHalfPace
          ? `The same ${details.connectionsHalfPace.connections} streams over runs at half the pace: lag ${ms(details.connectionsHalfPace.lag?.all)}, cores ${cores(details.connectionsHalfPace.cpuCores)}. `
          : '') +
        (conns.webProfile
          ? `Web CPU profile (${conns.webProfile.file}), most self time: ${conns.webProfile.top
              .slice(0, 6)
              .map((t: Details) => `${t.where} ${t.share} %`)
              .join('; ')}. `
          : '') +
        `Heap: ${n(conns.heapPerConnectionBytes / 1024)} KB per stream including the ${conns.runs} watchers, ${n(conns.marginalHeapPerConnectionBytes / 1024)} KB per extra viewer of a watched run (${conns.gcMethod}).`,
    );
  }

  // Figure 6 always gets its note: the per-run costs are read from it, not from the table.
  const approval = details.approval;
  if (approval) {
    notes.push(
      `6. approval → first step.started: ${ms(approval.sse)} at the SSE client, of which the review action's POST → redirect ` +
        `(the update's round trip: the workflow task that applies it also records step.started) ${ms(approval.post)}, and ` +
        `step.started's at → arrival ${ms(approval.delivery)}; directly (update, then the story query every 20 ms) ${ms(approval.direct)}.` +
        (approval.failures?.length ? ` Failures: ${approval.failures.join('; ')}.` : ''),
    );
  }
  const waiting = details.waiting;
  if (waiting) {
    const per = (a: number, b: number, scale: number) => n(((a - b) * scale) / waiting.runs, 2);
    const cores = (share: Record<string, number> | null | undefined) =>
      Object.entries(share ?? {})
        .map(([k, v]) => `${k} ${n(v, 2)}`)
        .join(', ');
    notes.push(
      `6. ${waiting.waitingAtStart} of ${waiting.runs} runs waiting for review (counted by BuildstoryState), over ${waiting.windowMs / 1000} s: ` +
        `${waiting.eventsInWindow} history events written in all (${n(waiting.eventsPerRunPerHour, 2)} per run per hour, extrapolated from the window); ` +
        `reaching the wait wrote ${n(waiting.eventsToWait)} events, ${n(waiting.bytesToWait / 1024)} KB per run, once. The wait is a timer and an open ` +
        `condition, no polling: nothing more is written until an answer or the deadline. Worker (the bench process): ` +
        `${per(waiting.waiting.workerCores * 1000, waiting.none.workerCores * 1000, 1)} CPU-ms/s per waiting run, ` +
        `RSS ${per(waiting.waiting.workerRssMB * 1024, waiting.none.workerRssMB * 1024, 1)} KB and heap ` +
        `${per(waiting.waiting.workerHeapMB * 1024, waiting.none.workerHeapMB * 1024, 1)} KB per waiting run (the runs stay in the worker's ` +
        `workflow cache; after a full GC). Cores with none waiting: ${cores(waiting.none.cores)}; with ${waiting.runs} waiting: ${cores(waiting.waiting.cores)}.`,
    );
  }
  return notes;
}
