/** The files a run's code steps wrote (verification's artifacts), with where the API serves each. */
import type { LoaderFunctionArgs } from '@remix-run/node';
import { answer, apiRunFiles, json, methodNotAllowed } from '~/utils/api.server';

export function loader({ request, params }: LoaderFunctionArgs) {
  return answer(async () => {
    const workflowId = params.runId ?? '';
    const files = await apiRunFiles(request, workflowId);
    if (files instanceof Response) return files;
    const base = `/api/v1/runs/${encodeURIComponent(workflowId)}/files`;
    return json({
      files: files.map((f) => ({ ...f, href: `${base}/${f.sha256}` })),
      zip: files.length > 0 ? `${base}.zip` : null,
    });
  });
}

export const action = methodNotAllowed('GET');
