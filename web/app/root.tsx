import type { LinksFunction, MetaFunction } from '@remix-run/node';
import { Link, Links, Meta, Outlet, Scripts, ScrollRestoration, isRouteErrorResponse, useRouteError } from '@remix-run/react';
import type { ReactNode } from 'react';
import { useNonce } from '~/components/nonce';
import stylesheet from '~/tailwind.css?url';

/** A small inline icon, so browsers do not ask for /favicon.ico. */
const FAVICON =
  "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 32 32'%3E%3Crect width='32' height='32' rx='7' fill='%230284c7'/%3E%3Cpath d='M9 8h9a5 5 0 0 1 0 10H9zM9 18h10a5 5 0 0 1 0 10H9z' fill='none' stroke='white' stroke-width='3'/%3E%3C/svg%3E";

export const links: LinksFunction = () => [
  { rel: 'stylesheet', href: stylesheet },
  { rel: 'icon', href: FAVICON, type: 'image/svg+xml' },
];

export const meta: MetaFunction = () => [
  { title: 'Buildstory' },
  { name: 'description', content: 'A durable AI task runner: watch a task planned and built, step by step.' },
];

export function Layout({ children }: { children: ReactNode }) {
  const nonce = useNonce();
  return (
    <html lang="en" className="dark">
      <head>
        <meta charSet="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <Meta />
        <Links />
      </head>
      <body className="min-h-screen font-sans">
        <header className="border-b border-slate-800">
          <div className="mx-auto flex max-w-4xl items-center justify-between px-4 py-3">
            <Link to="/" className="text-lg font-semibold tracking-tight text-slate-100 hover:text-sky-300">
              Buildstory
            </Link>
            <span className="text-xs text-slate-400">durable AI tasks on Temporal</span>
          </div>
        </header>
        <main className="mx-auto max-w-4xl px-4 py-8">{children}</main>
        <ScrollRestoration nonce={nonce} />
        <Scripts nonce={nonce} />
      </body>
    </html>
  );
}

export default function App() {
  return <Outlet />;
}

export function ErrorBoundary() {
  const error = useRouteError();
  const title = isRouteErrorResponse(error) ? `${error.status} ${error.statusText || 'Error'}` : 'Something went wrong';
  const detail = isRouteErrorResponse(error)
    ? typeof error.data === 'string'
      ? error.data
      : null
    : 'The page could not be shown. The server log has the details.';
  return (
    <section className="space-y-4">
      <h1 className="text-2xl font-semibold">{title}</h1>
      {detail ? <p className="text-slate-300">{detail}</p> : null}
      <Link to="/" className="text-sky-400 underline hover:text-sky-300">
        Start a new task
      </Link>
    </section>
  );
}
