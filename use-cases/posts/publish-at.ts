import { ValidationError } from '../../domain/errors.js';
import { canonicalTimeZone, zonedTimeToInstant } from '../../domain/zoned-time.js';

/** A moment as a person gives it: an ISO-8601 instant with offset, or wall-clock time in a zone. */
export type PublishAtInput = string | { local: string; timeZone: string } | null | undefined;

/** The instant to publish at, and the zone it was given in (kept to show it back the same way). */
export function resolvePublishAt(
  value: PublishAtInput,
  field = 'publishAt',
): { publishAt: Date | null; timeZone: string | null } {
  if (!value) return { publishAt: null, timeZone: null };
  if (typeof value === 'string') return { publishAt: new Date(value), timeZone: null };
  try {
    return { publishAt: zonedTimeToInstant(value.local, value.timeZone), timeZone: canonicalTimeZone(value.timeZone) };
  } catch (err) {
    throw new ValidationError([{ field: `${field}.local`, message: (err as Error).message }]);
  }
}

/** Clocks differ, and a person who means "now" may send the current time: a minute's grace. */
const PAST_GRACE_MS = 60_000;

/**
 * Refuses a time that has passed: a mistyped year would otherwise publish at once, everywhere, for
 * good (or, for a review deadline, cancel the post as soon as it is made).
 */
export function assertNotPast(
  at: Date | null,
  field = 'publishAt',
  hint = 'the current time publishes at once',
  now = Date.now(),
): void {
  if (!at || at.getTime() >= now - PAST_GRACE_MS) return;
  throw new ValidationError([{ field, message: `${at.toISOString()} has passed; give a time from now on (${hint})` }]);
}
