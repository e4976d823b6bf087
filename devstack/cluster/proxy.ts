/**
 * The cluster's front door: Debian's nginx, run by us in the foreground (`daemon off`) with a
 * config, pid file, logs and temp paths of its own under a directory, so it needs no root-owned
 * state and stops with us. Two listeners:
 *
 * - HTTP in front of the web replicas, set for event streams: no buffering, an hour per read,
 *   HTTP/1.1 keepalive to the replicas, the client's Host and X-Forwarded-* passed on (the web
 *   app's Origin check compares Origin with X-Forwarded-Host or Host, port included; its rate
 *   limit and `req.secure` read X-Forwarded-For/-Proto once TRUST_PROXY trusts us).
 * - gRPC (h2c) balanced per call across the Temporal frontends for the workers, the web apps and
 *   the CLI, with timeouts above the frontends' ~70 s long polls.
 *
 * A replica that refuses a connection is skipped for that request, and after three failures for
 * `fail_timeout` (one failure would do it, but then a single broken keepalive connection could
 * take out the last live frontend for the whole timeout); a call
 * or stream already on a replica that dies breaks, and its client retries (the SDKs retry
 * UNAVAILABLE; an event stream resumes with Last-Event-ID).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stopChild } from '../processes';
import { waitForPort } from './temporal';

type Log = (line: string) => void;

/** Debian's path; NGINX_BIN points at another. */
export function nginxBin(): string {
  return process.env.NGINX_BIN || '/usr/sbin/nginx';
}

/** nginx, installed with apt-get when it is missing and we may (root); otherwise a clear error. */
export function ensureNginx(log: Log): string {
  const bin = nginxBin();
  if (existsSync(bin)) return bin;
  if (process.env.NGINX_BIN) throw new Error(`NGINX_BIN points to a missing file: ${bin}`);
  if (process.getuid?.() !== 0) throw new Error(`nginx is not installed (${bin}): sudo apt-get install -y nginx, or set NGINX_BIN`);
  log('nginx is not installed: apt-get install -y nginx ...');
  try {
    const apt = (args: string[]) =>
      execFileSync('apt-get', args, { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    apt(['update', '-qq']);
    apt(['install', '-y', '-qq', 'nginx']);
  } catch (err) {
    throw new Error(`apt-get install nginx failed: ${(err as Error).message}`, { cause: err });
  }
  if (!existsSync(bin)) throw new Error(`apt-get installed nginx, but ${bin} is not there: set NGINX_BIN`);
  return bin;
}

export interface ProxyOptions {
  /** Config, logs, pid file and temp paths go to `<dir>/proxy`. */
  dir: string;
  /** Where browsers and clients reach the web app; none without `webUpstreams`. */
  httpPort?: number;
  /** Where workers, web apps and the CLI reach Temporal. */
  grpcPort: number;
  /** The web replicas, host:port each; none: gRPC only. */
  webUpstreams: string[];
  /** The Temporal frontends' gRPC addresses, host:port each. */
  grpcUpstreams: string[];
  log: Log;
}

export interface ClusterProxy {
  /** e.g. http://127.0.0.1:27260; null when it serves gRPC only. */
  httpUrl: string | null;
  /** e.g. 127.0.0.1:27261 */
  grpcAddress: string;
  process: ChildProcess;
  /** Errors and upstream failures. */
  logFile: string;
  /** One line per request, with the replica that answered it (`upstream=`). */
  accessLog: string;
  stop(): Promise<void>;
}

/**
 * The HTTP side: pages and form posts to the web replicas in turn (upstream `web`), and a run's
 * event streams (the page's and the API's) to the replica the run's id hashes to (`web_by_run`),
 * so that one replica watches a run however many viewers it has.
 */
function webServer(port: number, root: string): string {
  return `  # The web app: pages, form posts and event streams.
  server {
    listen 127.0.0.1:${port};
    access_log ${root}/access.log upstream;
    # The app bounds each route's body itself (web/request-guards.ts): 1 MB for the task form.
    client_max_body_size 2m;
    # Counts only, but not for whoever reaches the front door: read each replica's own.
    location = /metrics {
      return 404;
    }
    # How requests reach a replica (every location inherits these).
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    # Host with its port: the Origin check compares the Origin's host:port with it.
    proxy_set_header Host $http_host;
    proxy_set_header X-Forwarded-Host $http_host;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_set_header X-Forwarded-Proto $scheme;
    # Event streams: every frame goes out as it comes; a stream pings every 15 s.
    proxy_buffering off;
    proxy_cache off;
    proxy_read_timeout 1h;
    proxy_send_timeout 1h;
    proxy_connect_timeout 2s;
    proxy_next_upstream error timeout http_502 http_503;
    proxy_next_upstream_tries 2;
    # A run's event streams: all its viewers on one replica, one watcher per run.
    location ~ ^/(?:api/v1/)?runs/(?<run_id>[^/]+)/events$ {
      proxy_pass http://web_by_run;
    }
    location / {
      proxy_pass http://web;
    }
  }`;
}

/**
 * The whole config. `fail_timeout` is short so that a restarted replica gets traffic again soon;
 * `proxy_next_upstream` moves a request whose connection was refused on to the next replica
 * (nginx never retries a POST that reached a replica, so a form post is not sent twice).
 */
export function nginxConfig(options: Omit<ProxyOptions, 'log' | 'dir'> & { root: string; asRoot: boolean }): string {
  const { root } = options;
  const upstream = (name: string, servers: string[], balance = '') =>
    `  upstream ${name} {\n${balance}${servers.map((s) => `    server ${s} max_fails=3 fail_timeout=3s;`).join('\n')}\n    keepalive 32;\n  }`;
  return `# Written by devstack/cluster/proxy.ts for this run; nginx -p ${root} -c nginx.conf
daemon off;
master_process on;
worker_processes 1;
${options.asRoot ? 'user nobody nogroup;\n' : ''}pid ${root}/nginx.pid;
error_log ${root}/error.log warn;

events {
  worker_connections 4096;
}

http {
  access_log off;
  client_body_temp_path ${root}/tmp/client_body;
  proxy_temp_path ${root}/tmp/proxy;
  fastcgi_temp_path ${root}/tmp/fastcgi;
  uwsgi_temp_path ${root}/tmp/uwsgi;
  scgi_temp_path ${root}/tmp/scgi;
  log_format upstream '$remote_addr "$request" $status upstream=$upstream_addr upstream_status=$upstream_status time=$request_time';

${
  options.webUpstreams.length
    ? `${upstream('web', options.webUpstreams)}

  # A run's viewers meet on one replica (consistent hashing: a replica that goes or comes moves
  # only its share of the runs); one that refuses the connection passes its runs on to the next.
${upstream('web_by_run', options.webUpstreams, '    hash $run_id consistent;\n')}

${webServer(options.httpPort!, root)}
`
    : ''
}
${upstream('temporal_frontends', options.grpcUpstreams)}

  # Temporal's gRPC API, plaintext HTTP/2, balanced per call over the frontends.
  server {
    listen 127.0.0.1:${options.grpcPort} http2;
    access_log ${root}/grpc-access.log upstream;
    # gRPC messages up to Temporal's 4 MiB limit.
    client_max_body_size 8m;
    # Long polls hold a stream for ~70 s; keep connections and their streams for long.
    keepalive_timeout 1h;
    keepalive_requests 1000000;
    http2_max_concurrent_streams 1024;
    location / {
      grpc_pass grpc://temporal_frontends;
      grpc_read_timeout 5m;
      grpc_send_timeout 5m;
      grpc_connect_timeout 2s;
      grpc_socket_keepalive on;
      grpc_next_upstream error timeout;
      grpc_next_upstream_tries 2;
    }
  }
}
`;
}

/**
 * Write the config and start nginx; resolves once both ports listen. The replicas need not be up
 * yet (start it first: the web apps and workers reach Temporal through it).
 */
export async function startProxy(options: ProxyOptions): Promise<ClusterProxy> {
  if (options.webUpstreams.length && options.httpPort === undefined) throw new Error('web upstreams need an httpPort');
  const bin = ensureNginx(options.log);
  const root = join(options.dir, 'proxy');
  for (const d of ['tmp/client_body', 'tmp/proxy', 'tmp/fastcgi', 'tmp/uwsgi', 'tmp/scgi']) mkdirSync(join(root, d), { recursive: true });
  writeFileSync(join(root, 'nginx.conf'), nginxConfig({ ...options, root, asRoot: process.getuid?.() === 0 }));
  const logFile = join(root, 'error.log');
  const out = openSync(join(root, 'stderr.log'), 'a');
  // -e: the error log before the config is read (the default is /var/log/nginx, root's).
  const child = spawn(bin, ['-p', root, '-c', 'nginx.conf', '-e', logFile], { stdio: ['ignore', out, out] });
  const proxy: ClusterProxy = {
    httpUrl: options.webUpstreams.length ? `http://127.0.0.1:${options.httpPort}` : null,
    grpcAddress: `127.0.0.1:${options.grpcPort}`,
    process: child,
    logFile,
    accessLog: join(root, 'access.log'),
    stop: () => stopChild(child, 5_000),
  };
  try {
    const owner = { name: 'nginx', process: child, logFile };
    if (options.httpPort !== undefined) await waitForPort(options.httpPort, 30_000, owner);
    await waitForPort(options.grpcPort, 30_000, owner);
  } catch (err) {
    await proxy.stop();
    throw new Error(`${(err as Error).message} (config and logs: ${root})`, { cause: err });
  }
  const web = proxy.httpUrl ? `web ${proxy.httpUrl} -> ${options.webUpstreams.join(' ')}; ` : '';
  options.log(`nginx: ${web}gRPC ${proxy.grpcAddress} -> ${options.grpcUpstreams.join(' ')}`);
  return proxy;
}
