/**
 * One watcher per run per web process. Every event stream of a run subscribes to the same
 * watcher; it starts with the first viewer and stops when the last one leaves.
 *
 * How it learns of progress without polling blindly: it long-polls the run's history
 * (GetWorkflowExecutionHistory with waitNewEvent). The workflow publishes its story there (each
 * workflow task that records events upserts them in the memo field STORY_MEMO_FIELD), so the
 * events arrive with the poll itself: no query, which the server would hold behind a busy run's
 * workflow tasks or another client's queries. A quiet history for LONG_POLL_MS gets one describe
 * (is work waiting for a worker?). A run of an older build publishes nothing: for it the watcher
 * runs the `story` query only around a workflow task (the only thing that changes the story):
 * along with a task that waits to start, which answers it as it completes, or after a completion
 * with no task in flight (see task-tracker.server.ts). A closed run's story is read from its
 * result. The naive alternative, every connection polling the query on a timer, costs a query
 * per viewer per tick and still lags by up to a tick; the benchmark measures both.
 *
 * The watcher keeps the current run's whole story (bounded by the workflow: at most
 * MAX_STORY_EVENTS), so a viewer that connects or reconnects gets what it missed from memory.
 */
import { status as Status } from '@grpc/grpc-js';
import { QueryNotRegisteredError, type Client } from '@temporalio/client';
import { progressQuery, storyQuery } from '../../../contract/messages';
import { LIMITS, type RunStatus, type StoryEvent, type StoryPage } from '../../../contract/data';
import { getConfig } from './env.server';
import { log } from './log.server';
import { TaskTracker, lastStepRunning, workerMissing, workerRecentlyActive } from './task-tracker.server';
import type { HistoryEvent } from './reset-point';
import { loadKnownRun, loadRun, publishedStoryPayload, type RunView } from './run-read.server';
import { describeOwnedRun, type Owner } from './run-owner.server';
import { isClosed, storyStatusOf, temporalStatusName } from './run-status';
import { bounded, decodePayload, getClient, isUnreachable } from './temporal-client.server';

/** A query runs on a worker: with none polling it waits until this deadline. */
const QUERY_TIMEOUT_MS = 3_000;
/**
 * How long one history long poll may wait for news before the watcher queries again. A worker
 * that dies leaves no trace in the history (the retry is scheduled without an event): this bounds
 * how late viewers hear "waiting for a worker" (this plus the query timeout; one more round of
 * WAITING_POLL_MS and a query when the worker died in the last WORKER_SIGN_MS: see refresh), at
 * two calls per period for an idle run.
 */
const LONG_POLL_MS = 15_000;
/** While no worker answers, look again this often (the run may move without history events). */
const WAITING_POLL_MS = 5_000;
const MAX_BACKOFF_MS = 5_000;
/** The shortest history long poll worth making. */
const MIN_POLL_MS = 2_000;

export type WatchState =
  | { kind: 'connecting' }
  | { kind: 'live' }
  | { kind: 'waiting-for-worker' }
  | { kind: 'unreachable'; address: string }
  | { kind: 'not-found' };

export interface WatcherView {
  readonly runId: string | null;
  readonly events: readonly StoryEvent[];
  readonly state: WatchState;
  /** Set when the run being watched is closed and every event of it is in `events`. */
  readonly ended: { runId: string; status: RunStatus } | null;
}

type Listener = (view: WatcherView) => void;

/** Counters for /metrics and the tests. */
export const watcherStats = {
  queries: 0,
  historyPolls: 0,
  describes: 0,
  /** Queries that timed out while the run showed a worker at work (held, not lost). */
  heldQueries: 0,
  /** Batches of story events read from runs' histories (the memo upserts of STORY_MEMO_FIELD). */
  storyBatches: 0,
};

const watchers = new Map<string, RunWatcher>();

export function activeWatchers(): number {
  return watchers.size;
}

/**
 * Subscribe to a run. The listener is called with the watcher's whole view whenever it changes
 * (and at once if the watcher already has something); it works out what it has not sent yet.
 * `openRunId`: the latest run, open, as the caller has just described it; a new watcher starts
 * from it without describing the run again.
 */
export function watchRun(workflowId: string, listener: Listener, openRunId?: string): () => void {
  let watcher = watchers.get(workflowId);
  if (!watcher) {
    watcher = new RunWatcher(workflowId, openRunId ?? null);
    watchers.set(workflowId, watcher);
  }
  const current = watcher;
  current.add(listener);
  return () => {
    current.remove(listener);
    if (current.size === 0) {
      current.stop();
      if (watchers.get(workflowId) === current) watchers.delete(workflowId);
    }
  };
}

export type LatestRun = { kind: 'not-found' } | { kind: 'unreachable' } | { kind: 'ok'; runId: string; closed: boolean; lastSeq: number };

/**
 * The latest run of a workflow id, and for a closed one the seq of its last event (read from its
 * result, no worker needed). The event stream answers 204 with it when the client has everything.
 * A run `owner` did not start is not found: the stream checks here, before it joins a watcher.
 */
export async function describeLatestRun(workflowId: string, owner: Owner): Promise<LatestRun> {
  try {
    const client = await getClient();
    watcherStats.describes++;
    const run = await describeOwnedRun(client, workflowId, owner);
    if (!run) return { kind: 'not-found' };
    if (!isClosed(run.status)) return { kind: 'ok', runId: run.runId, closed: false, lastSeq: 0 };
    const view = await loadRun(workflowId, owner);
    if (view.kind !== 'ok') return view.kind === 'not-found' ? view : { kind: 'unreachable' };
    return { kind: 'ok', runId: view.runId, closed: true, lastSeq: view.snapshot?.lastSeq ?? 0 };
  } catch (err) {
    if (isUnreachable(err)) return { kind: 'unreachable' };
    throw err;
  }
}

class RunWatcher implements WatcherView {
  runId: string | null = null;
  events: StoryEvent[] = [];
  state: WatchState = { kind: 'connecting' };
  ended: { runId: string; status: RunStatus } | null = null;

  private readonly listeners = new Set<Listener>();
  private stopped = false;
  private looping = false;
  private historyToken: Uint8Array | undefined;
  /** Ask the `story` query (events only) rather than `progress`; off for a worker that lacks it. */
  private eventsOnly = true;
  /** What the history read so far (with historyToken) says about the run's workflow tasks. */
  private tracker = new TaskTracker();
  /**
   * The run publishes its story into its history (its workflow has the `story-memo-v1` patch): the
   * events arrive with the history long poll, and the watcher never queries while they do.
   */
  private published = false;
  /** A published batch started past the events we have (a run upgraded mid-way): one query fills the gap. */
  private gap = false;
  /** Aborts the call in flight (a long poll may otherwise linger 30 s) when the last viewer leaves. */
  private readonly abort = new AbortController();

  constructor(
    private readonly workflowId: string,
    /** The open run to follow first, without a describe (see watchRun). */
    private openRunHint: string | null = null,
  ) {}

  get size(): number {
    return this.listeners.size;
  }

  add(listener: Listener): void {
    this.listeners.add(listener);
    if (this.runId) listener(this);
    // A closed run's watcher rests; a new viewer wakes it, since the run may have been reset since.
    if (!this.looping) void this.loop();
  }

  remove(listener: Listener): void {
    this.listeners.delete(listener);
  }

  stop(): void {
    this.stopped = true;
    this.abort.abort();
  }

  /**
   * One call to Temporal with a deadline, cancelled if the last viewer leaves. The client adds an
   * abort listener per call and never removes it, so each call gets a signal of its own (chained
   * to the watcher's), thrown away with it: listeners cannot pile up over a watcher's life.
   */
  private async call<T>(client: Client, ms: number, fn: () => Promise<T>): Promise<T> {
    const own = new AbortController();
    const stop = () => own.abort();
    this.abort.signal.addEventListener('abort', stop, { once: true });
    try {
      return await client.withAbortSignal(own.signal, () => bounded(client, ms, fn));
    } finally {
      this.abort.signal.removeEventListener('abort', stop);
    }
  }

  private notify(): void {
    for (const listener of this.listeners) {
      try {
        listener(this);
      } catch (err) {
        log.warn({ err, workflowId: this.workflowId }, 'event stream listener failed');
      }
    }
  }

  private setState(state: WatchState): void {
    if (JSON.stringify(state) === JSON.stringify(this.state)) return;
    this.state = state;
    this.notify();
  }

  private append(events: StoryEvent[]): boolean {
    let added = false;
    for (const event of events) {
      if (event.seq !== this.lastSeq + 1) continue;
      this.events.push(event);
      added = true;
    }
    return added;
  }

  private get lastSeq(): number {
    return this.events.length ? this.events[this.events.length - 1].seq : 0;
  }

  private async loop(): Promise<void> {
    this.looping = true;
    let backoff = 500;
    try {
      while (!this.stopped) {
        try {
          const client = await getClient();
          const more = await this.step(client);
          backoff = 500;
          if (!more) return;
        } catch (err) {
          if (this.stopped) return;
          // Start over from a describe: after an outage the page token may mean nothing to the server.
          this.restartHistory();
          if (!isUnreachable(err)) log.warn({ err, workflowId: this.workflowId }, 'watcher error');
          this.setState({ kind: 'unreachable', address: getConfig().temporal.address });
          await sleep(backoff);
          backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
        }
      }
    } finally {
      this.looping = false;
    }
  }

  private restartHistory(): void {
    this.historyToken = undefined;
    this.tracker = new TaskTracker();
    this.published = false;
    this.gap = false;
  }

  /** One round: follow the latest run, catch up, wait for news. False when there is nothing left to watch. */
  private async step(client: Client): Promise<boolean> {
    // The history showed the run complete or fail: its result has the whole story, no describe
    // needed. (Other ends may be a reset, which starts another run: describe.)
    const closedAs = this.tracker.closed;
    if (this.runId && !this.ended && (closedAs === 'completed' || closedAs === 'failed')) {
      this.tracker.closed = null; // once: if the read fails, describe
      const view = await loadKnownRun(this.workflowId, this.runId, closedAs === 'completed' ? 'COMPLETED' : 'FAILED');
      if (view.kind === 'ok') return this.end(view, closedAs);
    }
    if (this.openRunHint) {
      const runId = this.openRunHint;
      this.openRunHint = null;
      this.switchTo(runId);
      return this.follow(client, runId);
    }
    // While the history long poll holds a page token, the run is open and the latest: straight to
    // the query, one call less per update. A closed run or an error describes again.
    if (this.runId && this.historyToken && !this.ended) return this.follow(client, this.runId);
    let description;
    try {
      description = await this.describe(client);
    } catch (err) {
      if ((err as { code?: number }).code === Status.NOT_FOUND) {
        this.setState({ kind: 'not-found' });
        return false;
      }
      throw err;
    }
    const info = description.workflowExecutionInfo;
    const runId = info?.execution?.runId ?? '';
    this.switchTo(runId);

    const closed = storyStatusOf(temporalStatusName(info?.status));
    if (closed !== 'running') {
      // Shared by every viewer of the run; each stream checked the owner before it subscribed.
      const view = await loadRun(this.workflowId, null);
      if (view.kind === 'ok' && view.runId === runId) return this.end(view, closed);
      return !this.stopped; // the latest run changed under us: look again
    }

    return this.follow(client, runId);
  }

  /** Follow `runId` from here on; a new run (reset, retry from the Temporal UI) starts its story again at seq 1. */
  private switchTo(runId: string): void {
    if (runId === this.runId) return;
    this.runId = runId;
    this.events = [];
    this.ended = null;
    this.restartHistory();
  }

  /** The run is over and `view` has its whole story. */
  private end(view: Extract<RunView, { kind: 'ok' }>, status: RunStatus): false {
    this.append(view.snapshot?.events.filter((e) => e.seq > this.lastSeq) ?? []);
    this.ended = { runId: view.runId, status: view.snapshot?.status ?? status };
    this.state = { kind: 'live' };
    this.notify();
    return false;
  }

  /** Catch up with the open run, then wait for its history to move. */
  private async follow(client: Client, runId: string): Promise<boolean> {
    if (!this.tracker.started) {
      // No query handler before the first workflow task completes (the server would hold the
      // query until then): wait for it in the history. Past the wait, query anyway: with no
      // worker, the query's timeout is how the viewers learn it.
      await this.waitForChange(client, runId, WAITING_POLL_MS);
      if (!this.historyToken || this.stopped) return !this.stopped; // closed meanwhile
    }
    if (this.published && !this.gap) {
      // The story comes with the history: nothing to ask. A quiet history may mean a dead worker:
      // one describe tells (no query, which a busy run could hold).
      const waiting = this.state.kind === 'waiting-for-worker';
      const moved = await this.waitForChange(client, runId, waiting ? WAITING_POLL_MS : LONG_POLL_MS);
      if ((!moved || this.state.kind === 'waiting-for-worker') && this.historyToken && !this.stopped) await this.checkWorker(client, runId);
      return true;
    }
    const answered = await this.refresh(client, runId);
    if (answered) this.gap = false;
    await this.waitForChange(client, runId, answered ? LONG_POLL_MS : WAITING_POLL_MS);
    return true;
  }

  /** After a quiet history: say "waiting for a worker" when work waits for one (workerMissing). */
  private async checkWorker(client: Client, runId: string): Promise<void> {
    let description;
    try {
      description = await this.describe(client, runId);
    } catch (err) {
      if (isUnreachable(err)) return; // the next long poll tells
      throw err;
    }
    this.setState(workerMissing(description, Date.now()) ? { kind: 'waiting-for-worker' } : { kind: 'live' });
  }

  /**
   * The story events a page of history carries (STORY_MEMO_FIELD of each memo upsert), decoded
   * with the client's converter (and codec: they are encrypted when payloads are), appended in
   * order. True when any was new.
   */
  private async readPublished(client: Client, events: readonly HistoryEvent[]): Promise<boolean> {
    let added = false;
    for (const event of events) {
      const payload = publishedStoryPayload(event);
      if (!payload) continue;
      this.published = true;
      watcherStats.storyBatches++;
      const batch = await decodePayload<unknown>(client, payload);
      if (!Array.isArray(batch)) continue;
      const fresh = (batch as StoryEvent[]).filter((e) => typeof e?.seq === 'number' && e.seq > this.lastSeq);
      if (fresh.length > 0 && fresh[0].seq !== this.lastSeq + 1) {
        // Events before this batch were never published (the run started on an older build): ask for them.
        this.gap = true;
        continue;
      }
      added = this.append(fresh) || added;
    }
    return added;
  }

  /** Query the story after the last event we have. False when no worker answered in time. */
  private async refresh(client: Client, runId: string): Promise<boolean> {
    const handle = client.workflow.getHandle(this.workflowId, runId);
    this.tracker.queried();
    let added = false;
    try {
      for (let page = 0; page < 20; page++) {
        watcherStats.queries++;
        const args = { after: this.lastSeq, limit: LIMITS.eventsPageMax };
        const answer: StoryPage = await this.call(client, QUERY_TIMEOUT_MS, () =>
          this.eventsOnly ? handle.query(storyQuery, args) : handle.query(progressQuery, args),
        ).catch((err: unknown) => {
          // A worker still on a build without the `story` query (during an upgrade): the full one.
          if (!(err instanceof QueryNotRegisteredError) || !this.eventsOnly) throw err;
          this.eventsOnly = false;
          return this.call(client, QUERY_TIMEOUT_MS, () => handle.query(progressQuery, args));
        });
        added = this.append(answer.events) || added;
        if (!answer.hasMore) break;
      }
    } catch (err) {
      this.tracker.queryFailed(Date.now());
      if (isUnreachable(err)) {
        // The server answers other calls, so a query that times out means no worker polls, unless
        // the run shows a worker at work: then the query was held behind a busy run (seen under
        // load, and while other clients query the run). Keep streaming; the next query catches up.
        if (this.stopped || !(await this.workerAtWork(client, runId))) this.setState({ kind: 'waiting-for-worker' });
        return false;
      }
      throw err;
    }
    if (added || this.state.kind !== 'live') {
      this.state = { kind: 'live' };
      this.notify();
    }
    return true;
  }

  /** Describe the run (the latest, without `runId`), counted and bounded as every watcher call. */
  private describe(client: Client, runId?: string) {
    const { temporal: config } = getConfig();
    watcherStats.describes++;
    return this.call(client, config.rpcTimeoutMs, () =>
      client.workflowService.describeWorkflowExecution({ namespace: config.namespace, execution: { workflowId: this.workflowId, runId } }),
    );
  }

  /** One describe after a query timed out: does a worker heartbeat or run a workflow task of this run? */
  private async workerAtWork(client: Client, runId: string): Promise<boolean> {
    try {
      const description = await this.describe(client, runId);
      const alive = workerRecentlyActive(description, Date.now());
      if (alive) watcherStats.heldQueries++;
      return alive;
    } catch {
      return false;
    }
  }

  /**
   * Long-poll the history until a query is worth making (TaskTracker; never while the run
   * publishes its story, whose events this passes on as they come), the run closes, or the
   * deadline passes. True when the history moved.
   */
  private async waitForChange(client: Client, runId: string, deadlineMs: number): Promise<boolean> {
    const { temporal: config } = getConfig();
    const until = Date.now() + deadlineMs;
    let moved = false;
    // The server answers a long poll empty about 1 s before its deadline, and at once when less is
    // left: a poll with under 2 s to go would only spin. (The benchmark caught 400+ polls a minute.)
    while (!this.stopped && until - Date.now() >= MIN_POLL_MS) {
      watcherStats.historyPolls++;
      let response;
      try {
        response = await this.call(client, until - Date.now(), () =>
          client.workflowService.getWorkflowExecutionHistory({
            namespace: config.namespace,
            execution: { workflowId: this.workflowId, runId },
            nextPageToken: this.historyToken,
            waitNewEvent: true,
            maximumPageSize: 1_000,
            skipArchival: true,
          }),
        );
      } catch (err) {
        // The deadline of a quiet long poll is not an outage.
        if (isUnreachable(err) && Date.now() >= until - 1_000) return moved;
        throw err;
      }
      const token = response.nextPageToken;
      this.historyToken = token && token.length ? token : undefined;
      const events = response.history?.events ?? [];
      if (events.length > 0) moved = true;
      this.tracker.observe(events, Date.now());
      if (await this.readPublished(client, events)) {
        this.state = { kind: 'live' };
        this.notify();
      }
      if (!this.historyToken || this.tracker.closed) return moved; // the run closed
      if (this.published && !this.gap) continue;
      if (this.tracker.shouldQuery(Date.now(), lastStepRunning(this.events))) return moved;
    }
    return moved;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
