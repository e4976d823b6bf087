/**
 * The run page's state: a ProgressSnapshot kept current by folding story events as they stream,
 * with the reducer the workflow uses (contract/story-reducer.ts). This layer adds what only the
 * page needs: the run the events belong to, a flag for a gap in the sequence, and the event list
 * without output chunks. Pure, for the browser and the server alike.
 */
import type { ProgressSnapshot, StoryEvent } from '../../../contract/data';
import { emptyStory, foldStoryEvent } from '../../../contract/story-reducer';

export type StoryView = ProgressSnapshot & {
  /** The run the events belong to; a reset or retry starts a new run whose seq begins again. */
  runId: string;
  /** Set when an event arrived after a gap: the page must reload the run to be complete. */
  gap: boolean;
};

export function emptyView(runId: string, task: string, startedAt: string): StoryView {
  return { ...emptyStory(task, startedAt), runId, gap: false, events: [], hasMore: false };
}

/** Events are keyed by sequence number: one already applied is ignored, one after a gap flags it. */
export function applyEvent(view: StoryView, event: StoryEvent): StoryView {
  if (event.seq <= view.lastSeq) return view;
  if (event.seq !== view.lastSeq + 1) return { ...view, gap: true };
  // Output chunks live on in their step's output; the event list keeps the rest.
  const events = event.type === 'step.output' ? view.events : [...view.events, event];
  return { ...foldStoryEvent(view, event), events };
}

/** The SSE event id: names the run and the sequence number. */
export function eventId(runId: string, seq: number): string {
  return `${runId}:${seq}`;
}

/** Parses `runId:seq`; null when malformed. */
export function parseEventId(value: string): { runId: string; seq: number } | null {
  const match = /^([0-9a-zA-Z-]{1,64}):(\d{1,9})$/.exec(value.trim());
  return match ? { runId: match[1], seq: Number(match[2]) } : null;
}
