/**
 * The run page's live story: starts from the snapshot the server rendered, then applies the
 * events of the run's event stream in a reducer keyed by sequence number. (remix-utils'
 * useEventSource keeps only the latest message and would drop events arriving between renders.)
 */
import { useEffect, useReducer } from 'react';
import type { StoryEvent } from '../../../contract/data';
import { applyEvent, emptyView, parseEventId, type StoryView } from '~/utils/story-view';

export type StreamState = 'connecting' | 'live' | 'waiting-for-worker' | 'unreachable' | 'reconnecting' | 'ended' | 'off';

interface State {
  view: StoryView;
  stream: StreamState;
  /** Story events applied from the stream, by seq, to show that none came twice. */
  received: number;
}

type Action = { type: 'story'; runId: string; event: StoryEvent } | { type: 'run'; runId: string } | { type: 'stream'; state: StreamState };

function reducer(state: State, action: Action): State {
  switch (action.type) {
    case 'story':
      if (action.runId !== state.view.runId) return state;
      return { ...state, view: applyEvent(state.view, action.event), received: state.received + 1 };
    case 'run':
      // A reset or retry started a new run: its story begins again.
      if (action.runId === state.view.runId) return state;
      return { ...state, view: emptyView(action.runId, state.view.task, new Date().toISOString()) };
    case 'stream':
      return state.stream === 'ended' ? state : { ...state, stream: action.state };
  }
}

export function useRunStory(workflowId: string, initial: StoryView, open: boolean, onEnd: () => void): State {
  const [state, dispatch] = useReducer(reducer, { view: initial, stream: open ? 'connecting' : 'off', received: 0 });

  useEffect(() => {
    if (!open) return;
    const params = new URLSearchParams({ run: initial.runId, after: String(initial.lastSeq) });
    const source = new EventSource(`/runs/${encodeURIComponent(workflowId)}/events?${params}`);
    source.addEventListener('story', (e) => {
      const message = e as MessageEvent<string>;
      const id = parseEventId(message.lastEventId);
      if (id) dispatch({ type: 'story', runId: id.runId, event: JSON.parse(message.data) as StoryEvent });
    });
    source.addEventListener('run', (e) =>
      dispatch({ type: 'run', runId: (JSON.parse((e as MessageEvent<string>).data) as { runId: string }).runId }),
    );
    source.addEventListener('status', (e) => {
      const { state } = JSON.parse((e as MessageEvent<string>).data) as { state: StreamState };
      dispatch({ type: 'stream', state });
    });
    source.addEventListener('end', () => {
      // The run is over: stop here, or the browser would reconnect (and get 204).
      source.close();
      dispatch({ type: 'stream', state: 'ended' });
      onEnd();
    });
    source.onerror = () => {
      if (source.readyState !== EventSource.CLOSED) dispatch({ type: 'stream', state: 'reconnecting' });
    };
    return () => source.close();
    // One stream per run shown: the initial view is the server's, fixed for this mount.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [workflowId, initial.runId, open]);

  return state;
}
