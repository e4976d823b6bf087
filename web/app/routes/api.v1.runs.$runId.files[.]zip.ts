/** Every file of a run in one zip, streamed, each checked against its SHA-256. */
import type { LoaderFunctionArgs } from '@remix-run/node';
import { answer, apiRunFiles, methodNotAllowed, problem } from '~/utils/api.server';
import { zipDownload } from '~/utils/run-files.server';

export function loader({ request, params }: LoaderFunctionArgs) {
  return answer(async () => {
    const workflowId = params.runId ?? '';
    const files = await apiRunFiles(request, workflowId);
    if (files instanceof Response) return files;
    if (files.length === 0) return problem({ title: 'This run has no files', status: 404 });
    return zipDownload(workflowId, files);
  });
}

export const action = methodNotAllowed('GET');
