/**
 * The browser's share of the web build, checked: what the run page and the home page load
 * (gzipped, summed), against a budget for the run page; and no Temporal SDK or Node-only code in
 * any client chunk. A size is deterministic for a given build, unlike a time, so it can fail a test.
 * `npm test` runs it after the web build; alone: `npx tsx scripts/check-bundle.ts [client build dir]`
 * (web/build/client by default, after `npm run build`).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

export const CLIENT_BUILD = join(__dirname, '..', 'web', 'build', 'client');

/** KB here are 1,024 bytes of gzip at level 9. */
const KB = 1024;

/** Pages to measure: a name, the Remix route id of the page's leaf route, a budget for what it loads. */
const PAGES = [
  // Markdown included; code highlighting and the review editor are fetched on demand
  // (web/app/components/Markdown.tsx, PlanReview). 130 → 131 KB on 2026-12-01 for the spend line
  // (tokens and cost, always shown), after the editor went lazy and structured-clone was aliased
  // to the browser's own: the page had 0.3 KB left and the line needs 0.5. 131 → 132 KB the same
  // day for fair share's "Queued (k ahead)" badge and notice (0.2 KB). The next feature on this
  // page should pay for itself: the event list's summaries are the next candidate to move.
  // Verification's story lines fit with its marks and report (Verification) and the run's files
  // (RunFiles) in lazy chunks, and the file page highlights on the server: 131.9 KB on
  // 2026-12-01, 0.1 KB left.
  { name: 'run page', route: 'routes/runs.$runId', budgetKb: 132 },
  { name: 'home page', route: 'routes/_index', budgetKb: null },
] as const;

/**
 * Text that only server code carries. Temporal: strings of @temporalio/workflow and /common
 * (package names in messages, the workflow activator's global, the SDK's internal keys, the
 * failure class name its instanceof checks keep as a string). Node: a `node:` import left as is,
 * and Node-only APIs. (A Node built-in imported by browser code fails the build itself: see
 * vite.config.ts; Vite would leave only an empty object, nothing to find here.)
 */
const FORBIDDEN: Array<{ what: string; pattern: RegExp }> = [
  { what: 'Temporal SDK (@temporalio/*)', pattern: /@temporalio\/|__TEMPORAL_|__temporal_|TemporalFailure/ },
  { what: 'a Node built-in import', pattern: /(?:from\s*|import\s*\(\s*|require\s*\(\s*)["']node:/ },
  { what: 'Node-only code', pattern: /process\.binding|@grpc\/grpc-js/ },
];

interface RemixManifest {
  url: string;
  entry: { module: string; imports?: string[] };
  routes: Record<string, { parentId?: string; module: string; imports?: string[] }>;
}

class ClientBuild {
  constructor(readonly dir: string) {}

  /** `/assets/x.js` → its file. */
  file(url: string): string {
    return join(this.dir, url);
  }

  chunks(): string[] {
    return readdirSync(join(this.dir, 'assets')).filter((name) => name.endsWith('.js'));
  }

  manifest(): RemixManifest {
    const files = this.chunks().filter((name) => /^manifest-[\w-]+\.js$/.test(name));
    if (files.length !== 1) throw new Error(`expected one client manifest in ${this.dir}/assets, found ${files.length}: run npm run build`);
    const text = readFileSync(this.file(`/assets/${files[0]}`), 'utf8');
    const json = /^window\.__remixManifest=(.*);\s*$/s.exec(text)?.[1];
    if (!json) throw new Error(`${files[0]} is not a Remix client manifest (window.__remixManifest=...)`);
    return JSON.parse(json) as RemixManifest;
  }

  /** The chunks a chunk imports (`import … from "./x.js"`, `import("./x.js")`), as URLs. */
  importsOf(url: string): { static: string[]; dynamic: string[] } {
    const text = readFileSync(this.file(url), 'utf8');
    const dir = url.slice(0, url.lastIndexOf('/') + 1);
    const urls = (pattern: RegExp) => [...text.matchAll(pattern)].map((m) => `${dir}${m[1]}`);
    return {
      static: urls(/\bimport\s*(?:[\w$*{}\s,]+from\s*)?["']\.\/([^"']+\.js)["']/g),
      dynamic: urls(/\bimport\(\s*["']\.\/([^"']+\.js)["']\s*\)/g),
    };
  }

  /** `start` and every chunk they import statically; apart, what any of them import on demand. */
  closure(start: Iterable<string>): { loaded: Set<string>; onDemand: Set<string> } {
    const loaded = new Set<string>(start);
    const onDemand = new Set<string>();
    for (const url of loaded) {
      const found = this.importsOf(url);
      for (const next of found.static) loaded.add(next);
      for (const next of found.dynamic) onDemand.add(next);
    }
    return { loaded, onDemand };
  }

  gzipSize(url: string): number {
    return gzipSync(readFileSync(this.file(url)), { level: 9 }).length;
  }
}

/**
 * The JavaScript a page loads: the manifest, the entry, each route from the root down to the page
 * (module and imports), and what those import. Apart: what they fetch on demand (React.lazy),
 * with its own imports, less what the page already has.
 */
function pageScripts(build: ClientBuild, manifest: RemixManifest, routeId: string): { atLoad: string[]; onDemand: string[] } {
  const start = [manifest.url, manifest.entry.module, ...(manifest.entry.imports ?? [])];
  for (let id: string | undefined = routeId; id; id = manifest.routes[id]?.parentId) {
    const route = manifest.routes[id];
    if (!route) throw new Error(`route ${id} is not in the client manifest`);
    start.push(route.module, ...(route.imports ?? []));
  }
  const atLoad = build.closure(start);
  const later = build.closure(atLoad.onDemand).loaded;
  return { atLoad: [...atLoad.loaded], onDemand: [...later].filter((url) => !atLoad.loaded.has(url)) };
}

/** Sizes, largest first, and their total. */
function measure(build: ClientBuild, urls: string[]): { sizes: Array<{ url: string; gz: number }>; total: number } {
  const sizes = urls.map((url) => ({ url, gz: build.gzipSize(url) })).sort((a, b) => b.gz - a.gz);
  return { sizes, total: sizes.reduce((sum, s) => sum + s.gz, 0) };
}

const kb = (bytes: number) => (bytes / KB).toFixed(1);

/** Prints the figures; returns the problems found (none when the build is within bounds). */
export function checkClientBundle(log: (line: string) => void, dir = CLIENT_BUILD): string[] {
  const build = new ClientBuild(dir);
  const manifest = build.manifest();
  const problems: string[] = [];
  for (const page of PAGES) {
    const scripts = pageScripts(build, manifest, page.route);
    const atLoad = measure(build, scripts.atLoad);
    const budget = page.budgetKb === null ? '' : ` (budget ${page.budgetKb} KB)`;
    log(`${page.name}: ${kb(atLoad.total)} KB of JavaScript gzipped at load, in ${scripts.atLoad.length} files${budget}`);
    for (const { url, gz } of atLoad.sizes) log(`  ${kb(gz).padStart(6)} KB  ${url}`);
    if (scripts.onDemand.length > 0) {
      const later = measure(build, scripts.onDemand);
      log(`  and ${kb(later.total)} KB on demand, only when the page needs it:`);
      for (const { url, gz } of later.sizes) log(`  ${kb(gz).padStart(6)} KB  ${url}`);
    }
    if (page.budgetKb !== null && atLoad.total > page.budgetKb * KB) {
      problems.push(`the ${page.name} loads ${kb(atLoad.total)} KB of JavaScript gzipped, over its budget of ${page.budgetKb} KB`);
    }
  }
  for (const name of build.chunks()) {
    const text = readFileSync(build.file(`/assets/${name}`), 'utf8');
    for (const { what, pattern } of FORBIDDEN) {
      const match = pattern.exec(text);
      if (match) problems.push(`server code in a client chunk: ${name} carries ${what} ("${match[0]}")`);
    }
  }
  return problems;
}

if (require.main === module) {
  const log = (line: string) => process.stdout.write(`[bundle] ${line}\n`);
  const problems = checkClientBundle(log, process.argv[2]);
  for (const problem of problems) log(`FAIL ${problem}`);
  if (problems.length === 0) log('ok: within budget, no server code in the client');
  process.exit(problems.length === 0 ? 0 : 1);
}
