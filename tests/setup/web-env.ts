/**
 * The web app's settings for a test that calls its server modules in-process (they read them
 * when first imported: web/app/utils/log.server.ts): import this before them. Temporal is the
 * run's dev server; no profile file of the developer's is read.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sharedServer } from './temporal';

Object.assign(process.env, {
  TEMPORAL_ADDRESS: sharedServer().address,
  TEMPORAL_NAMESPACE: 'default',
  TEMPORAL_CONFIG_FILE: join(tmpdir(), 'buildstory-no-such-profile.toml'),
  LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
});
