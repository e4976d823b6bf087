/**
 * Following a run's event stream (`/api/v1/runs/<id>/events`, the page's stream) from a terminal:
 * the story from its first event, folded with the page's reducer (web/app/utils/story-view.ts),
 * until the stream says the run ended. A dropped connection is opened again with Last-Event-ID,
 * so nothing is lost or shown twice; a reset or retry that starts a new run starts its story again.
 */
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import type { RunStatus, StoryEvent } from '../contract/data';
import { applyEvent, emptyView, parseEventId, type StoryView } from '../web/app/utils/story-view';
import { ApiError, UnreachableError, type Api } from './api';

export interface FollowHandlers {
  /** The story changed (an event, or a new run). */
  onView(view: StoryView): void;
  /** A story event as it came (for --json and the plain log). */
  onEvent?(event: StoryEvent, runId: string): void;
  /** The stream's own state: "live", "reconnecting", "waiting-for-worker", "unreachable"... */
  onStream?(state: string): void;
}

export interface FollowResult {
  runId: string;
  status: RunStatus;
  view: StoryView;
  /** Connections opened (1 unless one dropped). */
  connections: number;
}

/** Waits between reconnects: doubling from 0.5 s to 5 s, as a browser's EventSource with our retry. */
const RECONNECT_MS = [500, 1_000, 2_000, 5_000];

export async function followRun(api: Api, workflowId: string, handlers: FollowHandlers, signal?: AbortSignal): Promise<FollowResult> {
  let view: StoryView = emptyView('', '', new Date().toISOString());
  let lastEventId: string | null = null;
  let ended: { runId: string; status: RunStatus } | null = null;
  let connections = 0;
  let failures = 0;
  let reached = false;

  const onMessage = (message: EventSourceMessage) => {
    if (message.id) lastEventId = message.id;
    switch (message.event) {
      case 'story': {
        const id = parseEventId(message.id ?? '');
        if (!id) return;
        const event = JSON.parse(message.data) as StoryEvent;
        if (id.runId !== view.runId) view = emptyView(id.runId, view.task, event.at);
        view = applyEvent(view, event);
        handlers.onEvent?.(event, id.runId);
        handlers.onView(view);
        return;
      }
      case 'run': {
        const { runId } = JSON.parse(message.data) as { runId: string };
        if (runId !== view.runId) {
          view = emptyView(runId, view.task, new Date().toISOString());
          handlers.onView(view);
        }
        return;
      }
      case 'status': {
        const { state } = JSON.parse(message.data) as { state: string };
        handlers.onStream?.(state);
        return;
      }
      case 'end':
        ended = JSON.parse(message.data) as { runId: string; status: RunStatus };
        return;
      default:
        // ping
        return;
    }
  };

  while (!ended) {
    if (signal?.aborted) throw signal.reason;
    connections++;
    try {
      const res = await api.stream(`/runs/${encodeURIComponent(workflowId)}/events`, lastEventId, signal);
      if (res.status === 204) {
        // A closed run we have all of: the last connection ended between its last event and `end`.
        ended = { runId: view.runId, status: view.status };
        break;
      }
      failures = 0;
      reached = true;
      const parser = createParser({ onEvent: onMessage });
      const decoder = new TextDecoder();
      for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
        parser.feed(decoder.decode(chunk, { stream: true }));
        if (ended) break;
      }
    } catch (err) {
      // The API's own answers (404, 401...) are final, and so is a server never reached; a
      // connection that drops (a restart, a proxy) is opened again.
      if (err instanceof ApiError || signal?.aborted || (err instanceof UnreachableError && !reached)) throw err;
    }
    if (ended) break;
    handlers.onStream?.('reconnecting');
    await new Promise((resolve) => setTimeout(resolve, RECONNECT_MS[Math.min(failures++, RECONNECT_MS.length - 1)]));
  }
  const end = ended as { runId: string; status: RunStatus };
  return { runId: end.runId, status: end.status, view, connections };
}
