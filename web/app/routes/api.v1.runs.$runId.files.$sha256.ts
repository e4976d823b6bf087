/** One file of a run, its bytes as text (never rendered), checked against its SHA-256 on the way out. */
import type { LoaderFunctionArgs } from '@remix-run/node';
import { answer, apiUser, fileProblem, methodNotAllowed } from '~/utils/api.server';
import { fileDownload, loadRunFile } from '~/utils/run-files.server';

export function loader({ request, params }: LoaderFunctionArgs) {
  return answer(async () => {
    const { user } = await apiUser(request);
    const loaded = await loadRunFile(params.runId ?? '', user, params.sha256 ?? '').catch(fileProblem);
    return loaded instanceof Response ? loaded : fileDownload(loaded.file, loaded.content);
  });
}

export const action = methodNotAllowed('GET');
