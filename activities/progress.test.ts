/**
 * ProgressReporter alone: what it sends, and when, given a `send` that records batches (or fails).
 */
import type { ActivityProgress } from '../workflows/shared';
import { ProgressReporter } from './progress';

function reporter(options: { failFirst?: number } = {}) {
  const sent: ActivityProgress[][] = [];
  let failures = options.failFirst ?? 0;
  const send = async (items: ActivityProgress[]) => {
    await new Promise((r) => setTimeout(r, 5));
    if (failures > 0) {
      failures--;
      throw new Error('signal failed');
    }
    sent.push(items.map((item) => ({ ...item })));
  };
  return { sent, progress: new ProgressReporter(send, 0, 1, { intervalMs: 20, maxSignals: 10 }) };
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
  await new Promise((r) => setTimeout(r, 60));
  progress.output('three');
  await new Promise((r) => setTimeout(r, 60));
  expect(sent).toEqual([
    [{ kind: 'output', stepIndex: 0, attempt: 1, offset: 0, text: 'one two ' }],
    [{ kind: 'output', stepIndex: 0, attempt: 1, offset: 8, text: 'three' }],
  ]);
});

test('finish drops queued output (the result carries it) and waits for a signal in flight', async () => {
  const { sent, progress } = reporter();
  progress.output('first');
  await new Promise((r) => setTimeout(r, 22)); // the timer fired: a send is in flight
  progress.output(' last');
  await progress.finish();
  expect(sent).toEqual([[{ kind: 'output', stepIndex: 0, attempt: 1, offset: 0, text: 'first' }]]);
  await new Promise((r) => setTimeout(r, 60));
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
