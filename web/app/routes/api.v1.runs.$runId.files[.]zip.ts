/** Every file of a run in one zip, streamed, each checked against its SHA-256. */
import type { LoaderFunctionArgs } from '@remix-run/node';
import { answer, apiUser, fileProblem, methodNotAllowed, problem } from '~/utils/api.server';
import { loadRunFileList, zipDownload } from '~/utils/run-files.server';

export function loader({ request, params }: LoaderFunctionArgs) {
  return answer(async () => {
    const { user } = await apiUser(request);
    const workflowId = params.runId ?? '';
    const files = await loadRunFileList(workflowId, user).catch(fileProblem);
    if (files instanceof Response) return files;
    if (files.length === 0) return problem({ title: 'This run has no files', status: 404 });
    return zipDownload(workflowId, files);
  });
}

export const action = methodNotAllowed('GET');
