/**
 * The live story of one run as an event stream (the page's resource route and the API's share it).
 *
 *   event: story   id: <runId>:<seq>   data: StoryEvent           each event once, in order
 *   event: run     id: <runId>:0       data: { runId }            a new run (reset): start over
 *   event: status                      data: { state, address? }  live / waiting-for-worker / unreachable
 *   event: end     id: <runId>:<seq>   data: { runId, status }    the run is over: close the stream
 *   event: ping                                                  keep-alive every 15 s
 *
 * A reconnect (Last-Event-ID, or ?run=&after= on the first connect) gets exactly what it missed.
 * After the end, a reconnect gets 204 so the browser stops. While Temporal or the worker is away
 * the stream stays open (a browser's EventSource gives up for good on anything but 200).
 *
 * 404 for a run the user did not start; who the user is, the route says (auth.server.ts, api.server.ts).
 */
import { eventStream } from 'remix-utils/sse/server';
import { log } from './log.server';
import { eventId, parseEventId } from './story-view';
import { RUN_ID_PATTERN } from './run-id';
import { streamStats } from './stream-stats.server';
import type { Owner } from './run-owner.server';
import { describeLatestRun, watchRun, type WatcherView } from './watcher.server';

const KEEP_ALIVE_MS = 15_000;
/** Reconnect hint for browsers, in ms. */
const RETRY_MS = 2_000;

declare module '@remix-run/node' {
  interface AppLoadContext {
    /**
     * Aborted when this request's response closes; set by web/server.ts. request.signal is not
     * enough for a stream: after a garbage collection it no longer hears the disconnect.
     */
    responseClosed?: AbortSignal;
  }
}

type Send = (args: { event?: string; data: string }) => void;

/**
 * remix-utils 7 (the Remix 2 line) writes only `event:` and `data:`; `id:` and `retry:` came in
 * later majors (sergiodxa/remix-utils#397). The event name is written as given, so the extra
 * field rides on the line after it: still remix-utils' framing, one line per field.
 */
function sendEvent(send: Send, event: string, data: unknown, fields: { id?: string; retry?: number } = {}): void {
  let name = event;
  if (fields.id !== undefined) name += `\nid: ${fields.id}`;
  if (fields.retry !== undefined) name += `\nretry: ${fields.retry}`;
  send({ event: name, data: JSON.stringify(data) });
}

/** How a route answers a request it refuses: the page's stream in plain text, the API's as problem+json. */
export type Refuse = (status: 400 | 404, message: string) => Response;

/**
 * The event stream of `workflowId` for `user` (already authenticated by the route), or a refusal:
 * 400 for a malformed cursor, 404 for an unknown run or someone else's. `closed` ends the stream
 * when the client goes (STACK.md: the response's close, not request.signal).
 */
export async function runEventStream(options: {
  request: Request;
  workflowId: string;
  user: Owner;
  closed: AbortSignal;
  refuse: Refuse;
}): Promise<Response> {
  const { request, workflowId, user, refuse } = options;
  if (!RUN_ID_PATTERN.test(workflowId)) return refuse(404, 'No run with this id');

  // Where the client is: Last-Event-ID on a reconnect, ?run=&after= from the page that has rendered.
  const url = new URL(request.url);
  let cursor: { runId: string | null; seq: number } = { runId: null, seq: 0 };
  const lastEventId = request.headers.get('Last-Event-ID');
  if (lastEventId !== null && lastEventId !== '') {
    const parsed = parseEventId(lastEventId);
    if (!parsed) return refuse(400, 'Malformed Last-Event-ID: expected <runId>:<seq>');
    cursor = parsed;
  } else if (url.searchParams.has('after')) {
    const after = url.searchParams.get('after') ?? '';
    if (!/^\d{1,9}$/.test(after)) return refuse(400, 'Malformed after: expected a sequence number');
    cursor = { runId: url.searchParams.get('run'), seq: Number(after) };
  }

  const latest = await describeLatestRun(workflowId, user);
  if (latest.kind === 'not-found') return refuse(404, 'No run with this id');
  // A closed run the client has all of: 204 tells EventSource to stop reconnecting.
  if (latest.kind === 'ok' && latest.closed && cursor.runId === latest.runId && cursor.seq >= latest.lastSeq) {
    return new Response(null, { status: 204 });
  }

  return eventStream(options.closed, (send, close) => {
    let runId = cursor.runId;
    let seq = cursor.seq;
    let lastState = '';
    let closed = false;
    streamStats.open++;

    const onChange = (view: WatcherView) => {
      if (closed || !view.runId) return;
      if (view.state.kind === 'not-found') {
        sendEvent(send, 'status', { state: 'not-found' });
        return finish();
      }
      if (view.runId !== runId) {
        // The client follows another run (or none yet): the latest run's story from its start.
        if (runId !== null) sendEvent(send, 'run', { runId: view.runId }, { id: eventId(view.runId, 0) });
        runId = view.runId;
        seq = 0;
      }
      for (const event of view.events) {
        if (event.seq <= seq) continue;
        sendEvent(send, 'story', event, { id: eventId(view.runId, event.seq) });
        seq = event.seq;
        streamStats.eventsSent++;
      }
      const state = JSON.stringify(view.state);
      if (state !== lastState) {
        lastState = state;
        sendEvent(send, 'status', { state: view.state.kind, ...('address' in view.state ? { address: view.state.address } : {}) });
      }
      if (view.ended && view.ended.runId === runId && seq >= (view.events.at(-1)?.seq ?? 0)) {
        sendEvent(send, 'end', view.ended, { id: eventId(runId, seq) });
        finish();
      }
    };

    sendEvent(send, 'status', { state: 'connecting' }, { retry: RETRY_MS });
    const unsubscribe = watchRun(workflowId, onChange, latest.kind === 'ok' && !latest.closed ? latest.runId : undefined);
    const keepAlive = setInterval(() => {
      if (!closed) send({ event: 'ping', data: '""' });
    }, KEEP_ALIVE_MS);

    function finish() {
      // Close after the current send; close() runs the cleanup below.
      queueMicrotask(() => close());
    }

    return () => {
      if (closed) return;
      closed = true;
      streamStats.open--;
      clearInterval(keepAlive);
      unsubscribe();
      log.debug({ workflowId }, 'event stream closed');
    };
  });
}
