/** Where "Retry from the failed step" resets to, on the recorded histories of real runs and on cut ones. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { findResetPoint, type HistoryEvent } from './reset-point';

function history(name: string): HistoryEvent[] {
  const json = JSON.parse(readFileSync(join(__dirname, '../../../workflows/histories', `${name}.json`), 'utf8'));
  return historyFromJSON(json).events ?? [];
}

/** The reset point as plain values (event ids are Longs). */
function point(events: HistoryEvent[]) {
  const found = findResetPoint(events);
  return found && { activity: found.activity, workflowTaskCompletedEventId: Number(found.workflowTaskCompletedEventId) };
}

/** The history up to and including event `lastEventId`, as if the run had stopped there. */
function upTo(events: HistoryEvent[], lastEventId: number): HistoryEvent[] {
  return events.filter((event) => Number(event.eventId) <= lastEventId);
}

test('a failed step: back to just before that step was scheduled; the steps before it stay done', () => {
  expect(point(history('step-rejected-failed'))).toEqual({ activity: 'executeStep', workflowTaskCompletedEventId: 10 });
});

test('a step cancelled mid-way: back to before that step, not the first one', () => {
  expect(point(history('cancelled-mid-step'))).toEqual({ activity: 'executeStep', workflowTaskCompletedEventId: 21 });
});

test('a run whose every step completed (retries included) has nothing to retry', () => {
  expect(point(history('offline-completed'))).toBeNull();
  expect(point(history('step-retried-completed'))).toBeNull();
});

test('planning that never finished is redone', () => {
  // Planning scheduled (event 5) and started, nothing after.
  expect(point(upTo(history('offline-completed'), 6))).toEqual({ activity: 'planTask', workflowTaskCompletedEventId: 4 });
});

test('a plan that completed but started no step (it was refused) is made again', () => {
  // Planning completed (event 7); the run ended before scheduling a step.
  expect(point(upTo(history('offline-completed'), 9))).toEqual({ activity: 'planTask', workflowTaskCompletedEventId: 4 });
});

test('of several unfinished activities, the last one scheduled', () => {
  // Steps 1 and 2 scheduled; the history cut while step 2 ran.
  expect(point(upTo(history('offline-completed'), 26))).toEqual({ activity: 'executeStep', workflowTaskCompletedEventId: 20 });
});

test('a webhook delivery that never completed is no step to retry: the run had nothing to redo', () => {
  // run.ended's delivery scheduled (event 58) after every step completed; cut before it finished.
  expect(point(upTo(history('webhook-delivered-completed'), 59))).toBeNull();
  expect(point(history('webhook-delivered-completed'))).toBeNull();
});
