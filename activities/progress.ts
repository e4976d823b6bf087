/**
 * Batches an activity's progress into `activityProgress` signals to its own workflow: a few per
 * second at most, never one per token. Items that fail to send stay queued and go with the next
 * batch; offsets make a resend harmless. A successful attempt's last output is not signalled: it
 * goes in the activity's result, which the workflow reads in the same workflow task as the
 * completion (a signal just before it would cost a workflow task of its own; see Story.stepFinished).
 */
import { LIMITS, type ActivityProgress } from '../contract/data';

export type SendProgress = (items: ActivityProgress[]) => Promise<void>;

export interface ProgressReporterOptions {
  /** Time between two output signals while text streams. */
  intervalMs: number;
  /**
   * Output signals per attempt; after that, the remaining text goes with the result (or, for an
   * attempt that fails, in one batch at the end). Keeps history bounded (each signal is an event)
   * however long a model writes.
   */
  maxSignals: number;
  onError?: (err: unknown) => void;
}

export const DEFAULT_PROGRESS_OPTIONS: ProgressReporterOptions = { intervalMs: 250, maxSignals: 120 };

export class ProgressReporter {
  private queue: ActivityProgress[] = [];
  private timer: NodeJS.Timeout | null = null;
  private sending: Promise<void> = Promise.resolve();
  private signals = 0;
  private offset = 0;

  constructor(
    private readonly send: SendProgress,
    private readonly stepIndex: number | null,
    private readonly attempt: number,
    private readonly options: ProgressReporterOptions = DEFAULT_PROGRESS_OPTIONS,
  ) {}

  /** Announce a retry (attempt > 1) at once, so the story shows it before any output. */
  attemptStarted(): Promise<void> {
    this.queue.push({ kind: 'attempt.started', stepIndex: this.stepIndex, attempt: this.attempt });
    return this.flush();
  }

  attemptFailed(reason: string): void {
    this.queue.push({
      kind: 'attempt.failed',
      stepIndex: this.stepIndex,
      attempt: this.attempt,
      reason: reason.slice(0, LIMITS.messageMaxChars),
    });
  }

  output(text: string): void {
    if (this.stepIndex === null || text.length === 0) return;
    const last = this.queue[this.queue.length - 1];
    if (last?.kind === 'output' && last.text.length + text.length <= LIMITS.chunkMaxChars) {
      last.text += text;
      this.offset += text.length;
    } else {
      for (let i = 0; i < text.length; i += LIMITS.chunkMaxChars) {
        const piece = text.slice(i, i + LIMITS.chunkMaxChars);
        this.queue.push({ kind: 'output', stepIndex: this.stepIndex, attempt: this.attempt, offset: this.offset, text: piece });
        this.offset += piece.length;
      }
    }
    if (!this.timer && this.signals < this.options.maxSignals) {
      this.timer = setTimeout(() => {
        this.timer = null;
        void this.flush();
      }, this.options.intervalMs);
    }
  }

  /** Send everything queued; resolves when sent (or failed and kept for the next flush). */
  flush(): Promise<void> {
    this.sending = this.sending.then(async () => {
      if (this.queue.length === 0) return;
      const batch = this.queue;
      this.queue = [];
      try {
        await this.send(batch);
        this.signals++;
      } catch (err) {
        this.queue = [...batch, ...this.queue];
        this.options.onError?.(err);
      }
    });
    return this.sending;
  }

  /** Stop the timer and send what is left. */
  async close(): Promise<void> {
    this.stopTimer();
    await this.flush();
  }

  /**
   * The attempt succeeded: its result carries all of its output, so queued output is dropped
   * rather than signalled. Anything else queued still goes (an `attempt.started` that failed to
   * send must reach the story before the result). Waits for a signal in flight.
   */
  async finish(): Promise<void> {
    this.stopTimer();
    await this.sending;
    if (this.queue.every((item) => item.kind === 'output')) this.queue = [];
    else await this.flush();
  }

  private stopTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
