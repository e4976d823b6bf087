/**
 * Submissions per client, with rate-limiter-flexible, counted where shared-store.server.ts keeps
 * counters: across replicas with a shared store; else one web process counts its own clients
 * (behind a load balancer, each instance allows the limit).
 */
import { RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { getConfig } from './env.server';
import { rateLimiter } from './shared-store.server';

declare module '@remix-run/node' {
  interface AppLoadContext {
    /** Set by web/server.ts from the connection (or the trusted proxy). */
    clientIp?: string;
  }
}

let limiter: Promise<RateLimiterAbstract> | null | undefined;

function submissions(): Promise<RateLimiterAbstract> | null {
  if (limiter === undefined) {
    const points = getConfig().web.submitRateLimitPerMinute;
    limiter = points > 0 ? rateLimiter({ keyPrefix: 'submit', points, duration: 60 }) : null;
  }
  return limiter;
}

/** Null when the client may submit; otherwise the seconds until it may again. */
export async function submissionRetryAfter(clientIp: string | undefined): Promise<number | null> {
  const limit = submissions();
  return limit ? consumeOrRetryAfter(await limit, clientIp) : null;
}

/**
 * Take a point for this client from `limiter`: null when it had one, otherwise the whole seconds
 * (at least 1) until it will. Shared by the submit limit and the sign-in limit.
 */
export async function consumeOrRetryAfter(limiter: RateLimiterAbstract, clientIp: string | undefined): Promise<number | null> {
  try {
    await limiter.consume(clientIp ?? 'unknown');
    return null;
  } catch (res) {
    if (res instanceof RateLimiterRes) return Math.max(1, Math.ceil(res.msBeforeNext / 1000));
    throw res;
  }
}
