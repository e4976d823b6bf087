import { SpanStatusCode, trace } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { parseTracing } from '../config/tracing';
import { startTracing, withoutErrorMessages } from './tracing';

test('unset OTEL_EXPORTER_OTLP_ENDPOINT: tracing is off, and nothing is set up', () => {
  expect(parseTracing({})).toBeNull();
  expect(startTracing(null, { defaultServiceName: 'buildstory-test', redactErrors: true })).toBeNull();
  // The API's own no-op: no SDK was registered.
  expect(trace.getTracer('x').startSpan('y').isRecording()).toBe(false);
});

test('the endpoint is the collector base URL: spans go to its /v1/traces, and logs show no credentials', () => {
  expect(parseTracing({ OTEL_EXPORTER_OTLP_ENDPOINT: 'https://user:pw@collector.example:4318/' })).toEqual({
    tracesUrl: 'https://user:pw@collector.example:4318/v1/traces',
    display: 'https://collector.example:4318',
    serviceName: undefined,
  });
  expect(parseTracing({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://localhost:4318/otlp', OTEL_SERVICE_NAME: 'bs' })).toMatchObject({
    tracesUrl: 'http://localhost:4318/otlp/v1/traces',
    serviceName: 'bs',
  });
});

test('with encryption on, error messages leave spans: status and exceptions keep their type only', () => {
  const memory = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(withoutErrorMessages(memory))] });
  const span = provider.getTracer('test').startSpan('failing');
  const error = new TypeError('the model wrote SECRET-TASK-TEXT');
  span.recordException(error);
  span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
  span.setAttribute('kept', 1);
  span.end();
  const [exported] = memory.getFinishedSpans();
  expect(exported.status).toEqual({ code: SpanStatusCode.ERROR });
  expect(exported.events.map((e) => [e.name, e.attributes])).toEqual([['exception', { 'exception.type': 'TypeError' }]]);
  expect(exported.attributes).toEqual({ kept: 1 });
  expect(exported.spanContext()).toEqual(span.spanContext());
  expect(JSON.stringify({ ...exported, events: exported.events, status: exported.status })).not.toContain('SECRET');
});
