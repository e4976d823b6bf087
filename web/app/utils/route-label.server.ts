/**
 * The `route` label of the HTTP request metrics: the pattern of the Remix route a request matched
 * (`/runs/:runId`), never its path, so run ids, scanners and typos cannot add series. The labels
 * are the build's route patterns, their single-fetch data requests (`/runs/:runId.data`), the route
 * manifest endpoint, static files (web/server.ts) and one label for everything else.
 */
import { matchRoutes, type AgnosticRouteObject } from '@remix-run/router';

/** Files express.static served: the fingerprinted assets and the rest of the client build. */
export const STATIC_ROUTE = '(static)';
/** A path no route matches: a scanner, a typo, a missing asset. */
export const UNMATCHED_ROUTE = '(unmatched)';

/** What the labels need of a server build's route manifest (`ServerBuild['routes']`). */
export type RouteManifest = Record<
  string,
  { id: string; parentId?: string; path?: string; index?: boolean; caseSensitive?: boolean } | undefined
>;

type PatternRoute = AgnosticRouteObject & { pattern: string };

/**
 * Builds the build's route tree once; the function it returns labels one request path, matching it
 * the way Remix does (matchRoutes of @remix-run/router, which Remix itself uses).
 */
export function routeLabeller(manifest: RouteManifest): (path: string) => string {
  const routes = childRoutes(manifest, '', '/');
  return (path) => {
    // Remix answers this one itself (lazy route discovery), before matching any route.
    if (path === '/__manifest') return path;
    // Single fetch: `/runs/x.data` is the data of /runs/x, `/_root.data` that of `/`.
    const data = path.endsWith('.data');
    const pathname = data ? path.slice(0, -'.data'.length).replace(/^\/_root$/, '/') : path;
    const matches = matchRoutes(routes, pathname);
    if (!matches) return UNMATCHED_ROUTE;
    const pattern = matches[matches.length - 1].route.pattern;
    return data ? `${pattern === '/' ? '/_root' : pattern}.data` : pattern;
  };
}

/** The routes under parentId ('' for the top), each with its full pattern. */
function childRoutes(manifest: RouteManifest, parentId: string, parentPattern: string): PatternRoute[] {
  const routes: PatternRoute[] = [];
  for (const route of Object.values(manifest)) {
    if (!route || (route.parentId ?? '') !== parentId) continue;
    // Route paths are relative to the parent's; a pathless layout or index route shares its pattern.
    const pattern = route.path ? `${parentPattern}/${route.path}`.replace(/\/{2,}/g, '/').replace(/(.)\/$/, '$1') : parentPattern;
    const common = { id: route.id, path: route.path, caseSensitive: route.caseSensitive, pattern };
    routes.push(route.index ? { ...common, index: true } : { ...common, children: childRoutes(manifest, route.id, pattern) });
  }
  return routes;
}
