/**
 * Sign out: POST with the session's CSRF token (so another site cannot sign you out), then the
 * cookie is cleared and you land on the sign-in page. GET just goes home.
 *
 * A page route (with a component that never renders) rather than a resource route, so that the
 * Sign out button's <Form> can post here without reloading the document.
 */
import { redirect, type ActionFunctionArgs } from '@remix-run/node';
import { authConfig, currentUser, endSession, requireCsrf } from '~/utils/auth.server';
import { readForm } from '~/utils/form.server';

export function loader() {
  return redirect('/');
}

export async function action({ request }: ActionFunctionArgs) {
  const auth = authConfig();
  if (!auth) return redirect('/');
  const viewer = await currentUser(request);
  // Signed out already (or the session expired): nothing to protect, just clear the cookie.
  if (viewer) requireCsrf(viewer, await readForm(request));
  return redirect('/login', { headers: { 'Set-Cookie': await endSession(auth, request) } });
}

export default function Logout() {
  return null;
}
