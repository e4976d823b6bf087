/**
 * The page's layer over the story reducer (contract/story-reducer.test.ts tests the reducer):
 * its state is the reducer's, plus the run id, a gap flag and the events without output chunks.
 */
import type { Plan, StoryEvent, StoryEventBody } from '../../../contract/data';
import { emptyStory, foldStoryEvent } from '../../../contract/story-reducer';
import { applyEvent, emptyView, eventId, parseEventId, type StoryView } from './story-view';

const plan: Plan = {
  summary: 'Two steps',
  steps: [
    { title: 'One', instructions: 'first' },
    { title: 'Two', instructions: 'second' },
  ],
};
const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();

const bodies: StoryEventBody[] = [
  { type: 'run.started', task: 'Do it' },
  { type: 'plan.ready', plan, model: { name: 'm', offline: false } },
  { type: 'step.started', stepIndex: 0, title: 'One' },
  { type: 'step.output', stepIndex: 0, attempt: 1, text: 'Hello ' },
  { type: 'step.output', stepIndex: 0, attempt: 1, text: 'world' },
  { type: 'step.finished', stepIndex: 0, durationMs: 1_000, attempts: 1, usage: null, truncated: false },
  { type: 'step.started', stepIndex: 1, title: 'Two' },
  { type: 'step.output', stepIndex: 1, attempt: 1, text: 'draft' },
  { type: 'step.finished', stepIndex: 1, durationMs: 1_000, attempts: 1, usage: null, truncated: false, output: 'final' },
  { type: 'run.completed', result: '# Done' },
];
const events: StoryEvent[] = bodies.map((body, i) => ({ ...body, seq: i + 1, at: at(i + 1) }) as StoryEvent);
const withoutChunks = (list: StoryEvent[]) => list.filter((e) => e.type !== 'step.output');

test("the view holds the reducer's state, its run, and the events but output chunks", () => {
  const view = events.reduce(applyEvent, emptyView('run-1', '', ''));
  const { runId, gap, events: listed, hasMore, ...state } = view;
  expect(state).toEqual(events.reduce(foldStoryEvent, emptyStory()));
  expect({ runId, gap, hasMore }).toEqual({ runId: 'run-1', gap: false, hasMore: false });
  expect(listed).toEqual(withoutChunks(events));
  expect(view.steps.map((s) => s.output)).toEqual(['Hello world', 'final']);
});

test('from the snapshot the server rendered mid-run, the rest of the events bring the page to the final state', () => {
  const mid = events.slice(0, 4).reduce(foldStoryEvent, emptyStory());
  // The server renders the workflow's snapshot without output chunks (routes/runs.$runId.tsx).
  const start: StoryView = { ...mid, events: withoutChunks(events.slice(0, 4)), hasMore: false, runId: 'run-1', gap: false };
  const view = events.slice(4).reduce(applyEvent, start);
  expect(view).toEqual(events.reduce(applyEvent, emptyView('run-1', '', '')));
});

test('an event seen twice changes nothing; a gap is flagged, not papered over', () => {
  const once = events.reduce(applyEvent, emptyView('r', '', ''));
  const twice = [...events, ...events].reduce(applyEvent, emptyView('r', '', ''));
  expect(twice).toEqual(once);
  const gapped = [events[0], events[2]].reduce(applyEvent, emptyView('r', '', ''));
  expect(gapped.gap).toBe(true);
  expect(gapped.lastSeq).toBe(1);
});

test('an empty view shows the task and start time it was given until run.started arrives', () => {
  expect(emptyView('r', 'the task', at(0))).toMatchObject({
    runId: 'r',
    task: 'the task',
    startedAt: at(0),
    status: 'running',
    events: [],
    gap: false,
  });
});

test('event ids name the run and the sequence number', () => {
  expect(parseEventId(eventId('01a2-b3', 42))).toEqual({ runId: '01a2-b3', seq: 42 });
  for (const bad of ['', '42', 'run:', ':1', 'run:-1', 'run:1:2', 'a b:1']) expect(parseEventId(bad)).toBeNull();
});
