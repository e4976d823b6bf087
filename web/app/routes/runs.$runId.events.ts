/**
 * The run page's live story (the stream is run-events.server.ts). With access control on: 401
 * without a session, 404 for a run the user did not start.
 */
import type { LoaderFunctionArgs } from '@remix-run/node';
import { requireApiUser } from '~/utils/auth.server';
import { runEventStream } from '~/utils/run-events.server';

function plain(status: number, message: string): Response {
  return new Response(message, { status, headers: { 'Content-Type': 'text/plain; charset=utf-8' } });
}

export async function loader({ request, params, context }: LoaderFunctionArgs) {
  const { user } = await requireApiUser(request);
  // Without web/server.ts (remix vite:dev) there is only request.signal.
  const closed = context.responseClosed ?? request.signal;
  return runEventStream({ request, workflowId: params.runId ?? '', user, closed, refuse: plain });
}
