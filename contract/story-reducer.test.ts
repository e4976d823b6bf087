/**
 * The story's one reducer, event by event. The workflow (workflows/story.test.ts) and the run page
 * (web/app/utils/story-view.test.ts) fold with it; here is what each event does to the state.
 */
import type { Plan, StoryEvent, StoryEventBody, StoryState } from './data';
import { emptyStory, foldStoryEvent } from './story-reducer';

const PLAN: Plan = {
  summary: 'Two steps',
  steps: [
    { title: 'One', instructions: 'first' },
    { title: 'Two', instructions: 'second' },
  ],
};
const MODEL = { name: 'm', offline: false };
const USAGE = { promptTokens: 1, completionTokens: 2, totalTokens: 3 };
const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();

/** Numbers the bodies 1..n, one second apart, as the workflow records them. */
function events(...bodies: StoryEventBody[]): StoryEvent[] {
  return bodies.map((body, i) => ({ ...body, seq: i + 1, at: at(i + 1) }) as StoryEvent);
}

const fold = (list: StoryEvent[], from: StoryState = emptyStory()) => list.reduce(foldStoryEvent, from);

const START: StoryEventBody[] = [
  { type: 'run.started', task: 'Do it' },
  { type: 'plan.ready', plan: PLAN, model: MODEL },
  { type: 'step.started', stepIndex: 0, title: 'One' },
];

test('an empty story is running, with nothing planned; run.started sets the task and the start time', () => {
  expect(emptyStory()).toEqual({
    status: 'running',
    task: '',
    startedAt: '',
    closedAt: null,
    planning: { status: 'running', attempt: 1 },
    plan: null,
    model: null,
    steps: [],
    result: null,
    error: null,
    review: null,
    queue: null,
    parent: null,
    spend: { tokens: 0, cost: 0, unpriced: 0, estimated: false },
    lastSeq: 0,
  });
  expect(emptyStory('placeholder', at(0))).toMatchObject({ task: 'placeholder', startedAt: at(0) });
  expect(fold(events({ type: 'run.started', task: 'Say hi' }), emptyStory('placeholder', at(0)))).toMatchObject({
    task: 'Say hi',
    startedAt: at(1),
    lastSeq: 1,
  });
});

test('run.queued and run.dequeued: the run waits for a slot, then goes on; a run cancelled in line is not queued any more', () => {
  const queued = fold(events({ type: 'run.started', task: 'Say hi' }, { type: 'run.queued', owner: 'alice' }));
  expect(queued.queue).toEqual({ since: at(2) });
  expect(queued.status).toBe('running');
  const [, , dequeued] = events(
    { type: 'run.started', task: 'Say hi' },
    { type: 'run.queued', owner: 'alice' },
    { type: 'run.dequeued', order: 3, passedBy: 0 },
  );
  expect(fold([dequeued], queued).queue).toBeNull();
  const [, , cancelled] = events(
    { type: 'run.started', task: 'Say hi' },
    { type: 'run.queued', owner: 'alice' },
    { type: 'run.cancelled' },
  );
  expect(fold([cancelled], queued)).toMatchObject({ queue: null, status: 'cancelled' });
});

test('plan.ready completes planning and lists the steps, pending; step.started runs one', () => {
  const state = fold(events(...START));
  expect(state).toMatchObject({ plan: PLAN, model: MODEL, planning: { status: 'completed', attempt: 1 }, lastSeq: 3 });
  expect(state.steps).toEqual([
    {
      index: 0,
      title: 'One',
      instructions: 'first',
      status: 'running',
      attempt: 1,
      output: '',
      truncated: false,
      startedAt: at(3),
      durationMs: null,
      usage: null,
      cost: null,
      ask: false,
      kept: false,
    },
    {
      index: 1,
      title: 'Two',
      instructions: 'second',
      status: 'pending',
      attempt: 0,
      output: '',
      truncated: false,
      startedAt: null,
      durationMs: null,
      usage: null,
      cost: null,
      ask: false,
      kept: false,
    },
  ]);
});

test("step.output adds to the current attempt's output; a chunk of another attempt only moves the sequence on", () => {
  const state = fold(
    events(
      ...START,
      { type: 'step.output', stepIndex: 0, attempt: 1, text: 'Hello ' },
      { type: 'step.output', stepIndex: 0, attempt: 2, text: 'stale' },
      { type: 'step.output', stepIndex: 0, attempt: 1, text: 'world' },
    ),
  );
  expect(state.steps[0]).toMatchObject({ output: 'Hello world', truncated: false });
  expect(state.lastSeq).toBe(6);
});

test('a chunk marked truncated marks the step truncated; a retry starts the output over', () => {
  const cut = fold(events(...START, { type: 'step.output', stepIndex: 0, attempt: 1, text: 'abc', truncated: true }));
  expect(cut.steps[0]).toMatchObject({ output: 'abc', truncated: true });
  const retried = fold([{ type: 'step.retrying', stepIndex: 0, attempt: 2, reason: 'boom', seq: 5, at: at(5) }], cut);
  expect(retried.steps[0]).toMatchObject({ attempt: 2, output: '', truncated: false, status: 'running' });
});

test('a planning retry counts the attempt; planning stays running', () => {
  const state = fold(
    events({ type: 'run.started', task: 'x' }, { type: 'step.retrying', stepIndex: null, attempt: 2, reason: 'rate limited' }),
  );
  expect(state.planning).toEqual({ status: 'running', attempt: 2 });
});

describe('step.finished', () => {
  const finished = { type: 'step.finished', stepIndex: 0, durationMs: 1_500, attempts: 2, usage: USAGE, truncated: true } as const;

  test('completes the step with its attempts, duration, usage and truncation, keeping the streamed output', () => {
    const state = fold(events(...START, { type: 'step.output', stepIndex: 0, attempt: 1, text: 'streamed' }, finished));
    expect(state.steps[0]).toMatchObject({
      status: 'completed',
      attempt: 2,
      durationMs: 1_500,
      usage: USAGE,
      truncated: true,
      output: 'streamed',
    });
  });

  test('with an output, replaces the streamed one: the result is authoritative', () => {
    const state = fold(
      events(...START, { type: 'step.output', stepIndex: 0, attempt: 1, text: 'streamed' }, { ...finished, output: 'final' }),
    );
    expect(state.steps[0].output).toBe('final');
  });
});

test('run.completed closes the run with its result', () => {
  const state = fold(events({ type: 'run.started', task: 'x' }, { type: 'run.completed', result: '# Done' }));
  expect(state).toMatchObject({ status: 'completed', result: '# Done', closedAt: at(2), error: null });
});

test('run.failed and run.cancelled close the run and end what was under way, not what was done or pending', () => {
  const under = events(
    ...START,
    { type: 'step.finished', stepIndex: 0, durationMs: 1, attempts: 1, usage: null, truncated: false },
    { type: 'step.started', stepIndex: 1, title: 'Two' },
  );
  const failed = fold([...under, { type: 'run.failed', error: 'boom', seq: 6, at: at(6) }]);
  expect(failed).toMatchObject({ status: 'failed', error: 'boom', closedAt: at(6) });
  expect(failed.steps.map((s) => s.status)).toEqual(['completed', 'failed']);

  const cancelled = fold(events({ type: 'run.started', task: 'x' }, { type: 'run.cancelled' }));
  expect(cancelled).toMatchObject({ status: 'cancelled', closedAt: at(2), planning: { status: 'cancelled', attempt: 1 } });
});

test('only the next event in sequence applies: one seen again or one after a gap leaves the state as it is', () => {
  const list = events(...START);
  const state = fold(list);
  expect(foldStoryEvent(state, list[1])).toBe(state);
  expect(foldStoryEvent(state, { type: 'run.completed', result: 'r', seq: 5, at: at(5) })).toBe(state);
});

test('an event type it does not know (a newer workflow) moves the sequence on and changes nothing else', () => {
  const state = fold(events(...START));
  const unknown = { type: 'step.paused', stepIndex: 0, seq: 4, at: at(4) } as unknown as StoryEvent;
  expect(foldStoryEvent(state, unknown)).toEqual({ ...state, lastSeq: 4 });
});

test('never changes a state in place, and keeps fields of its own that a caller adds', () => {
  const deepFreeze = <T>(value: T): T => {
    if (value && typeof value === 'object') {
      Object.values(value).forEach(deepFreeze);
      Object.freeze(value);
    }
    return value;
  };
  const list = events(
    ...START,
    { type: 'step.output', stepIndex: 0, attempt: 1, text: 'a' },
    { type: 'step.retrying', stepIndex: 0, attempt: 2, reason: 'r' },
    { type: 'step.finished', stepIndex: 0, durationMs: 1, attempts: 2, usage: null, truncated: false, output: 'b' },
    { type: 'run.failed', error: 'e' },
  );
  let state = deepFreeze({ ...emptyStory(), runId: 'run-1' });
  for (const event of list) state = deepFreeze(foldStoryEvent(state, event));
  expect(state).toMatchObject({ runId: 'run-1', status: 'failed', lastSeq: list.length });
});

describe('people in the loop', () => {
  const WAIT: StoryEventBody = { type: 'review.waiting', revision: 1, stage: { kind: 'plan' }, deadline: at(99) };
  const EDITED: Plan = { summary: PLAN.summary, steps: [PLAN.steps[1], { title: 'Three', instructions: 'third' }] };

  test('review.waiting holds the run for a person until approved; plan.edited replaces the pending steps', () => {
    const waiting = fold(events(START[0], START[1], WAIT));
    expect(waiting).toMatchObject({ status: 'running', review: { revision: 1, stage: { kind: 'plan' }, since: at(3), deadline: at(99) } });
    const edited = fold(
      events(
        START[0],
        START[1],
        WAIT,
        { type: 'plan.edited', by: 'ann', changes: [], plan: EDITED, ask: [1] },
        { type: 'review.approved', revision: 1, by: 'ann', requestId: 'r1' },
      ),
    );
    expect(edited.review).toBeNull();
    expect(edited.plan).toEqual(EDITED);
    expect(edited.steps.map((s) => [s.title, s.status, s.ask])).toEqual([
      ['Two', 'pending', false],
      ['Three', 'pending', true],
    ]);
  });

  test('an edit at a step gate keeps the steps already done', () => {
    const state = fold(
      events(
        ...START,
        { type: 'step.finished', stepIndex: 0, durationMs: 5, attempts: 1, usage: USAGE, truncated: false, output: 'done' },
        { type: 'review.waiting', revision: 2, stage: { kind: 'step', stepIndex: 1 }, deadline: at(99) },
        { type: 'plan.edited', by: null, changes: [], plan: { summary: '', steps: [PLAN.steps[0], EDITED.steps[1]] }, ask: [] },
      ),
    );
    expect(state.steps[0]).toMatchObject({ title: 'One', status: 'completed', output: 'done' });
    expect(state.steps[1]).toMatchObject({ title: 'Three', status: 'pending' });
    expect(state.review).toMatchObject({ stage: { kind: 'step', stepIndex: 1 } });
  });

  test('review.rejected and review.expired end the run with their own status and words', () => {
    const rejected = fold(
      events(START[0], START[1], WAIT, { type: 'review.rejected', revision: 1, by: null, reason: 'No.', requestId: 'r1' }),
    );
    expect(rejected).toMatchObject({ status: 'rejected', error: 'Rejected by someone: No.', closedAt: at(4), review: null });
    const expired = fold(events(START[0], START[1], WAIT, { type: 'review.expired', revision: 1 }));
    expect(expired).toMatchObject({ status: 'expired', closedAt: at(4), review: null });
    expect(expired.error).toMatch(/expired/);
  });

  test('a re-run names its parent and keeps steps as completed, not run', () => {
    const parent = { workflowId: 'task-a', runId: 'r1', fromStep: 1 };
    const state = fold(
      events({ type: 'run.started', task: 'Do it', parent }, START[1], {
        type: 'step.kept',
        stepIndex: 0,
        output: 'kept output',
        truncated: false,
        usage: USAGE,
      }),
    );
    expect(state.parent).toEqual(parent);
    expect(state.steps[0]).toMatchObject({ status: 'completed', kept: true, output: 'kept output', usage: USAGE });
    expect(state.steps[1]).toMatchObject({ status: 'pending', kept: false });
  });
});

test('spend adds up planning and every finished step: tokens always, dollars where there is a price', () => {
  const priced = fold(
    events(
      { type: 'run.started', task: 'Do it' },
      { type: 'plan.ready', plan: PLAN, model: MODEL, usage: USAGE, cost: 0.5 },
      { type: 'step.started', stepIndex: 0, title: 'One' },
      {
        type: 'step.finished',
        stepIndex: 0,
        durationMs: 1,
        attempts: 1,
        usage: { ...USAGE, estimated: true },
        cost: 0.25,
        truncated: false,
      },
      { type: 'step.started', stepIndex: 1, title: 'Two' },
      { type: 'step.finished', stepIndex: 1, durationMs: 1, attempts: 1, usage: USAGE, cost: null, truncated: false },
    ),
  );
  expect(priced.spend).toEqual({ tokens: 9, cost: 0.75, unpriced: 1, estimated: true });
  expect(priced.steps.map((s) => s.cost)).toEqual([0.25, null]);
  // Events from before costs were recorded: tokens count, the cost is unknown.
  const old = fold(events(...START, { type: 'step.finished', stepIndex: 0, durationMs: 1, attempts: 1, usage: USAGE, truncated: false }));
  expect(old.spend).toEqual({ tokens: 3, cost: 0, unpriced: 1, estimated: false });
});
