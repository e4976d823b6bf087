/**
 * The deployment files agree with the code: docker-compose.yml is valid (Debian's docker-compose
 * v1 checks it offline; no Docker engine needed), every long-running service has a health check,
 * the images' entrypoints exist, and each of the worker and the web app is handed the variables its
 * own process reads (config/worker.ts, config/web.ts), all of them and no others.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { CONFIG_ENV_PREFIXES, TEMPORAL_ENV_NAMES } from '../config/temporal';
import { WEB_ENV_NAMES } from '../config/web';
import { WORKER_ENV_NAMES } from '../config/worker';
import { DYNAMIC_CONFIG, dynamicConfigYaml } from '../devstack/cluster/temporal';
import { ROOT } from '../devstack/processes';

interface ComposeService {
  image?: string;
  security_opt?: string[];
  build?: { context: string; target?: string };
  restart?: string;
  environment?: Record<string, string | null>;
  healthcheck?: { test: string[] | string };
  depends_on?: Record<string, { condition: string }>;
  /** docker-compose v1 prints them short: `source:target:mode`. */
  volumes?: string[];
  ports?: unknown[];
}
interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

const COMPOSE_FILE = join(ROOT, 'docker-compose.yml');
const DOCKERFILE = join(ROOT, 'Dockerfile');

/** An empty env file: docker-compose must not read the developer's .env. */
const NO_ENV_FILE = join(mkdtempSync(join(tmpdir(), 'buildstory-deploy-')), 'empty.env');
writeFileSync(NO_ENV_FILE, '');

/** docker-compose with none of the developer's settings (a key in .env or the shell must not show up here). */
function dockerCompose(args: string[]): { status: number | null; output: string; stdout: string } {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME };
  const result = spawnSync('docker-compose', ['-f', COMPOSE_FILE, '--env-file', NO_ENV_FILE, ...args], {
    cwd: ROOT,
    env,
    encoding: 'utf8',
  });
  if (result.error) throw new Error(`docker-compose did not run (${result.error.message}): apt-get install -y docker-compose`);
  return { status: result.status, stdout: result.stdout, output: `${result.stdout}${result.stderr}` };
}

/** The file as docker-compose resolves it (anchors merged, variables substituted), parsed. */
function resolvedCompose(): ComposeFile {
  const config = dockerCompose(['config']);
  if (config.status !== 0) throw new Error(`docker-compose config failed:\n${config.output}`);
  // docker-compose v1 prints YAML only; it is a Python program, so Python's yaml module is there.
  const json = spawnSync('python3', ['-c', 'import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)'], {
    input: config.stdout,
    encoding: 'utf8',
  });
  if (json.status !== 0) throw new Error(`could not parse the docker-compose config output: ${json.stderr}`);
  return JSON.parse(json.stdout) as ComposeFile;
}

/**
 * The Dockerfile's stages by name, each as its instructions (continuation lines joined), those of
 * the stage it is built FROM first: a stage runs its parent's CMD and holds its parent's COPYs.
 */
function dockerfileStages(): Map<string, string[]> {
  const lines = readFileSync(DOCKERFILE, 'utf8')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'));
  const stages = new Map<string, string[]>();
  let current: string[] = [];
  for (const line of lines) {
    const from = /^FROM\s+(\S+)\s+AS\s+(\S+)$/i.exec(line);
    if (from) stages.set(from[2], (current = [...(stages.get(from[1]) ?? [])]));
    else current.push(line);
  }
  return stages;
}

/** The source files a script loads at run time: its relative imports that are not type-only, and theirs. */
function runtimeSources(entry: string): string[] {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = readFileSync(join(ROOT, file), 'utf8');
    for (const [, specifier] of text.matchAll(/^(?:import|export)(?!\s+type\b)[^;]*?\sfrom\s+'(\.[^']*)'/gm)) {
      const base = join(dirname(file), specifier);
      const resolved = [`${base}.ts`, `${base}.tsx`, join(base, 'index.ts')].find((path) => existsSync(join(ROOT, path)));
      expect({ file, specifier, resolved: Boolean(resolved) }).toEqual({ file, specifier, resolved: true });
      visit(resolved!);
    }
  };
  visit(entry);
  return [...seen];
}

/** Whether a stage COPYs this file from the build context, itself or in a directory. */
function copies(stage: string[], file: string): boolean {
  return stage.some((line) => {
    const source = /^COPY\s+(?!--from)(\S+)\s+\S+$/.exec(line)?.[1]?.replace(/\/$/, '');
    return source !== undefined && (source === file || file.startsWith(`${source}/`));
  });
}

/**
 * The worker's settings the sandbox worker does without: the model's (its sandbox runs code the
 * model wrote) and the webhook's (deliveries run on the runs' queue, which it does not serve).
 */
const MODEL_SETTING = /^(OPENAI_|OFFLINE_MODEL_|BUILDSTORY_PRICES|BUILDSTORY_WEBHOOK_)/;
/** The built services, each with what its process reads. */
const PROCESS_ENV_NAMES: Record<string, readonly string[]> = {
  worker: WORKER_ENV_NAMES,
  'sandbox-worker': WORKER_ENV_NAMES.filter((name) => !MODEL_SETTING.test(name)),
  web: WEB_ENV_NAMES,
};
/** What either process reads. */
const CONFIG_ENV_NAMES = [...new Set([...WORKER_ENV_NAMES, ...WEB_ENV_NAMES])];

function reads(names: readonly string[], name: string): boolean {
  return names.includes(name) || CONFIG_ENV_PREFIXES.some((prefix) => name.startsWith(prefix));
}
const isAccepted = (name: string) => reads(CONFIG_ENV_NAMES, name);

let compose: ComposeFile;
beforeAll(() => {
  compose = resolvedCompose();
});

const services = () => Object.entries(compose.services);
const builtServices = () => services().filter(([, service]) => service.build);
/** Services others wait for to exit with 0: setup steps, not daemons. */
const oneShots = () =>
  new Set(
    services().flatMap(([, service]) =>
      Object.entries(service.depends_on ?? {})
        .filter(([, dependency]) => dependency.condition === 'service_completed_successfully')
        .map(([name]) => name),
    ),
  );

test('docker-compose config -q accepts the file', () => {
  const result = dockerCompose(['config', '-q']);
  if (result.status !== 0) throw new Error(`docker-compose config -q exited with ${result.status}:\n${result.output}`);
});

test('the services are the stack docs/deploy.md describes', () => {
  const listed = dockerCompose(['config', '--services']).stdout.split('\n').filter(Boolean).sort();
  expect(listed).toEqual([
    'postgresql',
    'proxy',
    'sandbox-worker',
    'temporal',
    'temporal-namespace',
    'temporal-schema',
    'temporal-ui',
    'web',
    'worker',
  ]);
  expect(builtServices().map(([name, service]) => [name, service.build?.target])).toEqual([
    ['sandbox-worker', 'sandbox-worker'],
    ['web', 'web'],
    ['worker', 'worker'],
  ]);
});

test('browsers reach the web app only through the proxy, which passes event streams through', () => {
  expect(compose.services.web.ports ?? []).toEqual([]);
  expect(compose.services.proxy.volumes).toEqual([expect.stringMatching(/\/deploy\/nginx\.conf:\/etc\/nginx\/nginx\.conf:ro$/)]);
  const conf = readFileSync(join(ROOT, 'deploy', 'nginx.conf'), 'utf8');
  // Unbuffered, longer than the streams' 15 s pings, and the Host (with its port) the Origin check compares.
  for (const directive of ['proxy_buffering off;', 'proxy_read_timeout 1h;', 'proxy_set_header Host $http_host;', 'server web:3000'])
    expect(conf).toContain(directive);
});

test('Temporal reads the dynamic config the cluster test runs with', () => {
  const mount = '/etc/temporal/config/dynamicconfig/buildstory.yaml';
  expect(compose.services.temporal.environment?.DYNAMIC_CONFIG_FILE_PATH).toBe(mount);
  expect(compose.services.temporal.volumes).toEqual([expect.stringMatching(new RegExp(`/deploy/temporal-dynamic\\.yaml:${mount}:ro$`))]);
  const file = readFileSync(join(ROOT, 'deploy', 'temporal-dynamic.yaml'), 'utf8');
  expect(file.replace(/^#.*\n/gm, '')).toBe(dynamicConfigYaml(DYNAMIC_CONFIG));
});

test('every long-running service has a health check; one-shots do not restart', () => {
  const setup = oneShots();
  expect([...setup].sort()).toEqual(['temporal-namespace', 'temporal-schema']);
  for (const [name, service] of services()) {
    if (setup.has(name)) expect({ name, restart: service.restart ?? 'no' }).toEqual({ name, restart: 'no' });
    else expect({ name, healthcheck: Boolean(service.healthcheck?.test) }).toEqual({ name, healthcheck: true });
  }
});

test('every dependency waits for health or completion, never just for a start', () => {
  const setup = oneShots();
  for (const [name, service] of services()) {
    for (const [dependency, { condition }] of Object.entries(service.depends_on ?? {})) {
      const expected = setup.has(dependency) ? 'service_completed_successfully' : 'service_healthy';
      expect({ name, dependency, condition }).toEqual({ name, dependency, condition: expected });
      if (expected === 'service_healthy') expect(compose.services[dependency].healthcheck).toBeDefined();
    }
  }
});

test('images are pinned, and the Temporal admin tools match the server', () => {
  for (const [name, service] of services()) {
    if (service.build) continue;
    expect({ name, image: service.image }).toEqual({ name, image: expect.stringMatching(/^[\w./-]+:(?!latest$)[\w.-]+$/) });
  }
  const serverTag = compose.services.temporal.image?.split(':')[1];
  for (const name of oneShots()) expect(compose.services[name].image).toMatch(new RegExp(`^temporalio/admin-tools:${serverTag}\\b`));
});

test('PostgreSQL keeps its data on a named volume', () => {
  const named = dockerCompose(['config', '--volumes']).stdout.split('\n').filter(Boolean);
  const mounts = (compose.services.postgresql.volumes ?? []).map((volume) => volume.split(':'));
  const data = mounts.find(([, target]) => target === '/var/lib/postgresql/data');
  expect(named).toContain(data?.[0]);
});

test('each built service runs an entrypoint that exists and is copied into its image', () => {
  const stages = dockerfileStages();
  for (const [name, service] of builtServices()) {
    const stage = stages.get(service.build!.target!);
    expect({ name, stage: Boolean(stage) }).toEqual({ name, stage: true });
    const cmd = stage!.find((line) => /^CMD\s*\[/.test(line));
    const argv = JSON.parse(cmd!.replace(/^CMD\s*/, '')) as string[];
    expect(argv[0]).toBe('node_modules/.bin/tsx');
    const script = argv[argv.length - 1];
    expect({ name, script, exists: existsSync(join(ROOT, script)) }).toEqual({ name, script, exists: true });
    expect({ name, script, copied: copies(stage!, script) }).toEqual({ name, script, copied: true });
  }
  // The web image copies only some sources: all that web/server.ts loads, or it cannot start.
  const web = stages.get(compose.services.web.build!.target!)!;
  const missing = runtimeSources('web/server.ts').filter((file) => !copies(web, file));
  expect(missing).toEqual([]);
  // The web image serves the build made by `npm run build` (the test runner makes it first).
  expect(existsSync(join(ROOT, 'web', 'build', 'server', 'index.mjs'))).toBe(true);
});

test('the worker and the web app each get only variables their own process reads, and their probes use their ports', () => {
  expect(
    builtServices()
      .map(([name]) => name)
      .sort(),
  ).toEqual(Object.keys(PROCESS_ENV_NAMES).sort());
  for (const [name, service] of builtServices()) {
    // The worker no session secret or passwords, the web app no model settings (but the key's presence).
    const foreign = Object.keys(service.environment ?? {}).filter((key) => !reads(PROCESS_ENV_NAMES[name], key));
    expect({ name, foreign }).toEqual({ name, foreign: [] });
  }
  const probe = (name: string) => JSON.stringify(compose.services[name].healthcheck?.test);
  expect(probe('worker')).toContain(`:${compose.services.worker.environment?.WORKER_HEALTH_PORT}/readyz`);
  expect(probe('sandbox-worker')).toContain(`:${compose.services['sandbox-worker'].environment?.WORKER_HEALTH_PORT}/readyz`);
  expect(probe('web')).toContain(`:${compose.services.web.environment?.PORT}/healthz`);
});

test('each gets every Buildstory setting its process reads (of the connection, what the compose cluster needs)', () => {
  for (const [name, service] of builtServices()) {
    const given = Object.keys(service.environment ?? {});
    const missing = PROCESS_ENV_NAMES[name].filter(
      (key) => !given.includes(key) && !(TEMPORAL_ENV_NAMES as readonly string[]).includes(key),
    );
    expect({ name, missing }).toEqual({ name, missing: [] });
  }
});

test('verification runs on the sandbox worker only, which holds no model key and gets what bubblewrap needs', () => {
  const { worker } = compose.services;
  const sandbox = compose.services['sandbox-worker'];
  expect([worker.environment?.BUILDSTORY_WORKER_ROLE, worker.environment?.BUILDSTORY_VERIFY]).toEqual(['all', 'off']);
  expect([sandbox.environment?.BUILDSTORY_WORKER_ROLE, sandbox.environment?.BUILDSTORY_VERIFY]).toEqual(['sandbox', 'on']);
  expect(Object.keys(sandbox.environment ?? {}).filter((name) => MODEL_SETTING.test(name))).toEqual([]);
  // The same code as the worker's image, with bubblewrap, as root (the sandbox's uid switch and cgroups).
  const stage = dockerfileStages().get(sandbox.build!.target!)!;
  expect(stage.filter((line) => /^(CMD|USER)\b/.test(line)).slice(-2)).toEqual([expect.stringMatching(/^CMD/), 'USER root']);
  expect(stage.some((line) => /apt-get install .*\bbubblewrap\b/.test(line))).toBe(true);
  expect(sandbox.security_opt?.sort()).toEqual(['apparmor=unconfined', 'seccomp=unconfined', 'systempaths=unconfined']);
  expect(sandbox.volumes).toContain('/sys/fs/cgroup:/sys/fs/cgroup:rw');
  // Artifacts: written by the sandbox worker, served by the web app, from the same volume.
  const artifacts = (name: string) => compose.services[name].volumes?.find((volume) => volume.includes(':/app/.data/artifacts'));
  expect(artifacts('sandbox-worker')).toBe(artifacts('web'));
});

test('.env.example lists every setting under the process that reads it, and nothing that nothing reads', () => {
  const example = readFileSync(join(ROOT, '.env.example'), 'utf8');
  const names = (text: string) => [...text.matchAll(/^#?\s*([A-Z][A-Z0-9_]*)=/gm)].map((match) => match[1]);
  const listed = names(example);
  expect(CONFIG_ENV_NAMES.filter((name) => !listed.includes(name))).toEqual([]);

  // `# ===== <heading> =====` lines split the file; a setting sits under a heading its process reads.
  const parts = example.split(/^# =+ (.+?) =+$/m);
  const headings = parts.filter((_, index) => index % 2 === 1);
  expect(headings).toEqual(['Both processes', 'Worker', 'Web app', 'docker-compose.yml only']);
  expect(names(parts[0])).toEqual([]);
  const composeText = readFileSync(COMPOSE_FILE, 'utf8');
  const belongs: Record<string, (name: string) => boolean> = {
    'Both processes': (name) => reads(WORKER_ENV_NAMES, name) && reads(WEB_ENV_NAMES, name),
    Worker: (name) => reads(WORKER_ENV_NAMES, name),
    'Web app': (name) => reads(WEB_ENV_NAMES, name),
    // docker-compose.yml's own ${...} substitutions.
    'docker-compose.yml only': (name) => !isAccepted(name) && composeText.includes(`\${${name}`),
  };
  for (let index = 1; index < parts.length; index += 2) {
    const heading = parts[index];
    const misplaced = names(parts[index + 1]).filter((name) => !belongs[heading](name));
    expect({ heading, misplaced }).toEqual({ heading, misplaced: [] });
  }
});
