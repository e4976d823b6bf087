/**
 * The terminal's view of a run, from a story folded by the page's reducer: the steps with their
 * marks, a spinner and the output tail on the running step, the result at the end, and one log
 * line per event without the output chunks.
 */
import { stripVTControlCharacters } from 'node:util';
import type { StoryEvent } from '../contract/data';
import { applyEvent, emptyView, type StoryView } from '../web/app/utils/story-view';
import { eventLine, fit as fitColoured, frame as frameColoured, SPINNER, summaryLine as summaryColoured } from './render';

// The assertions read the words: colours (on where picocolors sees CI=true or a terminal) removed.
const plain = (text: string) => stripVTControlCharacters(text);
const frame = (...args: Parameters<typeof frameColoured>) => frameColoured(...args).map(plain);
const fit = (...args: Parameters<typeof fitColoured>) => plain(fitColoured(...args));
const summaryLine = (...args: Parameters<typeof summaryColoured>) => plain(summaryColoured(...args));

type Body = StoryEvent extends infer E ? (E extends StoryEvent ? Omit<E, 'seq' | 'at'> : never) : never;

function story(bodies: Body[]): StoryView {
  let view = emptyView('run-1', '', '2026-12-01T10:00:00.000Z');
  bodies.forEach((body, i) => {
    view = applyEvent(view, { ...body, seq: i + 1, at: `2026-12-01T10:00:${String(i).padStart(2, '0')}.000Z` } as StoryEvent);
  });
  return view;
}

const started: Body[] = [
  { type: 'run.started', task: 'Create a hello world python function\nwith a test' },
  {
    type: 'plan.ready',
    plan: { summary: 's', steps: ['Design', 'Write the code', 'Review'].map((title) => ({ title, instructions: title })) },
    model: { name: 'offline', offline: true },
  },
  { type: 'step.started', stepIndex: 0, title: 'Design' },
  { type: 'step.finished', stepIndex: 0, durationMs: 1_200, attempts: 1, usage: null, truncated: false, output: 'a design' },
  { type: 'step.started', stepIndex: 1, title: 'Write the code' },
  { type: 'step.output', stepIndex: 1, attempt: 1, offset: 0, text: 'line 1\nline 2\nline 3\n' } as Body,
];

test('a running story: the done step ticked with its time, a spinner and the output tail on the running one, the rest waiting', () => {
  const lines = frame(story(started), { tick: 3, width: 120, outputLines: 2 });
  expect(lines[0]).toBe('Create a hello world python function');
  expect(lines[1]).toBe('Running');
  expect(lines).toContain('  ✓ Planned: 3 steps · offline');
  expect(lines).toContain('  ✓ 1. Design  1.2 s');
  expect(lines).toContain(`  ${SPINNER[3]} 2. Write the code`);
  // The last two lines of its output, under it; not the first.
  const at = lines.indexOf(`  ${SPINNER[3]} 2. Write the code`);
  expect(lines.slice(at + 1, at + 3)).toEqual(['    │ line 2', '    │ line 3']);
  expect(lines).toContain('  · 3. Review');
  expect(lines.join('\n')).not.toContain('line 1');
});

test('a completed story ends with the result; a failed one with its error; the note says what the stream is doing', () => {
  const done = story([
    ...started,
    { type: 'step.finished', stepIndex: 1, durationMs: 800, attempts: 1, usage: null, truncated: false },
    { type: 'step.started', stepIndex: 2, title: 'Review' },
    { type: 'step.finished', stepIndex: 2, durationMs: 100, attempts: 1, usage: null, truncated: false, output: 'ok' },
    { type: 'run.completed', result: '# Hello\n\nprint("hello")' },
  ]);
  const lines = frame(done, { tick: 0, width: 120, outputLines: 2 });
  expect(lines[1]).toBe('Completed');
  // The result is printed under the frame, not in it: a long one would push the frame off screen.
  expect(lines.join('\n')).not.toContain('# Hello');
  expect(lines.filter((l) => l.includes('✓'))).toHaveLength(4);
  expect(summaryLine(done)).toMatch(/^✓ Completed · \d+\.\d s$/);

  const failed = frame(story([...started, { type: 'run.failed', error: 'The model refused: 401' }]), {
    tick: 0,
    width: 120,
    outputLines: 2,
    note: 'reconnecting',
  });
  expect(failed[1]).toBe('Failed · reconnecting');
  expect(failed.at(-1)).toBe('The model refused: 401');
});

test('lines are cut to the width, escape codes not counted', () => {
  expect(fit('abcdefghij', 6)).toBe('abcde…');
  expect(fitColoured('\u001b[32mabc\u001b[39m', 4)).toBe('\u001b[32mabc\u001b[39m');
  expect(frame(story(started), { tick: 0, width: 20, outputLines: 0 }).every((l) => l.length <= 20)).toBe(true);
});

test('the log has a line per event but none for output chunks', () => {
  const lines = started.map((body, i) => {
    const line = eventLine({ ...body, seq: i + 1, at: '2026-12-01T10:00:0' + i + '.000Z' } as StoryEvent);
    return line === null ? null : plain(line);
  });
  expect(lines[0]).toBe('10:00:00 started: Create a hello world python function');
  expect(lines[1]).toBe('10:00:01 planned 3 steps with offline: 1. Design; 2. Write the code; 3. Review');
  expect(lines[3]).toBe('10:00:03 step 1 completed in 1.2 s');
  expect(lines[5]).toBeNull();
});
