// Wall-clock times in IANA zones to instants, with the DST rules people expect.

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

export function isTimeZone(name: string): boolean {
  try {
    formatter(name);
    return true;
  } catch {
    return false;
  }
}

/** The zone's name as the tz database spells it ("europe/berlin" -> "Europe/Berlin"), to store and show. */
export function canonicalTimeZone(name: string): string {
  return formatter(name).resolvedOptions().timeZone;
}

/** Minutes the zone is ahead of UTC at `instant`. */
export function zoneOffsetMinutes(instant: number, timeZone: string): number {
  const parts = Object.fromEntries(
    formatter(timeZone)
      .formatToParts(new Date(instant))
      .map((p) => [p.type, p.value]),
  );
  const wall = Date.UTC(+parts.year!, +parts.month! - 1, +parts.day!, +parts.hour!, +parts.minute!, +parts.second!);
  return Math.round((wall - Math.floor(instant / 1000) * 1000) / 60_000);
}

const LOCAL = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/;

/**
 * The years a date or time given to the product may name. Any real schedule fits, and every
 * instant derived from one (ten years of campaign slots, a zone's offset) keeps a four-digit
 * year: JavaScript reads years 0-99 as 1900-1999, and PostgreSQL misreads the six-digit years
 * `toISOString` writes past 9999.
 */
export const FIRST_YEAR = 2000;
export const LAST_YEAR = 2999;
export const YEAR_RULE = `must be in the years ${FIRST_YEAR} to ${LAST_YEAR}`;

/** True when an ISO-8601 date or date-time (`2026-12-01...`) names a year the product accepts. */
export function isSupportedYear(iso: string): boolean {
  const year = Number(iso.slice(0, 4));
  return /^\d{4}/.test(iso) && year >= FIRST_YEAR && year <= LAST_YEAR;
}

/**
 * The instant at which the clocks in `timeZone` show `local` ("2026-03-29T02:30"). A time that
 * happens twice (clocks going back) means the first; a time skipped by clocks going forward
 * means the same distance after the jump (02:30 becomes 03:30), as calendars do.
 */
export function zonedTimeToInstant(local: string, timeZone: string): Date {
  const m = LOCAL.exec(local);
  if (!m) throw new RangeError('expected a local date-time like 2026-12-01T09:00');
  const [, y, mo, d, h, mi, s] = m;
  if (!isSupportedYear(local)) throw new RangeError(YEAR_RULE);
  const wall = Date.UTC(+y!, +mo! - 1, +d!, +h!, +mi!, +(s ?? 0));
  const check = new Date(wall);
  if (check.getUTCMonth() !== +mo! - 1 || check.getUTCDate() !== +d! || +h! > 23 || +mi! > 59 || +(s ?? 0) > 59) {
    throw new RangeError('not a real calendar date and time');
  }
  const before = zoneOffsetMinutes(wall - 86_400_000, timeZone);
  const after = zoneOffsetMinutes(wall + 86_400_000, timeZone);
  const candidates = [...new Set([before, after])]
    .map((offset) => wall - offset * 60_000)
    .filter((instant) => zoneOffsetMinutes(instant, timeZone) * 60_000 === wall - instant);
  if (candidates.length > 0) return new Date(Math.min(...candidates));
  return new Date(wall - before * 60_000);
}
