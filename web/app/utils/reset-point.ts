/**
 * Where "Retry from the failed step" resets a run to, found in its history. Pure: the history
 * events in, the reset point out.
 */
// Types only: the package is CommonJS without named ESM exports.
import type { temporal as proto } from '@temporalio/proto';

export type HistoryEvent = proto.api.history.v1.IHistoryEvent;
type EventId = NonNullable<HistoryEvent['eventId']>;

export interface ResetPoint {
  /** The activity whose scheduling the reset goes back to before (planTask or executeStep). */
  activity: string;
  workflowTaskCompletedEventId: EventId;
}

/**
 * Where to reset: the workflow task that scheduled the last activity that never completed (the
 * failed or cancelled step, or the planning; webhook deliveries aside). A plan that completed but was refused has no such
 * activity; then planning is redone. Null when every activity completed and a step ran.
 */
export function findResetPoint(events: HistoryEvent[]): ResetPoint | null {
  const scheduled = new Map<string, ResetPoint>();
  const completed = new Set<string>();
  let planning: ResetPoint | null = null;
  let stepScheduled = false;
  for (const event of events) {
    const attributes = event.activityTaskScheduledEventAttributes;
    const activity = attributes?.activityType?.name ?? '';
    // A webhook delivery is told, not redone: one that failed is no step to retry.
    if (attributes && event.eventId != null && attributes.workflowTaskCompletedEventId != null && activity !== 'deliverWebhook') {
      const point = { activity, workflowTaskCompletedEventId: attributes.workflowTaskCompletedEventId };
      scheduled.set(String(event.eventId), point);
      if (activity === 'planTask' && !planning) planning = point;
      if (activity === 'executeStep') stepScheduled = true;
    }
    const done = event.activityTaskCompletedEventAttributes?.scheduledEventId;
    if (done != null) completed.add(String(done));
  }
  let unfinished: ResetPoint | null = null;
  for (const [eventId, point] of scheduled) if (!completed.has(eventId)) unfinished = point;
  return unfinished ?? (stepScheduled ? null : planning);
}
