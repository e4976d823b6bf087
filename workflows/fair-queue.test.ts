/** The scheduler's bookkeeping alone: limits, order, positions, releases, and its state as JSON. */
import { FairQueue } from './fair-queue';

const limits = (perUser: number, total: number) => ({ perUser, total });

let clock = 0;
function ask(queue: FairQueue, owner: string, workflowId: string, perUser = 2, total = 2, submittedAt = ++clock) {
  return queue.acquire({ owner, workflowId, runId: `run-${workflowId}`, submittedAt, ...limits(perUser, total) });
}

test('at most `total` slots, then each owner in turn: a newcomer takes the next free slot', () => {
  const queue = new FairQueue();
  for (let i = 1; i <= 50; i++) ask(queue, 'alice', `a${i}`);
  expect(queue.dispatch().map((g) => g.workflowId)).toEqual(['a1', 'a2']);
  expect(queue.position('a3')).toEqual({ state: 'queued', ahead: 0 });
  expect(queue.position('a50')).toEqual({ state: 'queued', ahead: 47 });

  ask(queue, 'bob', 'b1');
  expect(queue.dispatch()).toEqual([]);
  // Bob was never served: he is next, and alice's runs each wait one place more.
  expect(queue.position('b1')).toEqual({ state: 'queued', ahead: 0 });
  expect(queue.position('a3')).toEqual({ state: 'queued', ahead: 1 });

  queue.release('a1');
  const [next] = queue.dispatch();
  expect(next).toEqual({ workflowId: 'b1', grant: { order: 3, passedBy: 0 } });
  queue.release('a2');
  expect(queue.dispatch()).toEqual([{ workflowId: 'a3', grant: { order: 4, passedBy: 3 } }]);
});

test('two owners with backlogs alternate; a per-user limit leaves the rest of the slots to others', () => {
  const queue = new FairQueue();
  for (let i = 1; i <= 5; i++) ask(queue, 'alice', `a${i}`, 1, 3);
  for (let i = 1; i <= 5; i++) ask(queue, 'bob', `b${i}`, 1, 3);
  // One each: the third slot stays free, as both are at their limit.
  expect(queue.dispatch().map((g) => g.workflowId)).toEqual(['a1', 'b1']);
  expect(queue.status()).toMatchObject({ running: 2, queued: 8, owners: { alice: { running: 1, queued: 4 } } });
  queue.release('a1');
  queue.release('b1');
  expect(queue.dispatch().map((g) => g.workflowId)).toEqual(['a2', 'b2']);
});

test('asking twice changes nothing; a run holding its slot gets its grant again; release is idempotent', () => {
  const queue = new FairQueue();
  ask(queue, 'alice', 'a1');
  ask(queue, 'alice', 'a1');
  expect(queue.status().queued).toBe(1);
  const [granted] = queue.dispatch();
  expect(ask(queue, 'alice', 'a1')).toEqual(granted);
  queue.release('a1');
  queue.release('a1');
  expect(queue.status()).toMatchObject({ running: 0, queued: 0, owners: {} });
});

test("an owner's runs go in the order they were submitted, not the order their requests came", () => {
  const queue = new FairQueue();
  ask(queue, 'alice', 'a3', 1, 1, 3);
  ask(queue, 'alice', 'a1', 1, 1, 1);
  ask(queue, 'alice', 'a2', 1, 1, 2);
  const order: string[] = [];
  for (let i = 0; i < 3; i++) {
    const [granted] = queue.dispatch();
    order.push(granted.workflowId);
    queue.release(granted.workflowId);
  }
  expect(order).toEqual(['a1', 'a2', 'a3']);
});

test('an owner whose waiting runs all started is still served before a newcomer only if served less recently', () => {
  const queue = new FairQueue();
  ask(queue, 'alice', 'a1');
  queue.dispatch(); // alice's line runs dry, but she holds a slot
  ask(queue, 'alice', 'a2');
  queue.dispatch(); // both slots alice's
  ask(queue, 'alice', 'a3');
  ask(queue, 'bob', 'b1');
  expect(queue.position('b1')).toEqual({ state: 'queued', ahead: 0 });
  queue.release('a1');
  expect(queue.dispatch().map((g) => g.workflowId)).toEqual(['b1']);
});

test('a run that leaves the line is gone from it, and the ones behind move up', () => {
  const queue = new FairQueue();
  for (let i = 1; i <= 4; i++) ask(queue, 'alice', `a${i}`, 1, 1);
  queue.dispatch();
  expect(queue.position('a4')).toEqual({ state: 'queued', ahead: 2 });
  queue.release('a3');
  expect(queue.position('a3')).toBeNull();
  expect(queue.position('a4')).toEqual({ state: 'queued', ahead: 1 });
});

test('the state survives a round trip through JSON (continue-as-new)', () => {
  const queue = new FairQueue();
  for (let i = 1; i <= 3; i++) ask(queue, 'alice', `a${i}`);
  ask(queue, 'bob', 'b1');
  queue.dispatch();
  const again = new FairQueue(JSON.parse(JSON.stringify(queue.state)));
  expect(again.status()).toEqual(queue.status());
  expect(again.position('b1')).toEqual(queue.position('b1'));
});
