/**
 * The naive baseline: each viewer polls the `progress` query on its own, once a second, through a
 * Client whose connection counts every RPC (the same interceptor idea as the web app's, see
 * web/app/utils/temporal-client.server.ts).
 */
import { InterceptingCall, type Interceptor } from '@grpc/grpc-js';
import { Client, Connection, defaultGrpcRetryOptions, makeGrpcRetryInterceptor } from '@temporalio/client';
import { progressQuery } from '../contract/messages';
import type { Arrival } from './sse';

export interface CountingClient {
  client: Client;
  /** RPCs made so far, by gRPC method. */
  rpcs: Record<string, number>;
  close(): Promise<void>;
}

export async function connectCountingClient(address: string, namespace = 'default'): Promise<CountingClient> {
  const rpcs: Record<string, number> = {};
  const count: Interceptor = (options, nextCall) => {
    const method = options.method_definition.path.split('/').pop() ?? 'unknown';
    rpcs[method] = (rpcs[method] ?? 0) + 1;
    return new InterceptingCall(nextCall(options));
  };
  const connection = await Connection.connect({ address, interceptors: [count, makeGrpcRetryInterceptor(defaultGrpcRetryOptions())] });
  return { client: new Client({ connection, namespace }), rpcs, close: () => connection.close() };
}

const QUERY_DEADLINE_MS = 3_000;

/** Polls one run's story every `intervalMs` until the run is over or it is stopped. */
export class NaivePoller {
  readonly arrivals: Arrival[] = [];
  /** When the poller started: events before it were not live for it. */
  openedAt = 0;
  errors = 0;
  /** How long each query took: a query that arrives while a workflow task is in flight waits for it. */
  readonly queryMs: number[] = [];
  private stopped = false;
  private lastSeq = 0;
  private timer: NodeJS.Timeout | undefined;
  private wake: () => void = () => {};
  done: Promise<void> = Promise.resolve();

  constructor(
    private readonly client: Client,
    readonly workflowId: string,
    private readonly intervalMs = 1_000,
  ) {}

  /** `phaseMs` delays the first poll, so many pollers do not tick in step. */
  start(phaseMs = 0): this {
    this.openedAt = Date.now();
    this.done = this.loop(phaseMs);
    return this;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.wake();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
      this.timer = setTimeout(resolve, ms);
    });
  }

  private async loop(phaseMs: number): Promise<void> {
    if (phaseMs > 0) await this.sleep(phaseMs);
    const handle = this.client.workflow.getHandle(this.workflowId);
    while (!this.stopped) {
      const tick = Date.now();
      let running = true;
      try {
        for (let page = 0; page < 20 && !this.stopped; page++) {
          const asked = Date.now();
          const snapshot = await this.client.withDeadline(Date.now() + QUERY_DEADLINE_MS, () =>
            handle.query(progressQuery, { after: this.lastSeq, limit: 500 }),
          );
          const recvMs = Date.now();
          this.queryMs.push(recvMs - asked);
          for (const event of snapshot.events) {
            if (event.seq <= this.lastSeq) continue;
            this.arrivals.push({ seq: event.seq, type: event.type, atMs: Date.parse(event.at), recvMs });
            this.lastSeq = event.seq;
          }
          running = snapshot.status === 'running';
          if (!snapshot.hasMore) break;
        }
      } catch {
        this.errors++;
      }
      if (!running) return;
      await this.sleep(Math.max(0, this.intervalMs - (Date.now() - tick)));
    }
  }
}
