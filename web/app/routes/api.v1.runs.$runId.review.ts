/**
 * Answer the review the run waits for: approve (with an edited plan or new limits) or reject. The
 * Idempotency-Key names the answer (the update's id), so a resend is applied once.
 */
import { randomUUID } from 'node:crypto';
import type { ActionFunctionArgs } from '@remix-run/node';
import type { ReviewRequest } from '../../../contract/data';
import { ReviewBody } from '~/utils/api-schemas.server';
import { tokenForKey } from '~/utils/api-runs.server';
import { answer, apiUser, idempotencyKey, json, methodNotAllowed, readJsonBody } from '~/utils/api.server';
import { answerReview } from '~/utils/run-control.server';

export function action({ request, params }: ActionFunctionArgs) {
  return answer(async () => {
    const { user } = await apiUser(request);
    const workflowId = params.runId ?? '';
    const key = idempotencyKey(request);
    const body = await readJsonBody(request, ReviewBody);
    const requestId = key === null ? randomUUID() : tokenForKey(`review\0${workflowId}`, key);
    const review: ReviewRequest =
      body.decision === 'approve'
        ? { requestId, by: user, ...body }
        : { requestId, by: user, decision: 'reject', revision: body.revision, reason: body.reason ?? '' };
    const outcome = await answerReview(workflowId, user, review);
    return json({ workflowId, href: `/api/v1/runs/${workflowId}`, outcome });
  });
}

export const loader = methodNotAllowed('POST');
