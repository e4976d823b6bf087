/**
 * The web app in production: serves the Remix build from web/build. Run with `tsx web/server.ts`
 * after `npm run build`.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { createRequestHandler } from '@remix-run/express';
import type { ServerBuild } from '@remix-run/node';
import { randomBytes } from 'node:crypto';
import compression from 'compression';
import helmet from 'helmet';
import express from 'express';
import pino from 'pino';
import { getConfig } from './app/utils/env.server';
import { closeSharedStore, startSharedStore } from './app/utils/shared-store.server';
import { limitRequestBodies, refuseCrossOriginForms, strictTransportSecurity } from './request-guards';
// Type only: the build's own copy of the module publishes its metrics on globalThis (see there).
import type { WebMetricsGlobal } from './app/utils/metrics.server';
import { STATIC_ROUTE, routeLabeller } from './app/utils/route-label.server';
import { traceRequests } from './request-tracing';
import { startTracing } from '../telemetry/tracing';

// React and Express pick their production paths from this; set before the build is loaded.
process.env.NODE_ENV ??= 'production';

const BUILD_DIR = path.resolve(__dirname, 'build');
const SERVER_BUILD = path.join(BUILD_DIR, 'server', 'index.mjs');
const CLIENT_DIR = path.join(BUILD_DIR, 'client');
/** Open requests (and later, event streams) get this long to finish after SIGINT/SIGTERM. */
const SHUTDOWN_GRACE_MS = 5_000;

async function main() {
  const config = getConfig(); // exits with one line on a bad setting
  const log = pino({ name: 'web', level: config.logLevel });
  // Before the build loads: its Temporal client adds the tracing interceptor when this is on.
  const tracing = startTracing(config.tracing, { defaultServiceName: 'buildstory-web', redactErrors: config.encryption !== null });
  if (tracing) log.info({ endpoint: tracing.display }, 'tracing on: spans are exported over OTLP');
  if (!existsSync(SERVER_BUILD)) {
    console.error(`The web app is not built (${path.relative(process.cwd(), SERVER_BUILD)} is missing): run npm run build`);
    process.exit(1);
  }
  const build = (await import(pathToFileURL(SERVER_BUILD).href)) as ServerBuild;
  // Before listening: a replica that cannot reach the shared store stops here (one line, never
  // the password) rather than serve with a list of its own; its supervisor starts it again.
  // The build's copy of shared-store.server.ts finds this store on globalThis.
  const store = await startSharedStore().catch((err: Error) => {
    console.error(err.message);
    process.exit(1);
  });
  log.info(`sign-out list and rate limits: ${store.describe}`);

  const app = express();
  app.disable('x-powered-by');
  // First, so the request's span covers everything after it (and is the parent of what it starts).
  if (tracing) app.use(traceRequests());
  // Security headers (helmet), with a Content-Security-Policy whose script nonce is new per request.
  app.use((_req, res, next) => {
    res.locals.cspNonce = randomBytes(16).toString('base64');
    next();
  });
  app.use(
    helmet({
      contentSecurityPolicy: {
        useDefaults: false,
        directives: {
          defaultSrc: ["'self'"],
          scriptSrc: ["'self'", (_req, res) => `'nonce-${(res as express.Response).locals.cspNonce}'`],
          styleSrc: ["'self'", "'unsafe-inline'"],
          imgSrc: ["'self'", 'data:'],
          connectSrc: ["'self'"],
          fontSrc: ["'self'"],
          objectSrc: ["'none'"],
          baseUri: ["'self'"],
          formAction: ["'self'"],
          frameAncestors: ["'none'"],
        },
      },
      // The app may be served over plain HTTP locally: HSTS goes on https requests only (below).
      strictTransportSecurity: false,
      // helmet's default (no-referrer) makes browsers send `Origin: null` on plain form posts, which
      // Remix's own origin check then refuses: same-origin keeps the forms working without JavaScript.
      referrerPolicy: { policy: 'same-origin' },
    }),
  );
  // Set by the build's metrics module, which the build loads with its routes.
  const metrics = (globalThis as WebMetricsGlobal).__buildstoryMetrics;
  if (!metrics) log.warn('the build did not load its metrics module: no HTTP request metrics');
  const routeLabel = routeLabeller(build.routes);
  app.use((req, res, next) => {
    const started = process.hrtime.bigint();
    res.once('finish', () => {
      const contentType = res.getHeader('Content-Type');
      metrics?.observeRequest({
        method: req.method,
        // Set on the way to Remix (below); a response that ended before was a static file.
        route: (res.locals.route as string | undefined) ?? STATIC_ROUTE,
        status: res.statusCode,
        contentType: typeof contentType === 'string' ? contentType : undefined,
        seconds: Number(process.hrtime.bigint() - started) / 1e9,
      });
    });
    next();
  });
  // Set before anything reads a request (req.secure follows it).
  if (config.web.trustProxy)
    app.set('trust proxy', /^\d+$/.test(config.web.trustProxy) ? Number(config.web.trustProxy) : config.web.trustProxy);
  app.use(strictTransportSecurity);
  // Compression buffers its output: an event stream must pass through untouched.
  app.use(
    compression({
      filter: (req, res) => {
        const type = res.getHeader('Content-Type');
        if (typeof type === 'string' && /^text\/event-stream/i.test(type)) return false;
        return compression.filter(req, res);
      },
    }),
  );
  // Vite fingerprints everything under /assets, so it can be cached for good.
  app.use('/assets', express.static(path.join(CLIENT_DIR, 'assets'), { immutable: true, maxAge: '1y' }));
  app.use(express.static(CLIENT_DIR, { maxAge: '1h' }));
  // Past the static files: the request is Remix's, labelled once by the route pattern it matches.
  app.use((req, res, next) => {
    res.locals.route = routeLabel(req.path);
    next();
  });
  app.use(limitRequestBodies, refuseCrossOriginForms);
  app.all(
    '*',
    createRequestHandler({
      build,
      mode: process.env.NODE_ENV,
      getLoadContext: (req, res) => {
        // Remix's request.signal reaches loaders through re-created requests whose signals follow
        // this response only by weak reference, lost to a garbage collection (undici#3644): event
        // streams take their end from the response itself.
        const responseClosed = new AbortController();
        res.once('close', () => responseClosed.abort());
        return {
          // Who is asking, for the submission rate limit: the socket's address, or the proxy's word for it.
          clientIp: req.ip ?? req.socket.remoteAddress ?? 'unknown',
          cspNonce: res.locals.cspNonce as string,
          responseClosed: responseClosed.signal,
        };
      },
    }),
  );

  const { host, port } = config.web;
  const server = app.listen(port, host, () => {
    const address = server.address();
    const actualPort = typeof address === 'object' && address ? address.port : port;
    const shownHost = host === '0.0.0.0' || host === '::' ? 'localhost' : host;
    log.info(`Buildstory web on http://${shownHost}:${actualPort} (Temporal ${config.temporal.describe})`);
  });
  server.on('error', (err) => {
    log.fatal({ err }, `cannot listen on ${host}:${port}: ${err.message}`);
    process.exit(1);
  });

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log.info(`${signal}: stopping`);
    // The spans still buffered go out before the process does.
    const exit = () => void Promise.allSettled([closeSharedStore(), tracing?.shutdown()]).finally(() => process.exit(0));
    server.close(exit);
    server.closeIdleConnections();
    setTimeout(() => {
      server.closeAllConnections();
      exit();
    }, SHUTDOWN_GRACE_MS).unref();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
