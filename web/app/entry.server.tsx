/**
 * Remix's Node entry (its default, streaming for browsers and all-at-once for bots), plus the
 * Content-Security-Policy nonce that web/server.ts made for this request, and no caching: pages
 * and their data show a user's runs and forms with their tokens.
 */
import { PassThrough } from 'node:stream';
import { createReadableStreamFromReadable, type AppLoadContext, type EntryContext } from '@remix-run/node';
import { RemixServer, isRouteErrorResponse } from '@remix-run/react';
import { isbot } from 'isbot';
import { renderToPipeableStream } from 'react-dom/server';
import { NonceProvider } from '~/components/nonce';
import { log } from '~/utils/log.server';

const ABORT_DELAY = 5_000;

function noStore(headers: Headers): void {
  if (!headers.has('Cache-Control')) headers.set('Cache-Control', 'no-store');
}

/**
 * Errors Remix meets while answering. A path that matches no route is a 404 anyone can ask for as
 * often as they like: Remix's default would log a stack trace for each.
 */
export function handleError(error: unknown, { request }: { request: Request }): void {
  if (request.signal.aborted || (isRouteErrorResponse(error) && error.status === 404)) return;
  // A route error response carries the thrown error inside it (not public in Remix's types).
  const cause = isRouteErrorResponse(error) ? ((error as { error?: unknown }).error ?? error) : error;
  log.error({ err: cause, path: new URL(request.url).pathname }, 'error while answering a request');
}

/** Client-side navigation's data requests (`.data`). */
export function handleDataRequest(response: Response): Response {
  noStore(response.headers);
  return response;
}

declare module '@remix-run/node' {
  interface AppLoadContext {
    /** Set by web/server.ts; the same value is in this response's CSP header. */
    cspNonce?: string;
  }
}

export default function handleRequest(
  request: Request,
  responseStatusCode: number,
  responseHeaders: Headers,
  remixContext: EntryContext,
  loadContext: AppLoadContext,
) {
  const nonce = loadContext.cspNonce ?? '';
  noStore(responseHeaders);
  const waitForAll = isbot(request.headers.get('user-agent') ?? '') || remixContext.isSpaMode;
  return new Promise<Response>((resolve, reject) => {
    let shellRendered = false;
    const ready = () => {
      shellRendered = true;
      const body = new PassThrough();
      responseHeaders.set('Content-Type', 'text/html; charset=utf-8');
      resolve(new Response(createReadableStreamFromReadable(body), { headers: responseHeaders, status: responseStatusCode }));
      pipe(body);
    };
    const { pipe, abort } = renderToPipeableStream(
      <NonceProvider value={nonce}>
        <RemixServer context={remixContext} url={request.url} abortDelay={ABORT_DELAY} nonce={nonce} />
      </NonceProvider>,
      {
        nonce,
        ...(waitForAll ? { onAllReady: ready } : { onShellReady: ready }),
        onShellError(error: unknown) {
          reject(error);
        },
        onError(error: unknown) {
          responseStatusCode = 500;
          // Errors after the shell are already streaming; log them, the page shows its boundary.
          if (shellRendered) console.error(error);
        },
      },
    );
    setTimeout(abort, ABORT_DELAY);
  });
}
