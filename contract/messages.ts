/**
 * The Temporal messages taskWorkflow answers: its queries, its signal and its update. They come from
 * @temporalio/workflow, so only server code imports this module (the workflow, the activities,
 * the web app's *.server.ts modules); browser code uses the types in ./data.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import {
  REVIEW_UPDATE_NAME,
  type ProgressQueryArgs,
  type ProgressReport,
  type ProgressSnapshot,
  type QueuePosition,
  type ReviewOutcome,
  type ReviewRequest,
  type SchedulerStatus,
  type SlotGrant,
  type SlotRequest,
  type StoryPage,
} from './data';

export const progressQuery = defineQuery<ProgressSnapshot, [ProgressQueryArgs?]>('progress');
/**
 * The events after `after` and nothing else. The web app's watcher asks after every update, so
 * the answer must not carry the steps' outputs as `progress` does (up to 8 × 16 KB each time).
 */
export const storyQuery = defineQuery<StoryPage, [ProgressQueryArgs?]>('story');
export const activityProgressSignal = defineSignal<[ProgressReport]>('activityProgress');
/**
 * A person's answer to the review the run waits for: approve (as proposed, or edited) or reject.
 * A validator refuses a bad or stale answer before anything is recorded; the same requestId is
 * applied once. From a terminal:
 *   temporal workflow update execute --workflow-id <id> --name review \
 *     --input '{"requestId":"<uuid>","revision":1,"by":"alice","decision":"approve"}'
 */
export const reviewUpdate = defineUpdate<ReviewOutcome, [ReviewRequest]>(REVIEW_UPDATE_NAME);

/** The scheduler gives a queued run its slot (sent by schedulerWorkflow to taskWorkflow). */
export const grantSignal = defineSignal<[SlotGrant]>('grant');

/* schedulerWorkflow's messages (fair share). */

/** A run asks for a slot: sent with signalWithStart, so the first request starts the scheduler. */
export const acquireSignal = defineSignal<[SlotRequest]>('acquire');
/** A run gives its slot back, or leaves the queue (ended, cancelled): by workflow id, idempotent. */
export const releaseSignal = defineSignal<[{ workflowId: string }]>('release');
/** Where a run stands: queued (runs ahead of it) or holding a slot; null when the scheduler does not know it. */
export const positionQuery = defineQuery<QueuePosition | null, [string]>('position');
export const schedulerStatusQuery = defineQuery<SchedulerStatus>('status');
