/**
 * Request paths to metric labels: the route pattern a path matches, whatever its ids, so the
 * label set is bounded by the routes however many paths there are.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { UNMATCHED_ROUTE, routeLabeller, type RouteManifest } from './route-label.server';

/** The app's route manifest as `npm run build` writes it (web/build/server/index.mjs). */
const MANIFEST: RouteManifest = {
  root: { id: 'root', path: '' },
  'routes/runs.$runId.events': { id: 'routes/runs.$runId.events', parentId: 'routes/runs.$runId', path: 'events' },
  'routes/runs.$runId': { id: 'routes/runs.$runId', parentId: 'root', path: 'runs/:runId' },
  'routes/codec.$op': { id: 'routes/codec.$op', parentId: 'root', path: 'codec/:op' },
  'routes/healthz': { id: 'routes/healthz', parentId: 'root', path: 'healthz' },
  'routes/metrics': { id: 'routes/metrics', parentId: 'root', path: 'metrics' },
  'routes/_index': { id: 'routes/_index', parentId: 'root', index: true },
  'routes/logout': { id: 'routes/logout', parentId: 'root', path: 'logout' },
  'routes/readyz': { id: 'routes/readyz', parentId: 'root', path: 'readyz' },
  'routes/login': { id: 'routes/login', parentId: 'root', path: 'login' },
};

const label = routeLabeller(MANIFEST);

test('a path is labelled by the pattern of the route it matches, ids and all', () => {
  expect(label('/')).toBe('/');
  expect(label('/login')).toBe('/login');
  expect(label('/metrics')).toBe('/metrics');
  expect(label(`/runs/task-${randomUUID()}`)).toBe('/runs/:runId');
  expect(label('/runs/zq7v1')).toBe('/runs/:runId');
  expect(label('/runs/zq7v1/')).toBe('/runs/:runId');
  expect(label('/RUNS/zq7v1')).toBe('/runs/:runId');
  expect(label('/runs/zq7v1/events')).toBe('/runs/:runId/events');
  expect(label('/codec/decode')).toBe('/codec/:op');
});

test('single-fetch data requests and the route manifest get labels of their own', () => {
  expect(label('/runs/zq7v1.data')).toBe('/runs/:runId.data');
  expect(label('/_root.data')).toBe('/_root.data');
  expect(label('/__manifest')).toBe('/__manifest');
});

test('a path no route matches is (unmatched)', () => {
  for (const path of [
    '/no-such-page',
    '/wp-login.php',
    '/runs',
    '/runs/a/b',
    '/runs/a/events/b',
    '/assets/missing.js',
    '/nope.data',
    '/healthz/x',
  ]) {
    expect([path, label(path)]).toEqual([path, UNMATCHED_ROUTE]);
  }
});

test('nested, pathless and index routes get their full pattern', () => {
  const nested = routeLabeller({
    root: { id: 'root', path: '' },
    'routes/_app': { id: 'routes/_app', parentId: 'root' },
    'routes/_app.teams.$teamId': { id: 'routes/_app.teams.$teamId', parentId: 'routes/_app', path: 'teams/:teamId' },
    'routes/_app.teams.$teamId._index': { id: 'routes/_app.teams.$teamId._index', parentId: 'routes/_app.teams.$teamId', index: true },
    'routes/_app.teams.$teamId.runs': { id: 'routes/_app.teams.$teamId.runs', parentId: 'routes/_app.teams.$teamId', path: 'runs' },
    'routes/files.$': { id: 'routes/files.$', parentId: 'root', path: 'files/*' },
  });
  expect(nested('/teams/t1')).toBe('/teams/:teamId');
  expect(nested('/teams/t1/runs')).toBe('/teams/:teamId/runs');
  expect(nested('/files/a/b/c')).toBe('/files/*');
  expect(nested('/teams')).toBe(UNMATCHED_ROUTE);
});

test('any number of paths give no more labels than there are routes', () => {
  const labels = new Set<string>();
  for (let i = 0; i < 2_000; i++) {
    const id = randomBytes(6).toString('hex');
    for (const path of [`/runs/z${id}`, `/runs/z${id}/events`, `/runs/z${id}.data`, `/z${id}`, `/assets/z${id}.js`, `/${id}/${id}`])
      labels.add(label(path));
  }
  expect([...labels].sort()).toEqual(['(unmatched)', '/runs/:runId', '/runs/:runId.data', '/runs/:runId/events']);
});
