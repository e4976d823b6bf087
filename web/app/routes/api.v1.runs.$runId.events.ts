/** The run's story as Server-Sent Events: the stream the run page reads (run-events.server.ts). */
import type { LoaderFunctionArgs } from '@remix-run/node';
import { answer, apiUser, methodNotAllowed, problem } from '~/utils/api.server';
import { runEventStream } from '~/utils/run-events.server';

export function loader({ request, params, context }: LoaderFunctionArgs) {
  return answer(async () => {
    const { user } = await apiUser(request);
    return runEventStream({
      request,
      workflowId: params.runId ?? '',
      user,
      // STACK.md trap 9: the response's close, not request.signal (only that without web/server.ts).
      closed: context.responseClosed ?? request.signal,
      refuse: (status, title) => problem({ title, status }),
    });
  });
}

export const action = methodNotAllowed('GET');
