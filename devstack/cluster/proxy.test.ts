/**
 * The cluster's nginx config, checked by nginx itself (`nginx -t`) and for what event streams and
 * Temporal's long polls need, and run for real with stand-in replicas to show how it routes.
 * `npm run test:cluster` runs it in front of the real ones.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, ROOT } from '../processes';
import { nginxBin, nginxConfig, startProxy } from './proxy';

const dirs: string[] = [];
afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

/** `nginx -t` on a config written to a fresh directory; its output when it refuses it. */
function nginxTest(config: string): { ok: boolean; output: string } {
  const root = mkdtempSync(join(tmpdir(), 'buildstory-nginx-'));
  dirs.push(root);
  for (const d of ['tmp/client_body', 'tmp/proxy', 'tmp/fastcgi', 'tmp/uwsgi', 'tmp/scgi']) mkdirSync(join(root, d), { recursive: true });
  writeFileSync(join(root, 'nginx.conf'), config.replaceAll('ROOT', root));
  const result = spawnSync(nginxBin(), ['-t', '-p', root, '-c', 'nginx.conf', '-e', join(root, 'error.log')], { encoding: 'utf8' });
  if (result.error) throw new Error(`nginx did not run (${result.error.message}): apt-get install -y nginx`);
  return { ok: result.status === 0, output: `${result.stdout}${result.stderr}` };
}

const asRoot = process.getuid?.() === 0;
const options = {
  root: 'ROOT',
  asRoot,
  httpPort: 27290,
  grpcPort: 27291,
  webUpstreams: ['127.0.0.1:27292', '127.0.0.1:27293'],
  grpcUpstreams: ['127.0.0.1:27233', '127.0.0.1:27236'],
};

test('nginx accepts the config, with the web side and gRPC only', () => {
  expect(nginxTest(nginxConfig(options))).toEqual({ ok: true, output: expect.stringContaining('test is successful') });
  expect(nginxTest(nginxConfig({ ...options, httpPort: undefined, webUpstreams: [] }))).toEqual({
    ok: true,
    output: expect.stringContaining('test is successful'),
  });
});

test('event streams pass unbuffered with the Host the Origin check compares; gRPC outlasts the long polls', () => {
  const config = nginxConfig(options);
  for (const directive of [
    'proxy_buffering off;',
    'proxy_read_timeout 1h;',
    'proxy_http_version 1.1;',
    'proxy_set_header Host $http_host;',
    'proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;',
    'listen 127.0.0.1:27291 http2;',
    'grpc_pass grpc://temporal_frontends;',
    'server 127.0.0.1:27236 ',
    'server 127.0.0.1:27293 ',
  ])
    expect(config).toContain(directive);
  // Temporal's long polls last ~70 s: every gRPC timeout must be longer.
  for (const [, value] of config.matchAll(/grpc_(?:read|send)_timeout (\d+)m;/g)) expect(Number(value) * 60).toBeGreaterThan(70);
  expect(nginxConfig({ ...options, httpPort: undefined, webUpstreams: [] })).not.toContain('proxy_pass');
});

test("docker-compose's proxy config (deploy/nginx.conf) passes nginx -t", () => {
  // Here `web` does not resolve, the image's user does not exist and the test's stdout and stderr
  // are pipes nginx cannot open by name: those swapped, with the paths and port; the rest as it is.
  const config = readFileSync(join(ROOT, 'deploy', 'nginx.conf'), 'utf8')
    .replace('/dev/stderr', 'ROOT/error.log')
    .replace('/dev/stdout', 'ROOT/access.log')
    .replaceAll('server web:3000', 'server 127.0.0.1:27292')
    .replace(/^user nginx;$/m, asRoot ? 'user nobody nogroup;' : '')
    .replace('pid /tmp/nginx.pid;', 'pid ROOT/nginx.pid;')
    .replace('listen 8080;', 'listen 127.0.0.1:27294;')
    .replace(
      'http {',
      'http {\n  client_body_temp_path ROOT/tmp/client_body;\n  proxy_temp_path ROOT/tmp/proxy;\n  fastcgi_temp_path ROOT/tmp/fastcgi;\n  uwsgi_temp_path ROOT/tmp/uwsgi;\n  scgi_temp_path ROOT/tmp/scgi;',
    );
  expect(nginxTest(config)).toEqual({ ok: true, output: expect.stringContaining('test is successful') });
});

test("nginx sends every viewer of a run to one replica, pages in turn, and a dead replica's runs to the other", async () => {
  // Two stand-in replicas that answer with their name, behind the real nginx and this config.
  const replicas = await Promise.all(
    ['r0', 'r1'].map(
      (name) =>
        new Promise<{ name: string; server: Server; address: string }>((resolve) => {
          const server = createServer((_req, res) => res.end(name));
          server.listen(0, '127.0.0.1', () => resolve({ name, server, address: `127.0.0.1:${(server.address() as AddressInfo).port}` }));
        }),
    ),
  );
  const dir = mkdtempSync(join(tmpdir(), 'buildstory-proxy-'));
  dirs.push(dir);
  const proxy = await startProxy({
    dir,
    httpPort: await freePort(),
    grpcPort: await freePort(),
    webUpstreams: replicas.map((r) => r.address),
    grpcUpstreams: ['127.0.0.1:1'],
    log: () => {},
  });
  try {
    const get = async (path: string) => (await (await fetch(`${proxy.httpUrl}${path}`)).text()) as 'r0' | 'r1';
    const runs = Array.from({ length: 16 }, (_, i) => `run-${i}-${randomUUID()}`);
    const replicaOf = new Map<string, string>();
    for (const run of runs) {
      const answers = new Set<string>();
      for (const path of [`/runs/${run}/events`, `/api/v1/runs/${run}/events`, `/runs/${run}/events`, `/api/v1/runs/${run}/events`])
        answers.add(await get(path));
      expect([...answers]).toHaveLength(1);
      replicaOf.set(run, [...answers][0]!);
    }
    // Runs spread over both replicas; everything else goes to each in turn.
    expect(new Set(replicaOf.values())).toEqual(new Set(['r0', 'r1']));
    const pages = await Promise.all(Array.from({ length: 6 }, (_, i) => get(`/runs/${runs[i]}`)));
    expect(new Set(pages)).toEqual(new Set(['r0', 'r1']));

    // r0 goes away: its runs' viewers reach r1; r1's runs stay there.
    await new Promise((resolve) => replicas[0]!.server.close(resolve));
    for (const run of runs) expect(await get(`/runs/${run}/events`)).toBe('r1');
  } finally {
    await proxy.stop();
    for (const r of replicas) r.server.close();
  }
});
