/** Ask a running run to stop (as the page's Cancel). */
import type { ActionFunctionArgs } from '@remix-run/node';
import { answer, apiUser, json, methodNotAllowed } from '~/utils/api.server';
import { cancelRun } from '~/utils/run-control.server';

export function action({ request, params }: ActionFunctionArgs) {
  return answer(async () => {
    const { user } = await apiUser(request);
    const run = await cancelRun(params.runId ?? '', user);
    return json({ ...run, href: `/api/v1/runs/${run.workflowId}` });
  });
}

export const loader = methodNotAllowed('POST');
