/**
 * The Temporal UI's remote codec (resource route): POST /codec/decode and /codec/encode, and their
 * CORS preflight. See utils/codec-server.server.ts.
 *
 * With access control on, it needs a session like every other route (401 otherwise) of a user in
 * BUILDSTORY_CODEC_USERS (403 otherwise), both with the CORS headers so the UI can read them; in
 * the Temporal UI, turn on "Include cross-origin credentials" so the sign-in cookie goes along.
 * The preflight carries no cookie, so it is answered as is.
 */
import type { ActionFunctionArgs, LoaderFunctionArgs } from '@remix-run/node';
import { requireCodecUser } from '~/utils/auth.server';
import { codecCorsHeaders, handleCodecRequest } from '~/utils/codec-server.server';

/** GET (405) and the OPTIONS preflight, which Remix hands to a resource route's loader. */
export async function loader({ request, params }: LoaderFunctionArgs) {
  if (request.method !== 'OPTIONS') await requireCodecUser(request, { headers: codecCorsHeaders(request) });
  return handleCodecRequest(request, params.op);
}

export async function action({ request, params }: ActionFunctionArgs) {
  await requireCodecUser(request, { headers: codecCorsHeaders(request) });
  return handleCodecRequest(request, params.op);
}
