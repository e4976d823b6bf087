/**
 * A lean, timestamped event-stream reader: the framing of devstack/sse.ts (fetch and the SSE line
 * format), but it keeps only what the figures need (when each story event arrived) and no raw
 * text, so a thousand of them fit in one process.
 */
import { readSse } from '../devstack/sse';

export interface Arrival {
  seq: number;
  type: string;
  /** The event's own time (`at`, the workflow's clock), ms since the epoch. */
  atMs: number;
  /** When this process read the frame, ms since the epoch. */
  recvMs: number;
}

export interface Viewer {
  workflowId: string;
  /** HTTP status of the stream's response. */
  status: number;
  /** When the response headers arrived: events that happened before were not live for this viewer. */
  openedAt: number;
  arrivals: Arrival[];
  /** The server sent `end`. */
  readonly ended: boolean;
  /** Resolves when the stream ends or is closed. */
  done: Promise<void>;
  /** Resolves with the receive time of the first story frame. */
  firstStory: Promise<number>;
  close(): void;
}

export function eventsUrl(base: string, workflowId: string): string {
  return `${base}/runs/${workflowId}/events`;
}

export async function openViewer(base: string, workflowId: string): Promise<Viewer> {
  const controller = new AbortController();
  const res = await fetch(eventsUrl(base, workflowId), { headers: { Accept: 'text/event-stream' }, signal: controller.signal });
  const openedAt = Date.now();
  const arrivals: Arrival[] = [];
  let ended = false;
  let resolveFirst: (at: number) => void = () => {};
  let rejectFirst: (err: Error) => void = () => {};
  const firstStory = new Promise<number>((resolve, reject) => {
    resolveFirst = resolve;
    rejectFirst = reject;
  });
  firstStory.catch(() => undefined); // observed only by those who wait for it

  const onFrame = (event: string, data: string, recvMs: number) => {
    if (event === 'end') ended = true;
    if (event !== 'story') return;
    const parsed = JSON.parse(data) as { seq: number; type: string; at: string };
    if (arrivals.length === 0) resolveFirst(recvMs);
    arrivals.push({ seq: parsed.seq, type: parsed.type, atMs: Date.parse(parsed.at), recvMs });
  };

  const done = (async () => {
    if (!res.body || res.status !== 200) {
      await res.text().catch(() => '');
      return;
    }
    try {
      await readSse(res.body, (_text, frames) => {
        const recvMs = Date.now();
        for (const frame of frames) onFrame(frame.event, frame.data, recvMs);
      });
    } catch {
      // closed by us
    }
  })().finally(() => rejectFirst(new Error(`the stream of ${workflowId} ended before a story event`)));

  return {
    workflowId,
    status: res.status,
    openedAt,
    arrivals,
    get ended() {
      return ended;
    },
    done,
    firstStory,
    close: () => controller.abort(),
  };
}

/** Many viewers, opened with bounded concurrency (a burst of 1,000 connects is not what we measure). */
export class ViewerPool {
  readonly viewers: Viewer[] = [];
  failures = 0;

  constructor(private readonly base: string) {}

  /** Opens streams until all are open or `deadline` (ms since the epoch) has passed. */
  async open(workflowIds: readonly string[], concurrency = 50, deadline = Infinity): Promise<void> {
    let next = 0;
    const lane = async () => {
      while (next < workflowIds.length && Date.now() < deadline) {
        const id = workflowIds[next++];
        try {
          const viewer = await openViewer(this.base, id);
          if (viewer.status === 200) this.viewers.push(viewer);
          else this.failures++;
        } catch {
          this.failures++;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, workflowIds.length) }, lane));
  }

  /** Wait until every stream has ended (or the timeout); returns how many ended. */
  async waitEnded(timeoutMs: number): Promise<number> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
    await Promise.race([Promise.all(this.viewers.map((v) => v.done)), timeout]);
    clearTimeout(timer);
    return this.viewers.filter((v) => v.ended).length;
  }

  closeAll(): void {
    for (const viewer of this.viewers) viewer.close();
  }
}

/**
 * Lag of live events: receive time minus the event's time, for events that happened after the
 * viewer was connected (earlier ones arrive as catch-up, which is not lag).
 */
export function liveLags(viewers: readonly Pick<Viewer, 'openedAt' | 'arrivals'>[], window?: { from: number; to: number }) {
  const output: number[] = [];
  const other: number[] = [];
  for (const viewer of viewers) {
    for (const a of viewer.arrivals) {
      if (a.atMs < viewer.openedAt) continue;
      if (window && (a.atMs < window.from || a.atMs > window.to)) continue;
      (a.type === 'step.output' ? output : other).push(a.recvMs - a.atMs);
    }
  }
  return { output, other };
}
