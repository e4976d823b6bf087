/**
 * What the web app's replicas would have to agree on: the sign-out list (session ids refused
 * until they would have expired anyway) and the counters of the sign-in and submission limits.
 *
 * Both are reached through this module only, behind interfaces that a shared store can implement
 * (BUILDSTORY_SHARED_STORE_URL, config/shared-store.ts). This build keeps them in this process's
 * memory: another replica, or a restart, has its own. It has no PostgreSQL client (the `pg`
 * package), so web/server.ts refuses to start with the setting set rather than quietly stay per
 * process.
 */
import { RateLimiterMemory, type RateLimiterAbstract } from 'rate-limiter-flexible';

/** Signed-out sessions, refused until they would have expired anyway. */
export interface RevokedSessions {
  /** Refuse this session id from now until `expiresAt` (epoch ms). */
  revoke(sid: string, expiresAt: number): Promise<void>;
  /** Whether this session id was signed out (and has not expired since). */
  isRevoked(sid: string): Promise<boolean>;
}

/** Signed-out session ids → when they would have expired anyway, pruned from the oldest sign-out. */
class MemoryRevokedSessions implements RevokedSessions {
  private readonly revoked = new Map<string, number>();

  constructor(private readonly max = 100_000) {}

  revoke(sid: string, expiresAt: number): Promise<void> {
    const now = Date.now();
    for (const [id, until] of this.revoked) {
      if (until > now && this.revoked.size < this.max) break;
      this.revoked.delete(id);
    }
    this.revoked.set(sid, expiresAt);
    return Promise.resolve();
  }

  isRevoked(sid: string): Promise<boolean> {
    return Promise.resolve(this.revoked.has(sid));
  }
}

let revoked: RevokedSessions | undefined;

/** The sign-out list of this web app. */
export function revokedSessions(): RevokedSessions {
  revoked ??= new MemoryRevokedSessions();
  return revoked;
}

/** A limit: `points` per `duration` seconds per key, counted under `keyPrefix`. */
export interface LimitOptions {
  keyPrefix: string;
  points: number;
  duration: number;
}

/** A rate limiter with these options, counted where the web app keeps its counters (this process). */
export function rateLimiter(options: LimitOptions): RateLimiterAbstract {
  return new RateLimiterMemory(options);
}
