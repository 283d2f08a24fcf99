import { and, eq, gt, inArray } from 'drizzle-orm';
import { decoyHash, verifyPassword } from '../auth/passwords.js';
import { accountThrottleKey, hit, pairThrottleKey, release } from '../auth/rate-limit.js';
import type { Database } from '../db/client.js';
import { auditEvents } from '../db/schema.js';
import { Problem } from './problem.js';

/** The cap over all unfamiliar addresses together, as a multiple of the per-address limit. */
export const GLOBAL_CAP_FACTOR = 10;
/** How long a successful sign-in makes its address familiar to the account. */
const FAMILIAR_FOR_MS = 90 * 24 * 3600_000;

export function tooManyAttempts(retryAfterSeconds: number): Problem {
  return new Problem(
    429,
    'Too many attempts',
    `Too many attempts; try again in ${retryAfterSeconds} seconds`,
  ).withHeader('Retry-After', String(retryAfterSeconds));
}

/** Whether the account signed in (or registered) from `ip` lately, by its own security log. */
async function isFamiliarAddress(db: Database, userId: string, ip: string | undefined): Promise<boolean> {
  if (!ip) return false;
  const [row] = await db
    .select({ id: auditEvents.id })
    .from(auditEvents)
    .where(
      and(
        eq(auditEvents.userId, userId),
        eq(auditEvents.ip, ip),
        eq(auditEvents.outcome, 'success'),
        inArray(auditEvents.action, ['session.sign_in', 'account.register']),
        gt(auditEvents.createdAt, new Date(Date.now() - FAMILIAR_FOR_MS)),
      ),
    )
    .limit(1);
  return row !== undefined;
}

/**
 * Checks a password against an account, counting the try before checking so parallel guesses
 * cannot slip past the limit; a correct password takes its count back.
 *
 * Two limits (OWASP ASVS V2.2.1): `limit` tries per (address, account) pair, so a guesser is
 * slowed at once without touching anyone else; and a slower cap over all addresses the account
 * has never signed in from, against guessing spread over many addresses. The owner's familiar
 * address is under its own pair limit only, so nobody can lock the owner out by knowing the email.
 */
export async function verifyPasswordThrottled(
  db: Database,
  account: { id?: string | undefined; email: string; passwordHash: string | undefined },
  password: string,
  limit: number,
  ip: string | undefined,
): Promise<boolean> {
  const pairKey = pairThrottleKey(ip, account.email);
  const pair = await hit(db, pairKey, limit);
  if (!pair.allowed) throw tooManyAttempts(pair.retryAfterSeconds);
  const familiar = account.id !== undefined && (await isFamiliarAddress(db, account.id, ip));
  const globalKey = accountThrottleKey(account.email);
  if (!familiar) {
    const global = await hit(db, globalKey, limit * GLOBAL_CAP_FACTOR);
    if (!global.allowed) throw tooManyAttempts(global.retryAfterSeconds);
  }
  // Unknown accounts are checked against a decoy so the answer takes as long.
  const ok = await verifyPassword(account.passwordHash ?? (await decoyHash()), password);
  if (ok && account.passwordHash) {
    await release(db, pairKey);
    if (!familiar) await release(db, globalKey);
    return true;
  }
  return false;
}
