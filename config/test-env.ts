/** What the configuration tests share: an environment without the developer's Temporal profile, and the one-line error a loader throws. */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, type Env } from './env';

/** `vars` with no profile file (envconfig treats a missing file as "no profiles"), so ~/.config/temporalio never leaks in. */
export function testEnv(vars: Env = {}, profileFile = join(tmpdir(), 'buildstory-no-such-profile.toml')): Env {
  return { TEMPORAL_CONFIG_FILE: profileFile, ...vars };
}

/** The ConfigError `load` throws for `env`, checked to be one line; fails the test if it throws none. */
export function configErrorOf(load: (env: Env) => unknown, env: Env): ConfigError {
  let thrown: unknown;
  try {
    load(env);
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(ConfigError);
  const error = thrown as ConfigError;
  expect(error.message).not.toMatch(/[\r\n]/);
  return error;
}
