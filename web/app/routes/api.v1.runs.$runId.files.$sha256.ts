/** One file of a run, its bytes as text (never rendered), checked against its SHA-256 on the way out. */
import type { LoaderFunctionArgs } from '@remix-run/node';
import { answer, apiUser, fileProblem, methodNotAllowed } from '~/utils/api.server';
import { loadRunFile } from '~/utils/run-files.server';

export function loader({ request, params }: LoaderFunctionArgs) {
  return answer(async () => {
    const { user } = await apiUser(request);
    const loaded = await loadRunFile(params.runId ?? '', user, params.sha256 ?? '').catch(fileProblem);
    if (loaded instanceof Response) return loaded;
    const { file, content } = loaded;
    const name = file.path.split('/').pop() ?? 'file';
    return new Response(new Uint8Array(content), {
      headers: {
        'Content-Type': 'text/plain; charset=utf-8',
        'Content-Disposition': `attachment; filename="${name.replace(/[^A-Za-z0-9._-]/g, '_')}"`,
        'Content-Length': String(content.length),
        'X-Content-Type-Options': 'nosniff',
        'Cache-Control': 'no-store',
        ETag: `"${file.sha256}"`,
      },
    });
  });
}

export const action = methodNotAllowed('GET');
