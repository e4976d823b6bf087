/**
 * SSE viewers in a process of their own, driven over IPC: when hundreds of viewers parse frames,
 * they must not take the event loop of the bench's in-process Temporal worker, and their CPU is
 * then measurable on its own (the bench reports it, since on 2 cores they compete with the rest).
 *
 * The parent side is `ViewerProcess`; run as a script, this file is the child.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { ViewerPool, liveLags, type Arrival } from './sse';

export interface ViewerUsage {
  /** CPU time used by the viewer process since the last reading, as a share of one core. */
  cpuCores: number;
  /** p99 event-loop delay of the viewer process since the last reading, ms. */
  loopDelayP99Ms: number;
}

type Request =
  | { op: 'open'; base: string; workflowIds: string[]; concurrency?: number; deadline?: number }
  | { op: 'waitEnded'; timeoutMs: number }
  | { op: 'lags'; window?: { from: number; to: number } }
  | { op: 'counts' }
  | { op: 'arrivals'; workflowIds: string[] }
  | { op: 'usage' }
  | { op: 'closeAll' };

interface Envelope {
  id: number;
  request: Request;
}

/** The parent's handle on the viewer process. */
export class ViewerProcess {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  get pid(): number | undefined {
    return this.child.pid;
  }

  private constructor(private readonly child: ChildProcess) {
    child.on('message', (message: { id: number; result?: unknown; error?: string }) => {
      const waiter = this.pending.get(message.id);
      if (!waiter) return;
      this.pending.delete(message.id);
      if (message.error) waiter.reject(new Error(message.error));
      else waiter.resolve(message.result);
    });
    child.on('exit', (code) => {
      for (const waiter of this.pending.values()) waiter.reject(new Error(`the viewer process exited (${code})`));
      this.pending.clear();
    });
  }

  static start(): ViewerProcess {
    // The child inherits this process's execArgv, which carries tsx's loader.
    const child = fork(__filename, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    return new ViewerProcess(child);
  }

  private call<T>(request: Request): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ id, request } satisfies Envelope);
    });
  }

  /** Opens a stream per id (several for a repeated id); stops opening at `deadline` (ms since the epoch). */
  open(base: string, workflowIds: string[], concurrency?: number, deadline?: number): Promise<{ opened: number; failures: number }> {
    return this.call({ op: 'open', base, workflowIds, concurrency, deadline });
  }

  waitEnded(timeoutMs: number): Promise<number> {
    return this.call({ op: 'waitEnded', timeoutMs });
  }

  lags(window?: { from: number; to: number }): Promise<{ output: number[]; other: number[] }> {
    return this.call({ op: 'lags', window });
  }

  /** What the first viewer of each of these runs received. */
  arrivals(workflowIds: string[]): Promise<Array<{ workflowId: string; openedAt: number; arrivals: Arrival[] }>> {
    return this.call({ op: 'arrivals', workflowIds });
  }

  counts(): Promise<{ viewers: number; arrivals: number }> {
    return this.call({ op: 'counts' });
  }

  usage(): Promise<ViewerUsage> {
    return this.call({ op: 'usage' });
  }

  closeAll(): Promise<void> {
    return this.call({ op: 'closeAll' });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill('SIGTERM');
    await exited;
  }
}

function serve(): void {
  let pool: ViewerPool | null = null;
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  let cpu = process.cpuUsage();
  let cpuAt = performance.now();

  const handle = async (request: Request): Promise<unknown> => {
    switch (request.op) {
      case 'open': {
        pool ??= new ViewerPool(request.base);
        const before = pool.viewers.length;
        const failuresBefore = pool.failures;
        await pool.open(request.workflowIds, request.concurrency, request.deadline ?? Infinity);
        return { opened: pool.viewers.length - before, failures: pool.failures - failuresBefore };
      }
      case 'waitEnded':
        return pool ? pool.waitEnded(request.timeoutMs) : 0;
      case 'lags':
        return liveLags(pool?.viewers ?? [], request.window);
      case 'arrivals':
        return request.workflowIds.flatMap((id) => {
          const viewer = pool?.viewers.find((v) => v.workflowId === id);
          return viewer ? [{ workflowId: id, openedAt: viewer.openedAt, arrivals: viewer.arrivals }] : [];
        });
      case 'counts':
        return { viewers: pool?.viewers.length ?? 0, arrivals: pool?.viewers.reduce((n, v) => n + v.arrivals.length, 0) ?? 0 };
      case 'usage': {
        const used = process.cpuUsage(cpu);
        const now = performance.now();
        const result = { cpuCores: (used.user + used.system) / 1000 / (now - cpuAt), loopDelayP99Ms: loop.percentile(99) / 1e6 };
        cpu = process.cpuUsage();
        cpuAt = now;
        loop.reset();
        return result;
      }
      case 'closeAll':
        pool?.closeAll();
        await Promise.all(pool?.viewers.map((v) => v.done) ?? []);
        pool = null;
        return undefined;
    }
  };

  process.on('message', (message: Envelope) => {
    handle(message.request).then(
      (result) => process.send?.({ id: message.id, result }),
      (err: unknown) => process.send?.({ id: message.id, error: err instanceof Error ? err.message : String(err) }),
    );
  });
  process.on('disconnect', () => process.exit(0));
}

if (require.main === module) serve();
