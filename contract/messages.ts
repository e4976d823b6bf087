/**
 * The Temporal messages taskWorkflow answers: its queries and its signal. They come from
 * @temporalio/workflow, so only server code imports this module (the workflow, the activities,
 * the web app's *.server.ts modules); browser code uses the types in ./data.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { ProgressQueryArgs, ProgressReport, ProgressSnapshot, StoryPage } from './data';

export const progressQuery = defineQuery<ProgressSnapshot, [ProgressQueryArgs?]>('progress');
/**
 * The events after `after` and nothing else. The web app's watcher asks after every update, so
 * the answer must not carry the steps' outputs as `progress` does (up to 8 × 16 KB each time).
 */
export const storyQuery = defineQuery<StoryPage, [ProgressQueryArgs?]>('story');
export const activityProgressSignal = defineSignal<[ProgressReport]>('activityProgress');
