/** Retry a failed (or cancelled) run from its failed step: a new run under the same id. */
import type { ActionFunctionArgs } from '@remix-run/node';
import { answer, apiUser, json, methodNotAllowed } from '~/utils/api.server';
import { retryFromFailedStep } from '~/utils/run-control.server';

export function action({ request, params }: ActionFunctionArgs) {
  return answer(async () => {
    const { user } = await apiUser(request);
    const run = await retryFromFailedStep(params.runId ?? '', user);
    return json({ ...run, href: `/api/v1/runs/${run.workflowId}` });
  });
}

export const loader = methodNotAllowed('POST');
