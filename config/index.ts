/**
 * Configuration, one loader per process, each validated with zod at start and reading only its
 * own variables:
 *
 * - worker.ts (`loadWorkerConfig`): the model, the health server, the shutdown grace;
 * - web.ts (`loadWebConfig`): where the app listens, its limits, access control (auth.ts), the
 *   Temporal UI's address and the deadline of calls to Temporal;
 * - both build on common.ts: the Temporal connection (temporal.ts), the task queue, the log level,
 *   the payload encryption keys (encryption.ts), the artifact store's location (artifacts.ts) and
 *   where traces go (tracing.ts).
 *
 * No loader here, only what other code shares: import a process's loader from its own module.
 */
export { ConfigError, type Env } from './env';
export { OWNER_SEARCH_ATTRIBUTE, SHARED_USER, type AuthConfig } from './auth';
export type { LlmConfig } from './worker';
