import { DrizzleQueryError } from 'drizzle-orm/errors';

/**
 * An error safe to show a person or write to a log: drizzle's query errors carry the SQL and its
 * parameter values (captions, hashes, tokens), so only the driver's own reason is kept.
 */
export function safeError(err: unknown): Error {
  if (err instanceof DrizzleQueryError) {
    const reason = err.cause?.message ?? 'unknown reason';
    const safe = new Error(`Database query failed: ${reason}`);
    safe.name = 'DatabaseError';
    return safe;
  }
  if (err instanceof Error) return err;
  return new Error(String(err));
}
