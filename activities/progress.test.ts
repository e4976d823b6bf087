/**
 * ProgressReporter alone: what it sends, and when, given a `send` that records batches (or fails).
 * The clock is jest's: time passes only when a test advances it.
 */
import type { ActivityProgress } from '../contract/data';
import { ProgressReporter } from './progress';

const INTERVAL_MS = 20;

beforeEach(() => {
  jest.useFakeTimers();
});
afterEach(() => {
  jest.useRealTimers();
});

/**
 * A reporter whose sends are recorded once they succeed. With `hold`, sends stay in flight until
 * the test calls `release()`; later ones go straight through.
 */
function reporter(options: { failFirst?: number; hold?: boolean } = {}) {
  const sent: ActivityProgress[][] = [];
  const held: Array<() => void> = [];
  let failures = options.failFirst ?? 0;
  let holding = options.hold ?? false;
  const send = async (items: ActivityProgress[]) => {
    if (holding) await new Promise<void>((resolve) => held.push(resolve));
    if (failures > 0) {
      failures--;
      throw new Error('signal failed');
    }
    sent.push(items.map((item) => ({ ...item })));
  };
  const release = () => {
    holding = false;
    held.splice(0).forEach((resolve) => resolve());
  };
  return { sent, held, release, progress: new ProgressReporter(send, 0, 1, { intervalMs: INTERVAL_MS, maxSignals: 10 }) };
}

const texts = (batches: ActivityProgress[][]) =>
  batches
    .flat()
    .map((item) => (item.kind === 'output' ? item.text : ''))
    .join('');

test('output goes in batches, one per interval, with offsets that count every character', async () => {
  const { sent, progress } = reporter();
  progress.output('one ');
  progress.output('two ');
  await jest.advanceTimersByTimeAsync(INTERVAL_MS - 1);
  expect(sent).toEqual([]);
  await jest.advanceTimersByTimeAsync(1);
  expect(sent).toEqual([[{ kind: 'output', stepIndex: 0, attempt: 1, offset: 0, text: 'one two ' }]]);
  progress.output('three');
  await jest.advanceTimersByTimeAsync(INTERVAL_MS);
  expect(sent).toEqual([
    [{ kind: 'output', stepIndex: 0, attempt: 1, offset: 0, text: 'one two ' }],
    [{ kind: 'output', stepIndex: 0, attempt: 1, offset: 8, text: 'three' }],
  ]);
  // Quiet when nothing is queued.
  expect(jest.getTimerCount()).toBe(0);
});

test('finish drops queued output (the result carries it) and waits for a signal in flight', async () => {
  const { sent, held, release, progress } = reporter({ hold: true });
  progress.output('first');
  await jest.advanceTimersByTimeAsync(INTERVAL_MS);
  expect(held).toHaveLength(1); // the timer fired: a send is in flight
  progress.output(' last');
  let finished = false;
  const finishing = progress.finish().then(() => {
    finished = true;
  });
  await jest.advanceTimersByTimeAsync(INTERVAL_MS);
  expect(finished).toBe(false);
  release();
  await finishing;
  expect(sent).toEqual([[{ kind: 'output', stepIndex: 0, attempt: 1, offset: 0, text: 'first' }]]);
  // Nothing is left to go later.
  await jest.advanceTimersByTimeAsync(INTERVAL_MS * 5);
  expect(held).toHaveLength(0);
  expect(sent).toHaveLength(1);
});

test('finish still sends an attempt.started that failed to go, with the output queued after it', async () => {
  const { sent, progress } = reporter({ failFirst: 1 });
  await progress.attemptStarted();
  expect(sent).toEqual([]);
  progress.output('text');
  await progress.finish();
  expect(sent).toEqual([
    [
      { kind: 'attempt.started', stepIndex: 0, attempt: 1 },
      { kind: 'output', stepIndex: 0, attempt: 1, offset: 0, text: 'text' },
    ],
  ]);
});

test('close (a failed or cancelled attempt) sends everything left, the failure reason included', async () => {
  const { sent, progress } = reporter();
  progress.output('partial');
  progress.attemptFailed('the model timed out');
  await progress.close();
  expect(texts(sent)).toBe('partial');
  expect(sent.flat().at(-1)).toEqual({ kind: 'attempt.failed', stepIndex: 0, attempt: 1, reason: 'the model timed out' });
});
