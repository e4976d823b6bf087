/**
 * The scheduler's bookkeeping for fair share: which runs hold a slot, who waits, and who goes
 * next. Pure and deterministic (no clock, no I/O), so schedulerWorkflow owns it, carries its
 * state across continue-as-new, and tests drive it directly.
 *
 * Who goes next: among owners with a run waiting and fewer than `perUser` slots, the one served
 * least recently (an owner never served, or not since their queue last ran dry, first), then the
 * one whose waiting run was submitted first. Each owner's runs go in the order they were submitted. So one owner's
 * thousand waiting runs take one free slot in turn with anyone else's, and a newcomer's run takes
 * the next free slot.
 */
import type { QueuePosition, SchedulerStatus, SlotGrant, SlotRequest } from '../contract/data';

interface Waiting {
  workflowId: string;
  runId: string;
  /** When the run was submitted (epoch ms): the order of an owner's runs, and between owners at a tie. */
  submittedAt: number;
  /** Arrival order, for runs submitted in the same millisecond. */
  seq: number;
  /** Grants given before this run came: what it was passed by is counted from here. */
  grantsBefore: number;
}

interface Holding {
  owner: string;
  runId: string;
  grant: SlotGrant;
}

/** Everything the scheduler knows: plain JSON, the continue-as-new argument. */
export interface FairQueueState {
  limits: { perUser: number; total: number } | null;
  /** Runs holding a slot, by workflow id. */
  running: Record<string, Holding>;
  /** Waiting runs, first in first out, by owner; an owner with none has no entry. */
  queues: Record<string, Waiting[]>;
  /** The grant number of the last slot of each owner with a run waiting or running. */
  lastServed: Record<string, number>;
  grants: number;
  seq: number;
  /** How often the scheduler looks for runs that ended without giving their slot back. */
  checkIntervalMs: number;
  /** Continue as new past this many history events, even if the server has not suggested it yet. */
  historyLimit: number;
}

/** A slot given: send `grant` to `workflowId`. */
export interface Granted {
  workflowId: string;
  grant: SlotGrant;
}

export const DEFAULT_CHECK_INTERVAL_MS = 30_000;
/**
 * Events before the scheduler continues as new: well inside Temporal's 50,000 events a run, and it
 * keeps the signals a run receives under the server's cap (10,000 by default), as each is an event.
 */
export const DEFAULT_HISTORY_LIMIT = 10_000;

export function emptyFairQueue(): FairQueueState {
  return {
    limits: null,
    running: {},
    queues: {},
    lastServed: {},
    grants: 0,
    seq: 0,
    checkIntervalMs: DEFAULT_CHECK_INTERVAL_MS,
    historyLimit: DEFAULT_HISTORY_LIMIT,
  };
}

export class FairQueue {
  private readonly s: FairQueueState;

  constructor(state?: FairQueueState) {
    // Fields added later take their defaults in a state carried over from an older scheduler.
    this.s = { ...emptyFairQueue(), ...(state ? structuredCopy(state) : {}) };
  }

  /** A copy of the state, for continue-as-new. */
  get state(): FairQueueState {
    return structuredCopy(this.s);
  }

  get queuedCount(): number {
    return Object.values(this.s.queues).reduce((n, q) => n + q.length, 0);
  }

  get checkIntervalMs(): number {
    return this.s.checkIntervalMs;
  }

  get historyLimit(): number {
    return this.s.historyLimit;
  }

  runningIds(): string[] {
    return Object.keys(this.s.running);
  }

  /**
   * A run asks for a slot; the newest request sets the limits. Asking again changes nothing,
   * except that a run already holding its slot gets its grant again (returned: send it), for a
   * run that was reset and waits for it under a new run id.
   */
  acquire(request: SlotRequest): Granted | null {
    this.s.limits = { perUser: Math.max(1, request.perUser), total: Math.max(1, request.total) };
    if (request.checkIntervalMs !== undefined) this.s.checkIntervalMs = Math.max(100, request.checkIntervalMs);
    const holding = this.s.running[request.workflowId];
    if (holding) {
      holding.runId = request.runId;
      return { workflowId: request.workflowId, grant: holding.grant };
    }
    const waiting = this.find(request.workflowId);
    if (waiting) {
      waiting.entry.runId = request.runId;
      return null;
    }
    this.s.seq += 1;
    const entry: Waiting = {
      workflowId: request.workflowId,
      runId: request.runId,
      submittedAt: request.submittedAt,
      seq: this.s.seq,
      grantsBefore: this.s.grants,
    };
    const queue = (this.s.queues[request.owner] ??= []);
    const later = queue.findIndex((w) => w.submittedAt > entry.submittedAt);
    queue.splice(later === -1 ? queue.length : later, 0, entry);
    return null;
  }

  /** A run gives its slot back or leaves the line (it ended, or was cancelled while waiting). Idempotent. */
  release(workflowId: string): void {
    const holding = this.s.running[workflowId];
    if (holding) {
      delete this.s.running[workflowId];
      this.prune(holding.owner);
    }
    const waiting = this.find(workflowId);
    if (!waiting) return;
    const queue = this.s.queues[waiting.owner];
    queue.splice(queue.indexOf(waiting.entry), 1);
    this.prune(waiting.owner);
  }

  /** Give every free slot to the next in line; returns the grants to send. */
  dispatch(): Granted[] {
    const limits = this.s.limits;
    if (!limits) return [];
    const granted: Granted[] = [];
    while (Object.keys(this.s.running).length < limits.total) {
      const held = this.heldByOwner();
      const owner = this.next(this.s.lastServed, (o) => (held[o] ?? 0) < limits.perUser);
      if (owner === null) break;
      const queue = this.s.queues[owner];
      const entry = queue.shift()!;
      this.s.grants += 1;
      const grant: SlotGrant = { order: this.s.grants, passedBy: this.s.grants - 1 - entry.grantsBefore };
      this.s.running[entry.workflowId] = { owner, runId: entry.runId, grant };
      this.s.lastServed[owner] = this.s.grants;
      this.prune(owner);
      granted.push({ workflowId: entry.workflowId, grant });
    }
    return granted;
  }

  /**
   * Where a run stands. For a waiting run, `ahead` is how many waiting runs would get a slot
   * before it if each free slot went to the next in line (per-owner limits aside: an owner at
   * their limit is skipped when a slot frees, which can only let this run go sooner).
   */
  position(workflowId: string): QueuePosition | null {
    if (this.s.running[workflowId]) return { state: 'running' };
    if (!this.find(workflowId)) return null;
    const heads: Record<string, number> = {};
    const lastServed = { ...this.s.lastServed };
    for (let ahead = 0, served = this.s.grants; ; ahead++) {
      const owner = this.next(lastServed, () => true, heads);
      if (owner === null) return null;
      const index = heads[owner] ?? 0;
      if (this.s.queues[owner][index].workflowId === workflowId) return { state: 'queued', ahead };
      heads[owner] = index + 1;
      lastServed[owner] = ++served;
    }
  }

  status(): SchedulerStatus {
    const owners: SchedulerStatus['owners'] = {};
    for (const { owner } of Object.values(this.s.running)) (owners[owner] ??= { running: 0, queued: 0 }).running += 1;
    for (const [owner, queue] of Object.entries(this.s.queues)) (owners[owner] ??= { running: 0, queued: 0 }).queued += queue.length;
    return {
      limits: this.s.limits,
      running: Object.keys(this.s.running).length,
      queued: this.queuedCount,
      grants: this.s.grants,
      owners,
    };
  }

  /**
   * The owner whose run goes next: eligible, with a run waiting (from `heads`, when simulating),
   * least recently served, then earliest waiting run.
   */
  private next(lastServed: Record<string, number>, eligible: (owner: string) => boolean, heads?: Record<string, number>): string | null {
    let best: { owner: string; served: number; head: Waiting } | null = null;
    for (const [owner, queue] of Object.entries(this.s.queues)) {
      const head = queue[heads?.[owner] ?? 0];
      if (!head || !eligible(owner)) continue;
      const served = lastServed[owner] ?? 0;
      if (!best || served < best.served || (served === best.served && earlier(head, best.head))) best = { owner, served, head };
    }
    return best?.owner ?? null;
  }

  private heldByOwner(): Record<string, number> {
    const held: Record<string, number> = {};
    for (const { owner } of Object.values(this.s.running)) held[owner] = (held[owner] ?? 0) + 1;
    return held;
  }

  /**
   * An owner with nothing waiting has no queue; one with nothing waiting and nothing running leaves
   * the rotation too: next time they come, they are served first.
   */
  private prune(owner: string): void {
    if (this.s.queues[owner]?.length === 0) delete this.s.queues[owner];
    if (this.s.queues[owner] || Object.values(this.s.running).some((h) => h.owner === owner)) return;
    delete this.s.lastServed[owner];
  }

  private find(workflowId: string): { owner: string; entry: Waiting } | null {
    for (const [owner, queue] of Object.entries(this.s.queues)) {
      const entry = queue.find((w) => w.workflowId === workflowId);
      if (entry) return { owner, entry };
    }
    return null;
  }
}

function earlier(a: Waiting, b: Waiting): boolean {
  return a.submittedAt < b.submittedAt || (a.submittedAt === b.submittedAt && a.seq < b.seq);
}

function structuredCopy<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}
