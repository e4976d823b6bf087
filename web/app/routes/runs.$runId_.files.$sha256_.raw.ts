/** GET /runs/:runId/files/:sha256/raw: one file of the run, as a download (its owner only). */
import type { LoaderFunctionArgs } from '@remix-run/node';
import { requireApiUser } from '~/utils/auth.server';
import { fileDownload, loadRunFile } from '~/utils/run-files.server';

export async function loader({ request, params }: LoaderFunctionArgs) {
  const { user } = await requireApiUser(request);
  const { file, content } = await loadRunFile(params.runId ?? '', user, params.sha256 ?? '');
  return fileDownload(file, content);
}
