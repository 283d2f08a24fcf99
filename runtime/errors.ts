import { DrizzleQueryError } from 'drizzle-orm/errors';

interface DriverError extends Error {
  code?: unknown;
  severity?: unknown;
}

/** A PostgreSQL error from the driver (postgres.js or PGlite): it has a SQLSTATE and a severity. */
function isDriverError(err: unknown): err is DriverError {
  return (
    err instanceof Error &&
    typeof (err as DriverError).code === 'string' &&
    /^[0-9A-Z]{5}$/.test((err as DriverError).code as string) &&
    typeof (err as DriverError).severity === 'string'
  );
}

/**
 * The driver's reason without values: PostgreSQL quotes the offending input in data exceptions
 * (SQLSTATE class 22: 'invalid input syntax for type uuid: "<value>"'), so those keep only the
 * part before the value. Other messages name constraints, tables and columns, never values.
 */
function reasonOf(cause: unknown): string {
  if (!(cause instanceof Error)) return 'unknown reason';
  const code = isDriverError(cause) ? String(cause.code) : undefined;
  const message = cause.message.split('\n')[0] ?? '';
  const reason = code?.startsWith('22') ? (message.split(':')[0] ?? message) : message;
  return code ? `${reason} (SQLSTATE ${code})` : reason;
}

function databaseError(cause: unknown): Error {
  const safe = new Error(`Database query failed: ${reasonOf(cause)}`);
  safe.name = 'DatabaseError';
  return safe;
}

/**
 * An error safe to show a person or write to a log: drizzle's query errors carry the SQL and its
 * parameter values (captions, hashes, tokens), so only the driver's own reason is kept.
 */
export function safeError(err: unknown): Error {
  if (err instanceof DrizzleQueryError) return databaseError(err.cause);
  if (isDriverError(err)) return databaseError(err);
  if (err instanceof Error) return err;
  return new Error(String(err));
}

const QUERY_IN_MESSAGE = /Failed query:[\s\S]*/;

/**
 * `safeError` for an error and everything it wraps: database errors anywhere in the `cause` chain
 * are replaced, and a message that quoted a failed query is cut before it. The error keeps its
 * class (an ApplicationFailure stays one, with its retry decision) so callers see no difference.
 */
export function sanitizeError(err: unknown, depth = 0): unknown {
  if (!(err instanceof Error) || depth > 10) return err;
  if (err instanceof DrizzleQueryError || isDriverError(err)) return safeError(err);
  if (QUERY_IN_MESSAGE.test(err.message)) {
    const message = err.message.replace(QUERY_IN_MESSAGE, '[query withheld]');
    err.stack = err.stack?.replace(err.message, message);
    err.message = message;
  }
  const cause = (err as { cause?: unknown }).cause;
  if (cause !== undefined) {
    const clean = sanitizeError(cause, depth + 1);
    if (clean !== cause) Object.defineProperty(err, 'cause', { value: clean, configurable: true, writable: true });
  }
  return err;
}

// biome-ignore lint/suspicious/noExplicitAny: any activity signature passes through unchanged
type AnyFunction = (...args: any[]) => Promise<unknown>;

/**
 * Wraps each activity so what it throws is sanitised where it is thrown: the SDK's own "activity
 * failed" log lines and the failure recorded in the workflow history then never carry SQL or
 * parameter values.
 */
export function withSafeErrors<T extends Record<string, AnyFunction>>(activities: T): T {
  const wrapped: Record<string, AnyFunction> = {};
  for (const [name, fn] of Object.entries(activities)) {
    const safe = {
      async [name](...args: unknown[]) {
        try {
          return await fn(...args);
        } catch (err) {
          throw sanitizeError(err);
        }
      },
    };
    wrapped[name] = safe[name]!;
  }
  return wrapped as T;
}
