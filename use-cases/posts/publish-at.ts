import { ValidationError } from '../../domain/errors.js';
import { zonedTimeToInstant } from '../../domain/zoned-time.js';

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
    return { publishAt: zonedTimeToInstant(value.local, value.timeZone), timeZone: value.timeZone };
  } catch (err) {
    throw new ValidationError([{ field: `${field}.local`, message: (err as Error).message }]);
  }
}
