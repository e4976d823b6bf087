/**
 * The workflow's Story alone, driven with a fake clock: no Temporal, no timers. What it reports
 * must be its events folded by the shared reducer, as the run page folds them.
 */
import { LIMITS, type ActivityProgress, type Plan, type ProgressSnapshot, type StepResult, type StoryEvent } from '../contract/data';
import { emptyStory, foldStoryEvent } from '../contract/story-reducer';
import { MAX_STORY_EVENTS, Story } from './story';

const T0 = Date.parse('2025-01-01T00:00:00.000Z');
const MODEL = { name: 'test-model', offline: false };
const PLAN: Plan = {
  summary: 'Do it in three steps.',
  steps: [
    { title: 'Think', instructions: 'Think about it.' },
    { title: 'Write', instructions: 'Write it.' },
    { title: 'Check', instructions: 'Check it.' },
  ],
};

/** A story on a clock that only moves when the test says so. */
function newStory(task = 'Create a hello world python function') {
  let t = T0;
  const story = new Story(task, () => new Date(t));
  return {
    story,
    advance(ms: number) {
      t += ms;
    },
  };
}

function planned() {
  const s = newStory();
  s.story.planReady(PLAN, MODEL);
  return s;
}

const out = (stepIndex: number, attempt: number, offset: number, text: string): ActivityProgress => ({
  kind: 'output',
  stepIndex,
  attempt,
  offset,
  text,
});

const result = (output: string, truncated = false): StepResult => ({ output, truncated, model: MODEL, usage: null });

const types = (events: StoryEvent[]) => events.map((e) => e.type);
const outputEvents = (story: Story) => story.fullSnapshot().events.filter((e) => e.type === 'step.output');

describe('events', () => {
  test('are numbered 1..n in order, each with the clock time when it happened', () => {
    const { story, advance } = newStory();
    advance(1_000);
    story.planReady(PLAN, MODEL);
    advance(500);
    story.stepStarted(0);
    advance(250);
    story.applyProgress([out(0, 1, 0, 'hello')]);
    advance(250);
    story.stepFinished(0, result('hello'));

    const { events, lastSeq } = story.fullSnapshot();
    expect(types(events)).toEqual(['run.started', 'plan.ready', 'step.started', 'step.output', 'step.finished']);
    expect(events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(lastSeq).toBe(5);
    expect(events.map((e) => Date.parse(e.at) - T0)).toEqual([0, 1_000, 1_500, 1_750, 2_000]);
    expect(story.lastSeq).toBe(5);
  });

  test('a new story holds only run.started, and is running', () => {
    const { story } = newStory('Say hi');
    const snapshot = story.snapshot();
    expect(snapshot.events).toEqual([{ type: 'run.started', task: 'Say hi', seq: 1, at: new Date(T0).toISOString() }]);
    expect(snapshot).toMatchObject({
      status: 'running',
      task: 'Say hi',
      startedAt: new Date(T0).toISOString(),
      closedAt: null,
      planning: { status: 'running', attempt: 1 },
      plan: null,
      model: null,
      steps: [],
      result: null,
      error: null,
    });
    expect(story.isOpen).toBe(true);
  });
});

describe('plan and steps', () => {
  test('planReady completes planning and lays out pending steps', () => {
    const { story } = planned();
    const snapshot = story.snapshot();
    expect(snapshot.planning.status).toBe('completed');
    expect(snapshot.plan).toEqual(PLAN);
    expect(snapshot.model).toEqual(MODEL);
    expect(snapshot.steps.map((s) => [s.index, s.title, s.instructions, s.status, s.attempt])).toEqual([
      [0, 'Think', 'Think about it.', 'pending', 0],
      [1, 'Write', 'Write it.', 'pending', 0],
      [2, 'Check', 'Check it.', 'pending', 0],
    ]);
    expect(snapshot.events[1]).toMatchObject({ type: 'plan.ready', plan: PLAN, model: MODEL });
    // The internal counter stays internal.
    expect(snapshot.steps[0]).not.toHaveProperty('received');
  });

  test('stepStarted runs a step; stepFinished completes it with duration, usage and the returned output', () => {
    const { story, advance } = planned();
    advance(100);
    story.stepStarted(1);
    let step = story.snapshot().steps[1];
    expect(step).toMatchObject({ status: 'running', attempt: 1, output: '', startedAt: new Date(T0 + 100).toISOString() });
    expect(story.snapshot().steps[0].status).toBe('pending');

    story.applyProgress([out(1, 1, 0, 'partial ')]);
    advance(1_234);
    const usage = { promptTokens: 10, completionTokens: 5, totalTokens: 15 };
    story.stepFinished(1, { output: 'the final output', truncated: false, model: MODEL, usage });

    step = story.snapshot().steps[1];
    expect(step).toMatchObject({ status: 'completed', output: 'the final output', durationMs: 1_234, usage, truncated: false });
    const finished = story.fullSnapshot().events.at(-1);
    // The result does not continue what was streamed ('partial '): step.finished carries it.
    expect(finished).toEqual({
      type: 'step.finished',
      stepIndex: 1,
      durationMs: 1_234,
      attempts: 1,
      usage,
      // MODEL has no price: no cost, never a guess.
      cost: null,
      truncated: false,
      output: 'the final output',
      seq: 5,
      at: new Date(T0 + 1_334).toISOString(),
    });
    // With a price, the cost is in the event and the spend.
    const priced = { ...MODEL, price: { inputPerMillion: 1_000, outputPerMillion: 2_000 } };
    story.stepStarted(2);
    story.stepFinished(2, { output: 'x', truncated: false, model: priced, usage });
    expect(story.snapshot().steps[2].cost).toBeCloseTo((10 * 1_000 + 5 * 2_000) / 1_000_000, 12);
    expect(story.spend).toMatchObject({ tokens: 30, unpriced: 1 });
  });

  test('a returned output over the cap is clipped and marked truncated', () => {
    const { story } = planned();
    story.stepStarted(0);
    story.stepFinished(0, result('x'.repeat(LIMITS.stepOutputMaxChars + 10)));
    const step = story.snapshot().steps[0];
    expect(step.output).toHaveLength(LIMITS.stepOutputMaxChars);
    expect(step.truncated).toBe(true);
    expect(story.fullSnapshot().events.at(-1)).toMatchObject({ type: 'step.finished', truncated: true });
    // Nothing was streamed: the chunks recorded from the result add up to the kept output.
    expect(
      outputEvents(story)
        .map((e) => (e as { text: string }).text)
        .join(''),
    ).toBe(step.output);
  });
});

describe('output chunks', () => {
  test('apply when they continue the output; duplicates, gaps and reordered chunks change nothing', () => {
    const { story } = planned();
    story.stepStarted(0);
    story.applyProgress([out(0, 1, 0, 'Hello'), out(0, 1, 5, ', ')]);
    const before = story.fullSnapshot();

    story.applyProgress([out(0, 1, 0, 'Hello')]); // redelivered
    story.applyProgress([out(0, 1, 5, ', ')]); // redelivered
    story.applyProgress([out(0, 1, 12, '!')]); // arrived before 'world'
    story.applyProgress([out(0, 1, 3, 'XX')]); // overlaps
    story.applyProgress([out(0, 1, 7, '')]); // empty
    expect(story.fullSnapshot()).toEqual(before);

    story.applyProgress([out(0, 1, 7, 'world')]);
    story.applyProgress([out(0, 1, 12, '!')]);
    expect(story.snapshot().steps[0].output).toBe('Hello, world!');
    expect(outputEvents(story).map((e) => (e as { text: string }).text)).toEqual(['Hello', ', ', 'world', '!']);
    expect(outputEvents(story).every((e) => e.type === 'step.output' && e.stepIndex === 0 && e.attempt === 1)).toBe(true);
  });

  test('chunks for a step that is not running are ignored', () => {
    const { story } = planned();
    story.applyProgress([out(0, 1, 0, 'too early')]);
    story.stepStarted(0);
    story.stepFinished(0, result('done'));
    story.applyProgress([out(0, 1, 0, 'too late'), out(7, 1, 0, 'no such step')]);
    expect(story.snapshot().steps[0].output).toBe('done');
    // Only the result's own text (nothing was streamed), none of the early or late chunks.
    expect(outputEvents(story).map((e) => (e as { text: string }).text)).toEqual(['done']);
  });

  test('a chunk of a newer attempt starts that attempt with the reason the previous one failed', () => {
    const { story } = planned();
    story.stepStarted(0);
    story.applyProgress([out(0, 1, 0, 'first try')]);
    story.applyProgress([{ kind: 'attempt.failed', stepIndex: 0, attempt: 1, reason: 'HTTP 500 from the model' }]);
    story.applyProgress([out(0, 2, 0, 'second')]);

    const snapshot = story.fullSnapshot();
    expect(snapshot.steps[0]).toMatchObject({ status: 'running', attempt: 2, output: 'second' });
    const tail = snapshot.events.slice(-2);
    expect(tail[0]).toMatchObject({ type: 'step.retrying', stepIndex: 0, attempt: 2, reason: 'HTTP 500 from the model' });
    expect(tail[1]).toMatchObject({ type: 'step.output', stepIndex: 0, attempt: 2, text: 'second' });
  });

  test('a newer attempt with no failure report gets the "stopped without reporting" reason', () => {
    const { story } = planned();
    story.stepStarted(0);
    story.applyProgress([out(0, 1, 0, 'lost')]);
    story.applyProgress([out(0, 3, 0, 'third')]);
    const retrying = story.fullSnapshot().events.filter((e) => e.type === 'step.retrying');
    expect(retrying).toEqual([
      expect.objectContaining({ stepIndex: 0, attempt: 3, reason: expect.stringMatching(/stopped without reporting/) }),
    ]);
    expect(story.snapshot().steps[0]).toMatchObject({ attempt: 3, output: 'third' });
  });

  test('attempt.started announces a retry once; the output starts over', () => {
    const { story } = planned();
    story.stepStarted(2);
    story.applyProgress([out(2, 1, 0, 'abc'), { kind: 'attempt.failed', stepIndex: 2, attempt: 1, reason: 'timeout' }]);
    story.applyProgress([{ kind: 'attempt.started', stepIndex: 2, attempt: 2 }]);
    expect(story.snapshot().steps[2]).toMatchObject({ attempt: 2, output: '', truncated: false });
    // The same start again, and the first chunk of that attempt, announce nothing more.
    story.applyProgress([{ kind: 'attempt.started', stepIndex: 2, attempt: 2 }, out(2, 2, 0, 'xyz')]);
    const retrying = story.fullSnapshot().events.filter((e) => e.type === 'step.retrying');
    expect(retrying).toEqual([expect.objectContaining({ stepIndex: 2, attempt: 2, reason: 'timeout' })]);
    expect(story.snapshot().steps[2].output).toBe('xyz');
  });

  test('chunks and starts of stale attempts are ignored', () => {
    const { story } = planned();
    story.stepStarted(0);
    story.applyProgress([out(0, 2, 0, 'new')]);
    const before = story.fullSnapshot();
    story.applyProgress([out(0, 1, 0, 'old'), out(0, 1, 3, 'er'), { kind: 'attempt.started', stepIndex: 0, attempt: 1 }]);
    expect(story.fullSnapshot()).toEqual(before);
    expect(story.snapshot().steps[0]).toMatchObject({ attempt: 2, output: 'new' });
  });

  test('a planning retry is announced with stepIndex null', () => {
    const { story } = newStory();
    story.applyProgress([
      { kind: 'attempt.failed', stepIndex: null, attempt: 1, reason: 'rate limited' },
      { kind: 'attempt.started', stepIndex: null, attempt: 2 },
    ]);
    expect(story.snapshot().planning).toEqual({ status: 'running', attempt: 2 });
    expect(story.fullSnapshot().events.at(-1)).toMatchObject({
      type: 'step.retrying',
      stepIndex: null,
      attempt: 2,
      reason: 'rate limited',
    });
  });

  test('a long failure reason is clipped', () => {
    const { story } = planned();
    story.stepStarted(0);
    story.applyProgress([{ kind: 'attempt.failed', stepIndex: 0, attempt: 1, reason: 'r'.repeat(5_000) }, out(0, 2, 0, 'x')]);
    const retrying = story.fullSnapshot().events.find((e) => e.type === 'step.retrying') as { reason: string };
    expect(retrying.reason.length).toBe(LIMITS.messageMaxChars);
  });

  test('output stops at the cap: the step is marked truncated and no event goes beyond it', () => {
    const { story } = planned();
    story.stepStarted(0);
    const chunk = 'y'.repeat(LIMITS.chunkMaxChars);
    let offset = 0;
    // Five chunks of 4,000 = 20,000 characters against a 16,000 cap.
    for (let i = 0; i < 5; i++) {
      story.applyProgress([out(0, 1, offset, chunk)]);
      offset += chunk.length;
    }
    const step = story.snapshot().steps[0];
    expect(step.output).toHaveLength(LIMITS.stepOutputMaxChars);
    expect(step.truncated).toBe(true);
    const streamed = outputEvents(story).map((e) => (e as { text: string }).text);
    expect(streamed.join('')).toHaveLength(LIMITS.stepOutputMaxChars);
    // Four full chunks, then one that says the output was cut: it had no room for any text.
    expect(streamed).toHaveLength(5);
    expect(outputEvents(story).at(-1)).toMatchObject({ text: '', truncated: true });

    // The offsets keep counting what arrived, so later chunks are still recognised and dropped.
    const lastSeq = story.lastSeq;
    story.applyProgress([out(0, 1, offset, 'more')]);
    expect(story.lastSeq).toBe(lastSeq);
  });

  test('the result brings the output the signals did not: recorded as chunks before step.finished', () => {
    const { story } = planned();
    story.stepStarted(0);
    story.applyProgress([out(0, 1, 0, 'hello ')]);
    story.stepFinished(0, result('hello world'));
    const events = story.fullSnapshot().events.slice(-3);
    expect(events).toMatchObject([
      { type: 'step.output', stepIndex: 0, attempt: 1, text: 'hello ' },
      { type: 'step.output', stepIndex: 0, attempt: 1, text: 'world' },
      { type: 'step.finished', stepIndex: 0 },
    ]);
  });

  test('with nothing streamed, the whole output is recorded in chunks of at most chunkMaxChars', () => {
    const { story } = planned();
    story.stepStarted(0);
    story.applyProgress([{ kind: 'attempt.started', stepIndex: 0, attempt: 2 }]);
    const text = 'z'.repeat(LIMITS.chunkMaxChars * 2 + 5);
    story.stepFinished(0, result(text));
    const chunks = outputEvents(story);
    expect(chunks.map((e) => (e as { text: string }).text.length)).toEqual([LIMITS.chunkMaxChars, LIMITS.chunkMaxChars, 5]);
    expect(chunks.every((e) => e.type === 'step.output' && e.attempt === 2)).toBe(true);
    expect(story.fullSnapshot().events.at(-1)).toMatchObject({ type: 'step.finished', attempts: 2 });
  });

  test('no chunk is added when the stream already had it all, or when the result does not continue it', () => {
    const { story } = planned();
    story.stepStarted(0);
    story.applyProgress([out(0, 1, 0, 'all of it')]);
    story.stepFinished(0, result('all of it'));
    story.stepStarted(1);
    story.applyProgress([out(1, 1, 0, 'something else')]);
    story.stepFinished(1, result('another text'));
    expect(outputEvents(story).map((e) => (e as { text: string }).text)).toEqual(['all of it', 'something else']);
    expect(story.snapshot().steps[1].output).toBe('another text');
  });

  test('a chunk that crosses the cap keeps what fits', () => {
    const { story } = planned();
    story.stepStarted(0);
    const first = 'a'.repeat(LIMITS.stepOutputMaxChars - 3);
    story.applyProgress([out(0, 1, 0, first), out(0, 1, first.length, 'bcdef')]);
    const step = story.snapshot().steps[0];
    expect(step.output).toBe(`${first}bcd`);
    expect(step.truncated).toBe(true);
    expect(outputEvents(story).at(-1)).toMatchObject({ text: 'bcd' });
  });

  test(`at most ${MAX_STORY_EVENTS} events: output events beyond that are dropped, other events still recorded`, () => {
    const { story } = planned();
    story.stepStarted(0);
    const chunks = MAX_STORY_EVENTS + 50;
    story.applyProgress(Array.from({ length: chunks }, (_, i) => out(0, 1, i, 'z')));
    expect(story.lastSeq).toBe(MAX_STORY_EVENTS);
    // The state is what the events carry: the page, folding the same events, shows the same.
    expect(story.snapshot().steps[0].output).toHaveLength(MAX_STORY_EVENTS - 3);

    // The events before step.finished do not add up to the result: step.finished carries it.
    story.stepFinished(0, result('z'.repeat(chunks)));
    expect(story.snapshot().steps[0].output).toHaveLength(chunks);
    story.failed('stopped');
    const { events } = story.fullSnapshot();
    expect(events).toHaveLength(MAX_STORY_EVENTS + 2);
    expect(types(events.slice(-2))).toEqual(['step.finished', 'run.failed']);
    expect(events.at(-2)).toMatchObject({ output: 'z'.repeat(chunks) });
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
  });
});

describe('snapshot paging', () => {
  /** A story with `n` events in all. */
  function storyWith(n: number): Story {
    const { story } = planned();
    story.stepStarted(0);
    const chunks = n - 3;
    story.applyProgress(Array.from({ length: chunks }, (_, i) => out(0, 1, i, '.')));
    expect(story.lastSeq).toBe(n);
    return story;
  }

  test('returns events after `after`, at most `limit`, and says whether more follow', () => {
    const story = storyWith(10);
    const page = story.snapshot({ after: 3, limit: 4 });
    expect(page.events.map((e) => e.seq)).toEqual([4, 5, 6, 7]);
    expect(page.hasMore).toBe(true);
    expect(page.lastSeq).toBe(10);

    const last = story.snapshot({ after: 7, limit: 4 });
    expect(last.events.map((e) => e.seq)).toEqual([8, 9, 10]);
    expect(last.hasMore).toBe(false);

    const none = story.snapshot({ after: 10 });
    expect(none.events).toEqual([]);
    expect(none.hasMore).toBe(false);
    expect(story.snapshot({ after: 50 }).events).toEqual([]);
  });

  test(`the default page is ${LIMITS.eventsPageDefault}; a larger limit is clamped to ${LIMITS.eventsPageMax}`, () => {
    const story = storyWith(LIMITS.eventsPageMax + 100);
    const first = story.snapshot();
    expect(first.events).toHaveLength(LIMITS.eventsPageDefault);
    expect(first.events[0].seq).toBe(1);
    expect(first.hasMore).toBe(true);

    const big = story.snapshot({ limit: 100_000 });
    expect(big.events).toHaveLength(LIMITS.eventsPageMax);
    expect(big.hasMore).toBe(true);
    const rest = story.snapshot({ after: LIMITS.eventsPageMax, limit: 100_000 });
    expect(rest.events.map((e) => e.seq)).toEqual(Array.from({ length: 100 }, (_, i) => LIMITS.eventsPageMax + 1 + i));
    expect(rest.hasMore).toBe(false);
  });

  test('odd arguments are made sane', () => {
    const story = storyWith(10);
    expect(story.snapshot({ after: -5, limit: 2 }).events.map((e) => e.seq)).toEqual([1, 2]);
    expect(story.snapshot({ after: 2.7, limit: 1.9 }).events.map((e) => e.seq)).toEqual([3]);
    expect(story.snapshot({ after: Number.NaN, limit: Number.NaN }).events[0].seq).toBe(1);
    expect(story.snapshot({ limit: -3 }).events).toHaveLength(1);
  });

  test('an events page (the story query) is the snapshot without the state, for any arguments', () => {
    const story = storyWith(LIMITS.eventsPageMax + 20);
    const cases = [
      {},
      { after: 3, limit: 4 },
      { after: LIMITS.eventsPageMax, limit: 100_000 },
      { after: -5, limit: 1.9 },
      { after: 10_000 },
    ];
    for (const args of cases) {
      const { status, lastSeq, events, hasMore } = story.snapshot(args);
      expect(story.eventsPage(args)).toEqual({ status, lastSeq, events, hasMore });
    }
    expect(Object.keys(story.eventsPage()).sort()).toEqual(['events', 'hasMore', 'lastSeq', 'status']);
  });

  test('a snapshot is a copy: changing it does not change the story', () => {
    const story = storyWith(5);
    const snapshot = story.snapshot();
    snapshot.steps[0].output = 'tampered';
    snapshot.planning.status = 'failed';
    snapshot.events.pop();
    const again = story.snapshot();
    expect(again.steps[0].output).toBe('..');
    expect(again.planning.status).toBe('completed');
    expect(again.events).toHaveLength(5);
  });
});

describe('digest', () => {
  test('is empty before any step completes, then lists completed outputs under their titles', () => {
    const { story } = planned();
    expect(story.digest()).toBe('');
    story.stepStarted(0);
    story.stepFinished(0, result('thought'));
    story.stepStarted(1);
    story.applyProgress([out(1, 1, 0, 'half written')]);
    expect(story.digest()).toBe('Step 1 (Think):\nthought');
  });

  test.each([1, 2, 3])(`stays within ${LIMITS.digestMaxChars} characters with %i long outputs`, (n) => {
    const { story } = planned();
    for (let i = 0; i < n; i++) {
      story.stepStarted(i);
      story.stepFinished(i, result(String(i).repeat(LIMITS.stepOutputMaxChars)));
    }
    const digest = story.digest();
    expect(digest.length).toBeLessThanOrEqual(LIMITS.digestMaxChars);
    // Every step is represented, not just the first.
    for (let i = 0; i < n; i++) expect(digest).toContain(`Step ${i + 1} (${PLAN.steps[i].title}):\n${i}`);
  });
});

describe('closing the run', () => {
  test('completed records the result and closes the run', () => {
    const { story, advance } = planned();
    for (let i = 0; i < 3; i++) {
      story.stepStarted(i);
      story.stepFinished(i, result(`out ${i}`));
    }
    advance(5_000);
    const doc = story.assemble();
    story.completed(doc);
    const snapshot = story.fullSnapshot();
    expect(snapshot).toMatchObject({ status: 'completed', result: doc, closedAt: new Date(T0 + 5_000).toISOString() });
    expect(snapshot.events.at(-1)).toMatchObject({ type: 'run.completed', result: doc });
    expect(story.isOpen).toBe(false);
    expect(doc).toContain('## 2. Write\n\nout 1');
  });

  test('failed marks the running step failed, keeps the others, and closes the run', () => {
    const { story, advance } = planned();
    story.stepStarted(0);
    story.stepFinished(0, result('ok'));
    story.stepStarted(1);
    advance(42);
    story.failed('the model refused');
    const snapshot = story.fullSnapshot();
    expect(snapshot.steps.map((s) => s.status)).toEqual(['completed', 'failed', 'pending']);
    expect(snapshot).toMatchObject({ status: 'failed', error: 'the model refused', closedAt: new Date(T0 + 42).toISOString() });
    expect(snapshot.events.at(-1)).toMatchObject({ type: 'run.failed', error: 'the model refused' });
    expect(story.isOpen).toBe(false);
  });

  test('failed during planning marks planning failed; the error is clipped', () => {
    const { story } = newStory();
    story.failed('e'.repeat(LIMITS.messageMaxChars * 2));
    const snapshot = story.snapshot();
    expect(snapshot.planning.status).toBe('failed');
    expect(snapshot.error).toHaveLength(LIMITS.messageMaxChars);
  });

  test('cancelled marks the running step cancelled and closes the run', () => {
    const { story } = planned();
    story.stepStarted(0);
    story.cancelled();
    const snapshot = story.fullSnapshot();
    expect(snapshot.status).toBe('cancelled');
    expect(snapshot.steps.map((s) => s.status)).toEqual(['cancelled', 'pending', 'pending']);
    expect(snapshot.closedAt).not.toBeNull();
    expect(snapshot.events.at(-1)?.type).toBe('run.cancelled');
    // Progress arriving after the end changes nothing.
    const before = story.fullSnapshot();
    story.applyProgress([out(0, 1, 0, 'late'), { kind: 'attempt.started', stepIndex: 0, attempt: 2 }]);
    expect(story.fullSnapshot()).toEqual(before);
  });
});

test('fullSnapshot has every event, beyond the page limit', () => {
  const { story } = planned();
  story.stepStarted(0);
  const n = LIMITS.eventsPageMax * 2;
  story.applyProgress(Array.from({ length: n }, (_, i) => out(0, 1, i, 'q')));
  story.stepFinished(0, result('q'.repeat(n)));
  const full = story.fullSnapshot();
  expect(full.events).toHaveLength(n + 4);
  expect(full.events.map((e) => e.seq)).toEqual(Array.from({ length: n + 4 }, (_, i) => i + 1));
  expect(full.hasMore).toBe(false);
  expect(full.lastSeq).toBe(n + 4);
});

describe('what the story reports is its events folded by the shared reducer', () => {
  /** The snapshot's state against its events folded from an empty story, as the page folds them. */
  function expectFolded(snapshot: ProgressSnapshot) {
    const { events, hasMore, ...state } = snapshot;
    expect(hasMore).toBe(false);
    expect(events.reduce(foldStoryEvent, emptyStory())).toEqual(state);
  }

  test('a completed run with streamed output, a retried step and a result that does not continue the stream', () => {
    const { story, advance } = planned();
    story.stepStarted(0);
    story.applyProgress([out(0, 1, 0, 'Hello '), out(0, 1, 6, 'world')]);
    expectFolded(story.fullSnapshot());
    advance(1_000);
    story.stepFinished(0, result('Hello world, in full'));
    story.stepStarted(1);
    story.applyProgress([out(1, 1, 0, 'partial that is thrown away')]);
    story.applyProgress([{ kind: 'attempt.failed', stepIndex: 1, attempt: 1, reason: 'The model endpoint failed (500).' }]);
    story.applyProgress([{ kind: 'attempt.started', stepIndex: 1, attempt: 2 }, out(1, 2, 0, 'second try, streamed')]);
    expectFolded(story.fullSnapshot());
    advance(1_000);
    story.stepFinished(1, result('second try, as returned'));
    story.stepStarted(2);
    story.stepFinished(2, result('three'));
    story.completed(story.assemble());
    const final = story.fullSnapshot();
    expectFolded(final);
    expect(final.steps.map((s) => s.output)).toEqual(['Hello world, in full', 'second try, as returned', 'three']);
  });

  test('a step cut at the cap, mid-step and once finished', () => {
    const { story } = planned();
    story.stepStarted(0);
    const chunk = 'y'.repeat(LIMITS.chunkMaxChars);
    for (let i = 0; i < 5; i++) story.applyProgress([out(0, 1, i * chunk.length, chunk)]);
    expectFolded(story.fullSnapshot());
    expect(story.snapshot().steps[0].truncated).toBe(true);
    story.stepFinished(0, result('y'.repeat(LIMITS.chunkMaxChars * 5)));
    expectFolded(story.fullSnapshot());
  });

  test('a story whose event cap dropped output chunks', () => {
    const { story } = planned();
    story.stepStarted(0);
    const chunks = MAX_STORY_EVENTS + 10;
    story.applyProgress(Array.from({ length: chunks }, (_, i) => out(0, 1, i, 'z')));
    expectFolded(story.fullSnapshot());
    story.stepFinished(0, result('z'.repeat(chunks)));
    expectFolded(story.fullSnapshot());
  });

  test('a failed run and a cancelled run', () => {
    const failed = planned().story;
    failed.stepStarted(0);
    failed.applyProgress([out(0, 1, 0, 'so far')]);
    failed.failed('Step 1 (Think) failed: rejected');
    expectFolded(failed.fullSnapshot());

    const cancelled = newStory().story;
    cancelled.applyProgress([{ kind: 'attempt.started', stepIndex: null, attempt: 2 }]);
    cancelled.cancelled();
    expectFolded(cancelled.fullSnapshot());
  });
});

describe('budget stops', () => {
  const stop = { kind: 'budget', budget: 'tokens', used: 900, limit: 1_000, stepIndex: 0 } as const;
  const approve = (budget?: Record<string, number>, edit?: unknown) =>
    ({ requestId: `r-${Math.random()}`, revision: 1, by: 'ann', decision: 'approve', budget, edit }) as never;

  test('before planning (no plan yet): a raise is taken, an edit is refused', () => {
    const { story } = newStory();
    story.budgetCap = { tokens: 5_000 };
    story.reviewWaiting(stop, new Date(T0 + 1_000));
    expect(story.checkReview(approve({ tokens: 2_000 }, { steps: [] }))).toBe('There is no plan to edit yet.');
    expect(story.checkReview(approve({ tokens: 9_000 }))).toBe('The tokens limit can be at most 5000 here.');
    expect(story.checkReview(approve({ tokens: 900 }))).toBe('The new tokens limit must be above what the run has used.');
    expect(story.checkReview(approve({ cost: 1 }))).toMatch(/^To go on, raise the tokens limit/);
    const outcome = story.answerReview(approve({ tokens: 2_000 }));
    expect(outcome.decision).toBe('approve');
    expect(story.raisedBudget()).toEqual({ tokens: 2_000 });
    // Taken once.
    expect(story.raisedBudget()).toBeNull();
    expect(types(story.fullSnapshot().events)).toEqual(['run.started', 'review.waiting', 'budget.raised', 'review.approved']);
  });

  test('new limits are refused where the run did not stop at one', () => {
    const { story } = planned();
    story.reviewWaiting({ kind: 'plan' }, new Date(T0 + 1_000));
    expect(story.checkReview(approve({ tokens: 2_000 }))).toBe('New limits can only be set where the run stopped at one.');
  });
});
