import { Form, Link } from '@remix-run/react';

/**
 * Who is signed in, a link to their API tokens, and a Sign out button (a POST with the session's
 * CSRF token). Shown only when access control is on.
 */
export function AccountBar({ user, csrf }: { user: string | null; csrf: string | null }) {
  if (user === null || csrf === null) return null;
  return (
    <Form method="post" action="/logout" className="flex items-center justify-end gap-3 text-sm text-slate-400">
      <input type="hidden" name="csrf" value={csrf} />
      <span>
        Signed in as <span className="font-medium text-slate-200">{user}</span>
      </span>
      <Link to="/account" className="text-slate-300 underline-offset-2 hover:text-sky-300 hover:underline">
        API tokens
      </Link>
      <button
        type="submit"
        className="rounded-md border border-slate-700 px-2 py-0.5 text-slate-200 hover:border-sky-500 hover:text-sky-300"
      >
        Sign out
      </button>
    </Form>
  );
}
