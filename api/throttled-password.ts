import { decoyHash, verifyPassword } from '../auth/passwords.js';
import { accountThrottleKey, hit, release } from '../auth/rate-limit.js';
import type { Database } from '../db/client.js';
import { Problem } from './problem.js';

export function tooManyAttempts(retryAfterSeconds: number): Problem {
  return new Problem(
    429,
    'Too many attempts',
    `Too many attempts; try again in ${retryAfterSeconds} seconds`,
  ).withHeader('Retry-After', String(retryAfterSeconds));
}

/**
 * Checks a password against an account, counting the try before checking so parallel guesses
 * cannot slip past the limit; a correct password takes its count back.
 */
export async function verifyPasswordThrottled(
  db: Database,
  account: { email: string; passwordHash: string | undefined },
  password: string,
  limit: number,
): Promise<boolean> {
  const key = accountThrottleKey(account.email);
  const decision = await hit(db, key, limit);
  if (!decision.allowed) throw tooManyAttempts(decision.retryAfterSeconds);
  // Unknown accounts are checked against a decoy so the answer takes as long.
  const ok = await verifyPassword(account.passwordHash ?? (await decoyHash()), password);
  if (ok && account.passwordHash) {
    await release(db, key);
    return true;
  }
  return false;
}
