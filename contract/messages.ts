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
  type ReviewOutcome,
  type ReviewRequest,
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
