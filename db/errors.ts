// Which database failures mean "not reachable now" (repeat later) rather than a bug or bad data.

/** postgres.js and Node socket codes for a connection that could not be made or was lost. */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'CONNECT_TIMEOUT',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
]);

/** SQLSTATEs of a server going away: admin or crash shutdown, not accepting connections yet. */
const SHUTDOWN_STATES = new Set(['57P01', '57P02', '57P03']);

/** True when the database could not be reached (drizzle wraps the driver's error as its cause). */
export function isDatabaseUnavailable(err: unknown): boolean {
  for (let e: unknown = err; e && typeof e === 'object'; e = (e as { cause?: unknown }).cause) {
    const code = (e as { code?: unknown }).code;
    if (typeof code !== 'string') continue;
    // Class 08: connection exceptions.
    if (CONNECTION_CODES.has(code) || SHUTDOWN_STATES.has(code) || /^08[0-9A-Z]{3}$/.test(code)) return true;
  }
  return false;
}

/** True when the database answered with this SQLSTATE (drizzle wraps the driver's error as its cause). */
export function hasSqlState(err: unknown, state: string): boolean {
  for (let e: unknown = err; e && typeof e === 'object'; e = (e as { cause?: unknown }).cause) {
    if ((e as { code?: unknown }).code === state) return true;
  }
  return false;
}
