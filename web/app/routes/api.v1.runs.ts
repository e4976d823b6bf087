/** GET: the caller's runs, a page at a time. POST: start a run (once per Idempotency-Key). */
import type { ActionFunctionArgs, LoaderFunctionArgs } from '@remix-run/node';
import { ListRunsQuery, StartRunBody } from '~/utils/api-schemas.server';
import { startFromApi, requestHash } from '~/utils/api-runs.server';
import { answer, apiUser, idempotencyKey, invalid, json, problem, readJsonBody, readQuery } from '~/utils/api.server';
import { withinCap } from '~/utils/budget-form.server';
import { overDailyCap } from '~/utils/daily-cap.server';
import { getConfig } from '~/utils/env.server';
import { workflowStarts } from '~/utils/metrics.server';
import { submissionRetryAfter } from '~/utils/rate-limit.server';
import { InvalidCursorError, listRuns } from '~/utils/run-list.server';
import type { RunListStatus } from '~/utils/run-status';

export function loader({ request }: LoaderFunctionArgs) {
  return answer(async () => {
    const { user } = await apiUser(request);
    const query = readQuery(request, ListRunsQuery);
    let list;
    try {
      list = await listRuns({
        owner: user,
        status: query.status as RunListStatus | undefined,
        cursor: query.cursor,
        pageSize: query.limit,
      });
    } catch (err) {
      if (!(err instanceof InvalidCursorError)) throw err;
      return invalid('The cursor is not valid', [{ parameter: 'cursor', detail: err.message }]);
    }
    if ('unreachable' in list) {
      return problem(
        { title: 'Temporal is not available', status: 503, detail: `Temporal is not reachable at ${list.address}.` },
        { 'Retry-After': '5' },
      );
    }
    return json(list);
  });
}

export function action({ request, context }: ActionFunctionArgs) {
  return answer(async () => {
    if (request.method !== 'POST') return problem({ title: `${request.method} is not allowed here`, status: 405 }, { Allow: 'GET, POST' });
    const { user } = await apiUser(request);
    const key = idempotencyKey(request);
    // As the home form: the limit counts every submission, valid or not.
    const retryAfter = await submissionRetryAfter(context.clientIp);
    if (retryAfter !== null) {
      return problem(
        { title: 'Too many runs started from your address', status: 429, detail: `Try again in ${retryAfter} s.` },
        { 'Retry-After': String(retryAfter) },
      );
    }
    const body = await readJsonBody(request, StartRunBody);
    const { budget: limits, review } = getConfig();
    const budget = withinCap(body.budget ?? {}, limits);
    if (!budget.ok)
      return invalid('A limit is above what this deployment allows', [{ pointer: `#/budget/${budget.kind ?? ''}`, detail: budget.error }]);
    const over = await overDailyCap(user);
    if (over) return problem({ title: 'The daily spend cap is reached', status: 429, detail: over });
    const started = await startFromApi(
      { task: body.task, review: body.review ?? review.byDefault, budget: budget.budget },
      user,
      key === null ? null : { key, bodyHash: requestHash(body) },
    );
    if (started.created) workflowStarts.inc();
    const href = `/api/v1/runs/${started.workflowId}`;
    return json({ workflowId: started.workflowId, href }, { status: started.created ? 201 : 200, headers: { Location: href } });
  });
}
