/**
 * One span per request when tracing is on (telemetry/tracing.ts): a server span named by the
 * method and the route pattern (never the path itself, which holds run ids, or the query), with
 * the status. Everything the request does runs in its context, so the Temporal client's spans
 * (a workflow start) are its children and carry the trace on to the worker.
 */
import { SpanKind, SpanStatusCode, context, propagation, trace } from '@opentelemetry/api';
import type { RequestHandler } from 'express';
import { STATIC_ROUTE } from './app/utils/route-label.server';

export function traceRequests(): RequestHandler {
  const tracer = trace.getTracer('buildstory-web');
  return (req, res, next) => {
    // A caller's W3C traceparent, if it sent one, makes this span part of its trace.
    const parent = propagation.extract(context.active(), req.headers);
    const span = tracer.startSpan(req.method, { kind: SpanKind.SERVER, attributes: { 'http.request.method': req.method } }, parent);
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      // Labelled on the way to Remix (web/server.ts); a response that ended before was a static file.
      const route = (res.locals.route as string | undefined) ?? STATIC_ROUTE;
      span.updateName(`${req.method} ${route}`);
      span.setAttributes({ 'http.route': route, 'http.response.status_code': res.statusCode });
      if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    };
    res.once('finish', end);
    // A client that went away before the response ended (an event stream, say).
    res.once('close', end);
    context.with(trace.setSpan(parent, span), next);
  };
}
