/**
 * Submissions per client, with rate-limiter-flexible's in-memory limiter: one web process counts
 * its own clients (behind a load balancer, each instance allows the limit).
 */
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { getConfig } from './env.server';

declare module '@remix-run/node' {
  interface AppLoadContext {
    /** Set by web/server.ts from the connection (or the trusted proxy). */
    clientIp?: string;
  }
}

let limiter: RateLimiterMemory | null | undefined;

function submissions(): RateLimiterMemory | null {
  if (limiter === undefined) {
    const points = getConfig().web.submitRateLimitPerMinute;
    limiter = points > 0 ? new RateLimiterMemory({ keyPrefix: 'submit', points, duration: 60 }) : null;
  }
  return limiter;
}

/** Null when the client may submit; otherwise the seconds until it may again. */
export async function submissionRetryAfter(clientIp: string | undefined): Promise<number | null> {
  const limit = submissions();
  if (!limit) return null;
  try {
    await limit.consume(clientIp ?? 'unknown');
    return null;
  } catch (res) {
    if (res instanceof RateLimiterRes) return Math.max(1, Math.ceil(res.msBeforeNext / 1000));
    throw res;
  }
}
