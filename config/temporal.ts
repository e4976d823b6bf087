/**
 * The connection to Temporal, which both processes make. Its settings follow @temporalio/envconfig
 * (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_*, TEMPORAL_PROFILE and the
 * TOML profile file) and are loaded by that package itself; we only check the result and add
 * defaults.
 */
import { existsSync } from 'node:fs';
import { loadClientConfigProfile, toClientOptions, type ClientConfigProfile } from '@temporalio/envconfig';
import type { NativeConnectionOptions } from '@temporalio/worker';
import { ConfigError, type Env } from './env';

/** What @temporalio/envconfig reads for the connection (see loadTemporalProfile). */
export const TEMPORAL_ENV_NAMES = [
  'TEMPORAL_ADDRESS',
  'TEMPORAL_NAMESPACE',
  'TEMPORAL_API_KEY',
  'TEMPORAL_TLS',
  'TEMPORAL_TLS_CLIENT_CERT_PATH',
  'TEMPORAL_TLS_CLIENT_CERT_DATA',
  'TEMPORAL_TLS_CLIENT_KEY_PATH',
  'TEMPORAL_TLS_CLIENT_KEY_DATA',
  'TEMPORAL_TLS_SERVER_CA_CERT_PATH',
  'TEMPORAL_TLS_SERVER_CA_CERT_DATA',
  'TEMPORAL_TLS_SERVER_NAME',
  'TEMPORAL_TLS_DISABLE_HOST_VERIFICATION',
  'TEMPORAL_PROFILE',
  'TEMPORAL_CONFIG_FILE',
] as const;

/** gRPC metadata headers, one variable each: TEMPORAL_GRPC_META_<HEADER>. Both processes accept them. */
export const CONFIG_ENV_PREFIXES: readonly string[] = ['TEMPORAL_GRPC_META_'];

export interface TemporalConnection {
  address: string;
  namespace: string;
  connectionOptions: NativeConnectionOptions;
  /** How we connect, for logs: never includes secrets. */
  describe: string;
}

function loadTemporalProfile(env: Env): ClientConfigProfile {
  try {
    const overrideEnvVars = Object.fromEntries(Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined));
    return loadClientConfigProfile({ overrideEnvVars });
  } catch (err) {
    // First line only: the TOML parser's message goes on to quote the file's lines around the
    // error, which may hold an api_key.
    const reason = (err as Error).message.split('\n')[0];
    throw new ConfigError(`Invalid configuration: Temporal profile (TEMPORAL_CONFIG_FILE, TEMPORAL_PROFILE): ${reason}`);
  }
}

function checkTemporalProfile(profile: ClientConfigProfile): void {
  const address = profile.address?.trim() ?? '';
  // host:port, or [ipv6]:port
  if (address && !/^([^\s:/[\]]+|\[[0-9a-fA-F:.]+\])(:\d{1,5})?$/.test(address)) {
    throw new ConfigError(`Invalid configuration: TEMPORAL_ADDRESS must be host:port (got ${JSON.stringify(address)})`);
  }
  const files: Array<[string, { path?: string } | undefined]> = [
    ['TEMPORAL_TLS_CLIENT_CERT_PATH', profile.tls?.clientCert as { path?: string } | undefined],
    ['TEMPORAL_TLS_CLIENT_KEY_PATH', profile.tls?.clientKey as { path?: string } | undefined],
    ['TEMPORAL_TLS_SERVER_CA_CERT_PATH', profile.tls?.serverCACert as { path?: string } | undefined],
  ];
  for (const [name, source] of files) {
    if (source?.path && !existsSync(source.path)) {
      throw new ConfigError(`Invalid configuration: ${name}: file not found (${source.path})`);
    }
  }
  const hasCert = Boolean(profile.tls?.clientCert);
  const hasKey = Boolean(profile.tls?.clientKey);
  if (hasCert !== hasKey) {
    throw new ConfigError('Invalid configuration: TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH must be set together');
  }
}

/** The connection as envconfig reads it from TEMPORAL_* (and the profile file); throws ConfigError. */
export function loadTemporalConnection(env: Env): TemporalConnection {
  const profile = loadTemporalProfile(env);
  checkTemporalProfile(profile);
  // A blank TEMPORAL_ADDRESS means unset, like every other setting.
  const address = profile.address?.trim() || 'localhost:7233';
  const namespace = profile.namespace ?? 'default';
  let connectionOptions: NativeConnectionOptions;
  try {
    connectionOptions = toClientOptions({ ...profile, address }).connectionOptions;
  } catch (err) {
    throw new ConfigError(`Invalid configuration: Temporal TLS: ${(err as Error).message}`);
  }
  const security = profile.apiKey ? 'API key' : profile.tls && !profile.tls.disabled ? 'TLS' : 'plaintext';
  return { address, namespace, connectionOptions, describe: `${address} namespace=${namespace} (${security})` };
}
