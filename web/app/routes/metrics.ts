import { registry } from '~/utils/metrics.server';

/** Prometheus scrape endpoint. */
export async function loader() {
  return new Response(await registry.metrics(), { headers: { 'Content-Type': registry.contentType } });
}
