import { and, eq, lt, sql } from 'drizzle-orm';
import type { Database } from '../db/client.js';
import { rateLimits } from '../db/schema.js';

export const RATE_WINDOW_MS = 15 * 60 * 1000;

/**
 * The client an address stands for. An IPv6 client holds a whole /64 (one home, one server) and
 * can send from any address in it, so its first 64 bits are the client; IPv4 (mapped too) as it is.
 */
export function clientOf(ip: string | undefined): string {
  if (!ip) return 'unknown';
  const address = ip.replace(/%.*$/, '');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!address.includes(':')) return address;
  const [head = '', tail] = address.split('::');
  const first = head === '' ? [] : head.split(':');
  const last = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups =
    tail === undefined ? first : [...first, ...Array(Math.max(0, 8 - first.length - last.length)).fill('0'), ...last];
  const prefix = groups.slice(0, 4).map((g) => (Number.parseInt(g, 16) || 0).toString(16));
  return `${prefix.join(':')}::/64`;
}

/** Password checks of one account from one client: the limit a guesser meets first. */
export const pairThrottleKey = (ip: string | undefined, email: string) =>
  `auth:pair:${clientOf(ip)}:${email.toLowerCase()}`;
/** Password checks of one account from addresses it has never signed in from: the slower cap. */
export const accountThrottleKey = (email: string) => `auth:account:${email.toLowerCase()}`;
/** Registrations tried for one email address. */
export const registerThrottleKey = (email: string) => `auth:register:${email.toLowerCase()}`;
/** Sign-in and registration attempts from one client (an IPv6 /64 counts as one). */
export const ipThrottleKey = (ip: string | undefined) => `auth:ip:${clientOf(ip)}`;

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
