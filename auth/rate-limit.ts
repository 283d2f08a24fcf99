import { and, eq, lt, sql } from 'drizzle-orm';
import type { Database } from '../db/client.js';
import { rateLimits } from '../db/schema.js';

export const RATE_WINDOW_MS = 15 * 60 * 1000;

/** Password checks of one account from one address: the limit a guesser meets first. */
export const pairThrottleKey = (ip: string | undefined, email: string) =>
  `auth:pair:${ip ?? 'unknown'}:${email.toLowerCase()}`;
/** Password checks of one account from addresses it has never signed in from: the slower cap. */
export const accountThrottleKey = (email: string) => `auth:account:${email.toLowerCase()}`;
/** Registrations tried for one email address. */
export const registerThrottleKey = (email: string) => `auth:register:${email.toLowerCase()}`;
/** Sign-in and registration attempts from one address. */
export const ipThrottleKey = (ip: string | undefined) => `auth:ip:${ip ?? 'unknown'}`;

export interface RateDecision {
  allowed: boolean;
  retryAfterSeconds: number;
}

function windowStart(now: number): Date {
  return new Date(now - (now % RATE_WINDOW_MS));
}

/**
 * Counts one event against `key` in the current fixed window (in the database, so every API
 * process shares the count) and says whether it is within `limit`.
 */
export async function hit(db: Database, key: string, limit: number, now = Date.now()): Promise<RateDecision> {
  const start = windowStart(now);
  const [row] = await db
    .insert(rateLimits)
    .values({ key, windowStart: start, count: 1 })
    .onConflictDoUpdate({
      target: [rateLimits.key, rateLimits.windowStart],
      set: { count: sql`${rateLimits.count} + 1` },
    })
    .returning({ count: rateLimits.count });
  return {
    allowed: (row?.count ?? 0) <= limit,
    retryAfterSeconds: Math.ceil((start.getTime() + RATE_WINDOW_MS - now) / 1000),
  };
}

/** Takes back one counted event, for an attempt that turned out fine (a correct password). */
export async function release(db: Database, key: string, now = Date.now()): Promise<void> {
  await db
    .update(rateLimits)
    .set({ count: sql`greatest(${rateLimits.count} - 1, 0)` })
    .where(and(eq(rateLimits.key, key), eq(rateLimits.windowStart, windowStart(now))));
}

export async function purgeRateLimits(db: Database, now = Date.now()): Promise<number> {
  const rows = await db
    .delete(rateLimits)
    .where(lt(rateLimits.windowStart, new Date(now - 2 * RATE_WINDOW_MS)))
    .returning({ key: rateLimits.key });
  return rows.length;
}
