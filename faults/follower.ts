/**
 * The SSE follower: follows one run as a browser's EventSource would, reconnecting with
 * Last-Event-ID whenever its stream breaks (and while the web app is down) until the `end` event,
 * or a 204, which means it already had everything. It keeps every frame with its arrival time.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { readSse, type SseFrame } from '../devstack/sse';
import type { StoryEvent } from '../contract/data';

export interface ReceivedFrame {
  event: string;
  id: string | undefined;
  data: string;
  /** When it arrived. */
  at: number;
  /** Story frames: when the workflow recorded the event (its `at`). */
  recordedAt?: number;
}

/** With pings every 15 s, this long without a byte means the stream is dead. */
const STREAM_IDLE_MS = 40_000;
const RECONNECT_DELAY_MS = 250;

export class RunFollower {
  readonly frames: ReceivedFrame[] = [];
  lastEventId: string | undefined;
  connections = 0;
  /** Non-200, non-204 answers, by status. */
  readonly badStatuses: number[] = [];
  end: { runId: string; status: string } | null = null;
  got204 = false;
  finishedAt: number | null = null;
  /** Told every story event as it arrives (repeats included), as a page's reducer is: the reviewer answers from it. */
  onStory: ((event: StoryEvent) => void) | null = null;

  constructor(
    private readonly url: string,
    private readonly deadline: number,
  ) {}

  get active(): boolean {
    return this.finishedAt === null;
  }

  /** When the first story event the workflow recorded after `at` arrived, or null. */
  nextStoryAfter(at: number): number | null {
    return this.frames.find((f) => f.recordedAt !== undefined && f.recordedAt > at)?.at ?? null;
  }

  async follow(): Promise<void> {
    try {
      while (Date.now() < this.deadline && !this.end && !this.got204) {
        await this.connectOnce();
        if (!this.end && !this.got204) await sleep(RECONNECT_DELAY_MS);
      }
    } finally {
      this.finishedAt = Date.now();
    }
  }

  private async connectOnce(): Promise<void> {
    const controller = new AbortController();
    const overall = setTimeout(() => controller.abort(), Math.max(this.deadline - Date.now(), 0));
    let idle: NodeJS.Timeout | undefined;
    const touch = () => {
      clearTimeout(idle);
      idle = setTimeout(() => controller.abort(), STREAM_IDLE_MS);
    };
    try {
      const headers: Record<string, string> = { Accept: 'text/event-stream' };
      if (this.lastEventId !== undefined) headers['Last-Event-ID'] = this.lastEventId;
      touch();
      const res = await fetch(this.url, { headers, signal: controller.signal });
      this.connections++;
      if (res.status === 204) {
        this.got204 = true;
        return;
      }
      if (res.status !== 200 || !res.body) {
        this.badStatuses.push(res.status);
        await res.text().catch(() => '');
        await sleep(1_000);
        return;
      }
      await readSse(res.body, (_text, frames) => {
        touch();
        for (const frame of frames) this.onFrame(frame);
      });
    } catch {
      // refused (the web app is down), reset (it was killed), or our own abort
    } finally {
      clearTimeout(idle);
      clearTimeout(overall);
    }
  }

  private onFrame({ event, id, data }: SseFrame): void {
    const frame: ReceivedFrame = { event, id, data, at: Date.now() };
    if (frame.event === 'story') {
      const story = JSON.parse(frame.data) as StoryEvent;
      frame.recordedAt = Date.parse(story.at);
      this.onStory?.(story);
    }
    if (frame.event === 'message' && frame.id === undefined && frame.data === '') return;
    this.frames.push(frame);
    // As EventSource does: the last id seen is what a reconnect sends.
    if (frame.id !== undefined) this.lastEventId = frame.id;
    if (frame.event === 'end') this.end = JSON.parse(frame.data) as { runId: string; status: string };
  }
}
