/**
 * Sign-in (access control on; with it off this page sends you home). The form works without
 * JavaScript. POST: CSRF token of the form's own session, then the per-client limit on attempts,
 * then the password, compared in constant time.
 */
import { data, redirect, type ActionFunctionArgs, type HeadersFunction, type LoaderFunctionArgs, type MetaFunction } from '@remix-run/node';
import { Form, useActionData, useLoaderData, useNavigation, useSearchParams } from '@remix-run/react';
import { SUBMIT_BUTTON, TEXT_FIELD } from '~/components/form-styles';
import {
  authConfig,
  currentUser,
  safeNext,
  signInCsrfValid,
  signInForm,
  signInRetryAfter,
  signInSucceeded,
  startSession,
  verifyPassword,
} from '~/utils/auth.server';
import { readForm } from '~/utils/form.server';

export const meta: MetaFunction = () => [{ title: 'Sign in · Buildstory' }];

export async function loader({ request }: LoaderFunctionArgs) {
  const auth = authConfig();
  const url = new URL(request.url);
  const next = safeNext(url.searchParams.get('next'), url.origin);
  if (!auth || (await currentUser(request))) throw redirect(next);
  const { csrf, setCookie } = await signInForm(auth, request);
  return data(
    { csrf, askUser: !auth.shared },
    { headers: { 'Cache-Control': 'no-store', ...(setCookie ? { 'Set-Cookie': setCookie } : {}) } },
  );
}

/** The action's Retry-After (and no caching) must reach a document response. */
export const headers: HeadersFunction = ({ actionHeaders, loaderHeaders }) => {
  const headers = new Headers({ 'Cache-Control': 'no-store' });
  const retryAfter = actionHeaders.get('Retry-After') ?? loaderHeaders.get('Retry-After');
  if (retryAfter) headers.set('Retry-After', retryAfter);
  return headers;
};

type ActionError = { error: string; user: string };

export async function action({ request, context }: ActionFunctionArgs) {
  const auth = authConfig();
  if (!auth) throw redirect('/');
  const form = await readForm(request);
  const user = typeof form.get('user') === 'string' ? String(form.get('user')).slice(0, 100) : '';
  const password = typeof form.get('password') === 'string' ? String(form.get('password')) : '';

  // A sign-in posted from another site carries no session cookie (SameSite=Lax): refused before
  // it can count against this address's attempts.
  if (!(await signInCsrfValid(auth, request, form))) {
    return data<ActionError>(
      { error: 'This sign-in form has expired (or the browser did not send its cookie): reload the page and try again.', user },
      { status: 403 },
    );
  }
  const retryAfter = await signInRetryAfter(context.clientIp);
  if (retryAfter !== null) {
    const minutes = Math.ceil(retryAfter / 60);
    return data<ActionError>(
      { error: `Too many sign-in attempts from your address: try again in ${minutes} minute${minutes === 1 ? '' : 's'}.`, user },
      { status: 429, headers: { 'Retry-After': String(retryAfter) } },
    );
  }
  const signedIn = verifyPassword(auth, user, password);
  if (!signedIn) {
    return data<ActionError>({ error: auth.shared ? 'Wrong password.' : 'Wrong user name or password.', user }, { status: 401 });
  }
  await signInSucceeded(context.clientIp);
  const url = new URL(request.url);
  const next = safeNext(url.searchParams.get('next') ?? form.get('next'), url.origin);
  return redirect(next, { headers: { 'Set-Cookie': await startSession(auth, request, signedIn) } });
}

export default function Login() {
  const { csrf, askUser } = useLoaderData<typeof loader>();
  const actionData = useActionData<typeof action>();
  const navigation = useNavigation();
  const [params] = useSearchParams();
  const submitting = navigation.state !== 'idle' && navigation.formMethod?.toLowerCase() === 'post';
  const error = actionData && 'error' in actionData ? actionData.error : null;

  return (
    <section className="mx-auto max-w-sm space-y-6">
      <h1 className="text-2xl font-semibold tracking-tight">Sign in</h1>
      <Form method="post" className="space-y-4" aria-describedby={error ? 'login-error' : undefined}>
        <input type="hidden" name="csrf" value={csrf} />
        <input type="hidden" name="next" value={params.get('next') ?? '/'} />
        {error ? (
          <p id="login-error" role="alert" className="rounded-md border border-red-800 bg-red-950/60 px-4 py-3 text-red-200">
            {error}
          </p>
        ) : null}
        {askUser ? (
          <div className="space-y-1">
            <label htmlFor="user" className="block text-sm font-medium text-slate-200">
              User name
            </label>
            <input
              id="user"
              name="user"
              autoComplete="username"
              required
              defaultValue={actionData && 'user' in actionData ? actionData.user : ''}
              className={`${TEXT_FIELD} border-slate-700`}
            />
          </div>
        ) : null}
        <div className="space-y-1">
          <label htmlFor="password" className="block text-sm font-medium text-slate-200">
            Password
          </label>
          <input
            id="password"
            name="password"
            type="password"
            autoComplete="current-password"
            required
            autoFocus={!askUser}
            className={`${TEXT_FIELD} border-slate-700`}
          />
        </div>
        <button type="submit" disabled={submitting} className={SUBMIT_BUTTON}>
          {submitting ? 'Signing in…' : 'Sign in'}
        </button>
      </Form>
    </section>
  );
}
