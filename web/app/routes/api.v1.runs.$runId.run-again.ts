/** Start a new run of the same task; an Idempotency-Key names it, as the page's token does. */
import type { ActionFunctionArgs } from '@remix-run/node';
import { tokenForKey } from '~/utils/api-runs.server';
import { answer, apiUser, idempotencyKey, json, methodNotAllowed } from '~/utils/api.server';
import { runAgain } from '~/utils/run-control.server';

export function action({ request, params }: ActionFunctionArgs) {
  return answer(async () => {
    const { user } = await apiUser(request);
    const workflowId = params.runId ?? '';
    const key = idempotencyKey(request);
    const started = await runAgain(workflowId, user, key === null ? undefined : tokenForKey(`run-again\0${workflowId}`, key));
    const href = `/api/v1/runs/${started.workflowId}`;
    return json({ workflowId: started.workflowId, href }, { headers: { Location: href } });
  });
}

export const loader = methodNotAllowed('POST');
