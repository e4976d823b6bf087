/** GET /runs/:runId/files.zip: every file of the run in one zip, streamed (its owner only). */
import type { LoaderFunctionArgs } from '@remix-run/node';
import { requireApiUser } from '~/utils/auth.server';
import { loadRunFileList, zipDownload } from '~/utils/run-files.server';

export async function loader({ request, params }: LoaderFunctionArgs) {
  const { user } = await requireApiUser(request);
  const workflowId = params.runId ?? '';
  const files = await loadRunFileList(workflowId, user);
  if (files.length === 0) throw new Response('This run has no files.\n', { status: 404 });
  return zipDownload(workflowId, files);
}
