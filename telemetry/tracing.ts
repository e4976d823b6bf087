/**
 * OpenTelemetry tracing for both processes, set up only when OTEL_EXPORTER_OTLP_ENDPOINT is set
 * (config/tracing.ts): the SDK's tracer provider with an async-hooks context (so a request's span
 * is the parent of what it starts), W3C trace context, and a batch of spans posted over OTLP/HTTP
 * as JSON. Off, nothing here runs and the OpenTelemetry API stays a no-op.
 *
 * Attributes carry names, ids and counts only (the Temporal interceptors': workflow and activity
 * types and ids; ours: HTTP method, route and status, model name and token counts), never a task,
 * a prompt, a model's output or a setting's value. With payload encryption on, error messages are
 * dropped from spans too (status messages and recorded exceptions keep their type only): Temporal
 * keeps them encrypted, so a trace must not hold them in the clear.
 */
import { context, propagation, trace, type Attributes } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { Resource } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  type ReadableSpan,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import type { TracingConfig } from '../config/tracing';

/** What the Temporal interceptors need of a running SDK (the worker's workflow span exporter). */
export interface Tracing {
  spanProcessor: SpanProcessor;
  resource: Resource;
  /** Where spans go, for the start-up log line (no credentials). */
  display: string;
  /** Export what is buffered and stop: call before the process exits. */
  shutdown(): Promise<void>;
}

/**
 * Set up the SDK as the global tracer provider, or return null when `config` is null (tracing
 * off). `redactErrors`: payload encryption is on, so error messages stay out of spans.
 */
export function startTracing(config: TracingConfig | null, options: { defaultServiceName: string; redactErrors: boolean }): Tracing | null {
  if (!config) return null;
  const resource = new Resource({ 'service.name': config.serviceName ?? options.defaultServiceName });
  const exporter = new OTLPTraceExporter({ url: config.tracesUrl });
  // Batches are sent every OTEL_BSP_SCHEDULE_DELAY ms (5 s by default), read by the SDK itself.
  const spanProcessor = new BatchSpanProcessor(options.redactErrors ? withoutErrorMessages(exporter) : exporter);
  const provider = new BasicTracerProvider({ resource, spanProcessors: [spanProcessor] });
  // Also installs the W3C trace-context propagator, which the Temporal interceptors use for headers.
  provider.register({ contextManager: new AsyncLocalStorageContextManager() });
  return {
    spanProcessor,
    resource,
    display: config.display,
    async shutdown() {
      await provider.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
}

const EXCEPTION_DETAILS = new Set(['exception.message', 'exception.stacktrace']);

/** `exporter`, sending every span without its status message and its exceptions' messages and stacks. */
export function withoutErrorMessages(exporter: SpanExporter): SpanExporter {
  const redact = (span: ReadableSpan): ReadableSpan => {
    if (!span.status.message && !span.events.some((e) => e.name === 'exception')) return span;
    const events = span.events.map((event) =>
      event.name === 'exception' && event.attributes
        ? {
            ...event,
            attributes: Object.fromEntries(Object.entries(event.attributes).filter(([k]) => !EXCEPTION_DETAILS.has(k))) as Attributes,
          }
        : event,
    );
    // The span itself underneath (its getters and spanContext()), with these two fields replaced.
    return Object.create(span, { status: { value: { code: span.status.code } }, events: { value: events } }) as ReadableSpan;
  };
  return {
    export: (spans, done) => exporter.export(spans.map(redact), done),
    shutdown: () => exporter.shutdown(),
    ...(exporter.forceFlush ? { forceFlush: () => exporter.forceFlush!() } : {}),
  };
}
