/**
 * The signed-in user's API tokens: create one (shown once, here, after the POST), see each one's
 * name, creation and last use, revoke one. With access control off the API needs no token, and
 * this page says so. Every POST carries the session's CSRF token.
 */
import { data, redirect, type ActionFunctionArgs, type LoaderFunctionArgs, type MetaFunction } from '@remix-run/node';
import { Form, Link, useActionData, useLoaderData, useNavigation } from '@remix-run/react';
import { AccountBar } from '~/components/AccountBar';
import { SUBMIT_BUTTON, TEXT_FIELD } from '~/components/form-styles';
import { TokenLimitError, TokenName } from '~/utils/api-tokens.server';
import { authConfig, requireCsrf, requireUser } from '~/utils/auth.server';
import { readForm } from '~/utils/form.server';
import { log } from '~/utils/log.server';
import { apiTokens } from '~/utils/shared-store.server';

export const meta: MetaFunction = () => [{ title: 'API tokens · Buildstory' }];

const NO_STORE = { 'Cache-Control': 'no-store' };

export async function loader({ request }: LoaderFunctionArgs) {
  const viewer = await requireUser(request);
  if (!authConfig() || viewer.user === null) return data({ on: false as const }, { headers: NO_STORE });
  const tokens = await (await apiTokens()).list(viewer.user);
  return data({ on: true as const, user: viewer.user, csrf: viewer.csrf, tokens }, { headers: NO_STORE });
}

type ActionResult = { created: { name: string; token: string } } | { revoked: string } | { error: string; name?: string };

export async function action({ request }: ActionFunctionArgs) {
  const viewer = await requireUser(request);
  if (!authConfig() || viewer.user === null) throw redirect('/account');
  const form = await readForm(request);
  requireCsrf(viewer, form);
  const store = await apiTokens();
  const intent = form.get('intent');
  if (intent === 'create') {
    const raw = typeof form.get('name') === 'string' ? String(form.get('name')) : '';
    const name = TokenName.safeParse(raw);
    if (!name.success)
      return data<ActionResult>({ error: name.error.issues[0]!.message, name: raw.slice(0, 80) }, { status: 400, headers: NO_STORE });
    try {
      const { token, record } = await store.create(viewer.user, name.data);
      log.info({ user: viewer.user, tokenId: record.id }, 'API token created');
      return data<ActionResult>({ created: { name: record.name, token } }, { headers: NO_STORE });
    } catch (err) {
      if (err instanceof TokenLimitError) return data<ActionResult>({ error: err.message }, { status: 409, headers: NO_STORE });
      throw err;
    }
  }
  if (intent === 'revoke') {
    const id = typeof form.get('id') === 'string' ? String(form.get('id')) : '';
    if (!(await store.revoke(viewer.user, id))) {
      return data<ActionResult>({ error: 'No such token of yours: it may have been revoked already.' }, { status: 404, headers: NO_STORE });
    }
    log.info({ user: viewer.user, tokenId: id }, 'API token revoked');
    return data<ActionResult>({ revoked: id }, { headers: NO_STORE });
  }
  return data<ActionResult>({ error: 'Unknown action.' }, { status: 400, headers: NO_STORE });
}

function when(ms: number | null): string {
  return ms === null ? 'never' : new Date(ms).toISOString().replace('T', ' ').slice(0, 16) + ' UTC';
}

export default function Account() {
  const view = useLoaderData<typeof loader>();
  const result = useActionData<typeof action>() as ActionResult | undefined;
  const navigation = useNavigation();
  const busy = navigation.state !== 'idle';

  if (!view.on) {
    return (
      <section className="mx-auto max-w-2xl space-y-4">
        <h1 className="text-2xl font-semibold tracking-tight">API tokens</h1>
        <p className="text-slate-300">
          Access control is off: the API at <code>/api/v1</code> is open like the app, and needs no token. Tokens are made here once
          BUILDSTORY_AUTH_PASSWORDS is set.
        </p>
        <Link to="/" className="text-sky-300 hover:underline">
          ← All runs
        </Link>
      </section>
    );
  }

  const error = result && 'error' in result ? result.error : null;
  return (
    <section className="mx-auto max-w-3xl space-y-6">
      <AccountBar user={view.user} csrf={view.csrf} />
      <div className="space-y-1">
        <Link to="/" className="text-sm text-sky-300 hover:underline">
          ← All runs
        </Link>
        <h1 className="text-2xl font-semibold tracking-tight">API tokens</h1>
        <p className="text-slate-400">
          A token lets a script, CI or the <code>buildstory</code> CLI act as you: it sees and does what you see and do here. Send it as{' '}
          <code>Authorization: Bearer &lt;token&gt;</code>.
        </p>
      </div>

      {result && 'created' in result ? (
        <div role="status" className="space-y-2 rounded-md border border-emerald-800 bg-emerald-950/50 px-4 py-3">
          <p className="text-emerald-200">
            Token <span className="font-medium">{result.created.name}</span> created. Copy it now: it is not shown again.
          </p>
          <input
            readOnly
            aria-label="New token"
            value={result.created.token}
            onFocus={(e) => e.currentTarget.select()}
            className={`${TEXT_FIELD} border-emerald-700 font-mono text-sm`}
          />
        </div>
      ) : null}
      {error ? (
        <p role="alert" className="rounded-md border border-red-800 bg-red-950/60 px-4 py-3 text-red-200">
          {error}
        </p>
      ) : null}

      <Form method="post" className="flex items-end gap-3">
        <input type="hidden" name="csrf" value={view.csrf ?? ''} />
        <input type="hidden" name="intent" value="create" />
        <div className="flex-1 space-y-1">
          <label htmlFor="token-name" className="block text-sm font-medium text-slate-200">
            New token's name
          </label>
          <input
            // A new token empties the field (remounted: it is uncontrolled); a refused one keeps what was typed.
            key={result && 'created' in result ? `after-${view.tokens.length}` : 'name'}
            id="token-name"
            name="name"
            required
            maxLength={80}
            placeholder="e.g. CI"
            defaultValue={result && 'name' in result ? result.name : ''}
            className={`${TEXT_FIELD} border-slate-700`}
          />
        </div>
        <button type="submit" disabled={busy} className={SUBMIT_BUTTON}>
          Create token
        </button>
      </Form>

      {view.tokens.length === 0 ? (
        <p className="text-slate-400">You have no tokens.</p>
      ) : (
        <table className="w-full text-left text-sm">
          <thead className="text-slate-400">
            <tr>
              <th className="py-2 font-medium">Name</th>
              <th className="py-2 font-medium">Created</th>
              <th className="py-2 font-medium">Last used</th>
              <th className="py-2" />
            </tr>
          </thead>
          <tbody className="divide-y divide-slate-800">
            {view.tokens.map((t) => (
              <tr key={t.id}>
                <td className="py-2 text-slate-100">{t.name}</td>
                <td className="py-2 text-slate-300">{when(t.createdAt)}</td>
                <td className="py-2 text-slate-300">{when(t.lastUsedAt)}</td>
                <td className="py-2 text-right">
                  <Form method="post">
                    <input type="hidden" name="csrf" value={view.csrf ?? ''} />
                    <input type="hidden" name="intent" value="revoke" />
                    <input type="hidden" name="id" value={t.id} />
                    <button
                      type="submit"
                      disabled={busy}
                      aria-label={`Revoke ${t.name}`}
                      className="rounded-md border border-slate-700 px-2 py-0.5 text-slate-200 hover:border-red-500 hover:text-red-300"
                    >
                      Revoke
                    </button>
                  </Form>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
