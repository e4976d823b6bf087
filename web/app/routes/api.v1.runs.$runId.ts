/** One run: its status and its story, as its page renders them. */
import type { LoaderFunctionArgs } from '@remix-run/node';
import { answer, apiUser, json, methodNotAllowed, notFound, problem } from '~/utils/api.server';
import { queuePosition } from '~/utils/run-queue.server';
import { loadRun, withoutOutputChunks } from '~/utils/run-read.server';

export function loader({ request, params }: LoaderFunctionArgs) {
  return answer(async () => {
    const { user } = await apiUser(request);
    const workflowId = params.runId ?? '';
    const view = await loadRun(workflowId, user);
    if (view.kind === 'not-found') return notFound();
    if (view.kind === 'unreachable') {
      return problem(
        { title: 'Temporal is not available', status: 503, detail: `Temporal is not reachable at ${view.address}.` },
        { 'Retry-After': '5' },
      );
    }
    const queue = view.temporalStatus === 'RUNNING' && view.snapshot?.queue ? await queuePosition(workflowId) : null;
    const { kind: _kind, ...run } = view;
    return json({ ...run, snapshot: view.snapshot ? withoutOutputChunks(view.snapshot) : null, queue });
  });
}

export const action = methodNotAllowed('GET');
