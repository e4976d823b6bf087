/** Liveness for load balancers and scripts: the web process answers. It does not call Temporal. */
export function loader() {
  return new Response('ok', { status: 200, headers: { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' } });
}
