/**
 * The page's reducer against the workflow's own Story: applying the story's events one by one
 * to an empty view must give the state the workflow reports, whatever happened in the run.
 */
import { Story } from '../../../workflows/story';
import type { ActivityProgress, Plan, ProgressSnapshot, StepResult } from '../../../contract/data';
import { applyEvent, emptyView, eventId, parseEventId, type StoryView } from './story-view';

const plan: Plan = {
  summary: 'Three steps',
  steps: [
    { title: 'One', instructions: 'first' },
    { title: 'Two', instructions: 'second' },
    { title: 'Three', instructions: 'third' },
  ],
};
const model = { name: 'm', offline: false };
const result = (output: string): StepResult => ({ output, truncated: false, model, usage: { promptTokens: 1, completionTokens: 2, totalTokens: 3 } });

function story(): { story: Story; tick: () => void } {
  let t = Date.UTC(2026, 0, 1);
  const s = new Story('Do it', () => new Date(t));
  return { story: s, tick: () => (t += 1_000) };
}

function replay(snapshot: ProgressSnapshot): StoryView {
  return snapshot.events.reduce(applyEvent, emptyView('run-1', '', ''));
}

/** What the page shows must equal what the workflow holds (events: the page keeps no output chunks). */
function expectSameState(view: StoryView, snapshot: ProgressSnapshot) {
  const { events, hasMore: _h, ...rest } = snapshot;
  const { events: viewEvents, hasMore: _v, runId: _r, gap, ...viewRest } = view;
  expect(gap).toBe(false);
  expect(viewRest).toEqual(rest);
  expect(viewEvents).toEqual(events.filter((e) => e.type !== 'step.output'));
}

const out = (stepIndex: number, attempt: number, offset: number, text: string): ActivityProgress => ({ kind: 'output', stepIndex, attempt, offset, text });

test('a completed run with streamed output and a retried step', () => {
  const { story: s, tick } = story();
  tick();
  s.planReady(plan, model);
  s.stepStarted(0);
  s.applyProgress([out(0, 1, 0, 'Hello '), out(0, 1, 6, 'world')]);
  tick();
  s.stepFinished(0, result('Hello world'));
  s.stepStarted(1);
  s.applyProgress([out(1, 1, 0, 'partial that is thrown away')]);
  s.applyProgress([{ kind: 'attempt.failed', stepIndex: 1, attempt: 1, reason: 'The model endpoint failed (500).' }]);
  s.applyProgress([{ kind: 'attempt.started', stepIndex: 1, attempt: 2 }, out(1, 2, 0, 'second try')]);
  tick();
  s.stepFinished(1, result('second try'));
  s.stepStarted(2);
  s.applyProgress([out(2, 1, 0, 'three')]);
  s.stepFinished(2, result('three'));
  s.completed(s.assemble());
  expectSameState(replay(s.fullSnapshot()), s.fullSnapshot());
});

test('a failed run and a cancelled run', () => {
  const failed = story().story;
  failed.planReady(plan, model);
  failed.stepStarted(0);
  failed.applyProgress([out(0, 1, 0, 'so far')]);
  failed.failed('Step 1 (One) failed: rejected');
  expectSameState(replay(failed.fullSnapshot()), failed.fullSnapshot());

  const cancelled = story().story;
  cancelled.cancelled();
  expectSameState(replay(cancelled.fullSnapshot()), cancelled.fullSnapshot());
});

test('from a mid-run snapshot, the rest of the events bring the page to the final state', () => {
  const { story: s } = story();
  s.planReady(plan, model);
  s.stepStarted(0);
  s.applyProgress([out(0, 1, 0, 'abc')]);
  const mid = s.fullSnapshot();
  s.applyProgress([out(0, 1, 3, 'def')]);
  s.stepFinished(0, result('abcdef'));
  s.failed('stopped');
  const final = s.fullSnapshot();
  // The page renders `mid` on the server (without output chunks), then applies what follows.
  const start: StoryView = { ...mid, events: mid.events.filter((e) => e.type !== 'step.output'), runId: 'run-1', gap: false };
  const view = final.events.filter((e) => e.seq > mid.lastSeq).reduce(applyEvent, start);
  expectSameState(view, final);
});

test('an event seen twice changes nothing; a gap is flagged, not papered over', () => {
  const { story: s } = story();
  s.planReady(plan, model);
  s.stepStarted(0);
  const events = s.fullSnapshot().events;
  const once = events.reduce(applyEvent, emptyView('r', '', ''));
  const twice = [...events, ...events].reduce(applyEvent, emptyView('r', '', ''));
  expect(twice).toEqual(once);
  const gapped = [events[0], events[2]].reduce(applyEvent, emptyView('r', '', ''));
  expect(gapped.gap).toBe(true);
  expect(gapped.lastSeq).toBe(1);
});

test('event ids name the run and the sequence number', () => {
  expect(parseEventId(eventId('01a2-b3', 42))).toEqual({ runId: '01a2-b3', seq: 42 });
  for (const bad of ['', '42', 'run:', ':1', 'run:-1', 'run:1:2', 'a b:1']) expect(parseEventId(bad)).toBeNull();
});
