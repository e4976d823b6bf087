/**
 * Trace export settings, which both processes read: OpenTelemetry's own variable names, so a
 * collector's usual setup applies. Unset OTEL_EXPORTER_OTLP_ENDPOINT: tracing is off (no SDK, no
 * interceptors).
 */
import { z } from 'zod';
import { blankToUndefined, optionalString } from './env';

/** The variables, for a process's schema. */
export const TRACING_ENV = {
  /** Where traces go over OTLP/HTTP (JSON): the collector's base URL; spans are posted to <it>/v1/traces. */
  OTEL_EXPORTER_OTLP_ENDPOINT: z.preprocess(blankToUndefined, z.string().url().optional()),
  /** The service the spans are from; each process has its own default (buildstory-web, buildstory-worker). */
  OTEL_SERVICE_NAME: optionalString,
};

export interface TracingConfig {
  /** Where spans are posted: the endpoint's /v1/traces. */
  tracesUrl: string;
  /** The endpoint without credentials or path, for logs. */
  display: string;
  /** OTEL_SERVICE_NAME; unset: the process's own default. */
  serviceName: string | undefined;
}

/** Null when OTEL_EXPORTER_OTLP_ENDPOINT is unset (tracing off). */
export function parseTracing(settings: { OTEL_EXPORTER_OTLP_ENDPOINT?: string; OTEL_SERVICE_NAME?: string }): TracingConfig | null {
  const endpoint = settings.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (!endpoint) return null;
  const url = new URL(endpoint);
  // As the OTLP exporters read the variable: the signal's path goes after the base URL's own.
  const tracesUrl = `${endpoint.replace(/\/+$/, '')}/v1/traces`;
  return { tracesUrl, display: `${url.protocol}//${url.host}`, serviceName: settings.OTEL_SERVICE_NAME?.trim() || undefined };
}
