/**
 * The web app's /metrics stays bounded however many paths it is asked for: requests are labelled
 * by the route pattern they matched, never by their path. With access control on, a made-up run
 * id is a 302 to /login from a real route (not a 404), the case that once gave every such path a
 * series of its own.
 */
import { randomBytes } from 'node:crypto';
import { startStack, type Stack } from './setup/stack';

const REQUESTS = 300;
/** A mark no metric name or help text contains, so a path that leaked into a label shows. */
const LEAK = /zq[0-9a-f]{12}/;

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({
    name: 'metrics',
    model: 'offline',
    webEnv: {
      // As deployed: Remix's own error handler logs a stack trace per unmatched path in production.
      NODE_ENV: 'production',
      BUILDSTORY_AUTH_PASSWORDS: 'alice:alice-password-1',
      BUILDSTORY_SESSION_SECRET: 'test-session-secret-0123456789abcdef-0123456789',
    },
  });
});
afterAll(async () => {
  await stack?.close();
});

const madeUpId = () => `zq${randomBytes(6).toString('hex')}`;

/** Made-up paths for one random id: a run page, its data and its stream, a page. */
function madeUpPaths(): string[] {
  const id = madeUpId();
  return [`/runs/${id}`, `/runs/${id}.data`, `/runs/${id}/events`, `/${id}`];
}

/** Answers in full (a request is recorded once its response has finished); returns the status. */
async function get(path: string): Promise<number> {
  const res = await fetch(`${stack.base}${path}`, { redirect: 'manual', signal: AbortSignal.timeout(15_000) });
  await res.arrayBuffer();
  return res.status;
}

async function scrape(): Promise<{ text: string; series: string[] }> {
  const text = await (await fetch(`${stack.base}/metrics`)).text();
  // The label sets of the request-duration histogram, one per series.
  const series = text.split('\n').flatMap((line) => /^buildstory_http_request_duration_seconds_count(\{[^}]*\})/.exec(line)?.[1] ?? []);
  return { text, series: series.sort() };
}

test(`${REQUESTS} made-up run ids and paths add no series to /metrics, signed out (302, 401, 404)`, async () => {
  // One of each first (and a static file, a missing one, /metrics itself), so their series exist.
  const asset = /\/assets\/[^"]+\.css/.exec(await (await fetch(`${stack.base}/login`)).text())?.[0];
  expect(asset).toBeDefined();
  expect(await get(asset!)).toBe(200);
  expect(await get(`/assets/${madeUpId()}.js`)).toBe(404);
  expect(await get('/metrics')).toBe(200);
  expect(await Promise.all(madeUpPaths().map(get))).toEqual([302, 202, 401, 404]);
  const before = await scrape();

  for (let done = 0; done < REQUESTS; done += 20) {
    await Promise.all(Array.from({ length: 20 }, madeUpPaths).flat().map(get));
  }
  const after = await scrape();

  // Counted first, so a failure says how many series and which path leaked, not the whole text.
  expect({ series: after.series.length, leaked: LEAK.exec(after.text)?.[0] }).toEqual({ series: before.series.length, leaked: undefined });
  expect(after.series).toEqual(before.series);
  const count = (labels: string) =>
    Number(new RegExp(`^buildstory_http_request_duration_seconds_count\\{${labels}\\} (\\d+)$`, 'm').exec(after.text)?.[1]);
  expect(count('method="GET",route="/runs/:runId",status="302"')).toBe(REQUESTS + 1);
  expect(count('method="GET",route="/runs/:runId/events",status="401"')).toBe(REQUESTS + 1);
  expect(count('method="GET",route="\\(unmatched\\)",status="404"')).toBe(REQUESTS + 2);
  expect(count('method="GET",route="\\(static\\)",status="200"')).toBe(1);
});

test('paths that match no route are not logged: anyone could fill the logs with them', async () => {
  for (let i = 0; i < 20; i++) expect(await get(`/${madeUpId()}`)).toBe(404);
  // The log is written as the requests are answered; the stack traces Remix's handler wrote came with them.
  expect(stack.webStderr()).not.toMatch(/No route matches|zq[0-9a-f]{12}/);
});
