/** GET /runs/:runId/files/:sha256/raw: one file of the run, as a download (its owner only). */
import type { LoaderFunctionArgs } from '@remix-run/node';
import { requireApiUser } from '~/utils/auth.server';
import { loadRunFile } from '~/utils/run-files.server';

export async function loader({ request, params }: LoaderFunctionArgs) {
  const { user } = await requireApiUser(request);
  const { file, content } = await loadRunFile(params.runId ?? '', user, params.sha256 ?? '');
  const name = file.path.split('/').pop() ?? 'file';
  return new Response(new Uint8Array(content), {
    headers: {
      // Never rendered by the browser: code a model wrote is text, whatever its name says.
      'Content-Type': 'text/plain; charset=utf-8',
      'Content-Disposition': `attachment; filename="${name.replace(/[^A-Za-z0-9._-]/g, '_')}"`,
      'Content-Length': String(content.length),
      'X-Content-Type-Options': 'nosniff',
      'Cache-Control': 'no-store',
      ETag: `"${file.sha256}"`,
    },
  });
}
