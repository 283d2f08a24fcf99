// Moving a planned post by whole days keeps its wall-clock time in the zone it was planned in,
// whatever zone the browser is in (a post for 09:00 in Tokyo stays at 09:00 in Tokyo).
//
// The calendar's days are the browser's days: a post sits in the cell of the day its instant falls
// on there, at the time shown beside it. A move onto a cell therefore means "that cell's day here,
// same wall-clock time in the post's zone". Counting the days in one zone and adding them in the
// other is not the same: where the two zones change their clocks on different dates (New York and
// Berlin for two or three weeks each spring and autumn), the post would land a day off.
import { localTimeOf } from '../../domain/campaign-schedule.js';
import { zonedTimeToInstant } from '../../domain/zoned-time.js';

/** Moves "YYYY-MM-DDTHH:MM" by whole days, keeping the wall-clock time. */
export function shiftLocal(local: string, days: number): string {
  const [date, time] = local.split('T') as [string, string];
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  const moved = new Date(Date.UTC(y, m - 1, d + days));
  return `${moved.toISOString().slice(0, 10)}T${time.slice(0, 5)}`;
}

/** Whole days from one "YYYY-MM-DD" to another. */
export function daysBetween(from: string, to: string): number {
  return Math.round((Date.parse(`${to}T00:00Z`) - Date.parse(`${from}T00:00Z`)) / 86_400_000);
}

/**
 * The reschedule body for a post at `at`, planned in `timeZone` (the browser's zone when the post
 * has none), moved by `days`: the same time of day in that zone, and that zone kept.
 */
export function movedBy(
  item: { at: string; timeZone: string | null },
  days: number,
  browserZone: string,
): { local: string; timeZone: string } {
  const timeZone = item.timeZone ?? browserZone;
  return { local: shiftLocal(localTimeOf(Date.parse(item.at), timeZone), days), timeZone };
}

/** "YYYY-MM-DD" moved by whole days. */
export function shiftDay(day: string, days: number): string {
  return shiftLocal(`${day}T00:00`, days).slice(0, 10);
}

/** The post's wall-clock time ("HH:MM") and the zone it keeps it in when moved. */
export function plannedTime(
  item: { at: string; timeZone: string | null },
  browserZone: string,
): { time: string; timeZone: string } {
  const timeZone = item.timeZone ?? browserZone;
  return { time: localTimeOf(Date.parse(item.at), timeZone).slice(11, 16), timeZone };
}

/** The calendar day ("YYYY-MM-DD") the post is shown on: the day of its instant in the browser. */
export function shownDay(item: { at: string }, browserZone: string): string {
  return localTimeOf(Date.parse(item.at), browserZone).slice(0, 10);
}

/**
 * The reschedule body that puts the post on calendar day `day` (a day in the browser's zone) at
 * its wall-clock time in the zone it was planned in, or null when that time never falls on `day`
 * in the browser: the zones' offset to each other changed by an hour, and that hour crosses
 * midnight here, so one day of the browser's is skipped.
 */
export function movedTo(
  item: { at: string; timeZone: string | null },
  day: string,
  browserZone: string,
): { local: string; timeZone: string } | null {
  const counted = movedBy(item, daysBetween(shownDay(item, browserZone), day), browserZone);
  // The offset between any two zones changes by far less than a day, so the answer, if there is
  // one, is the counted day or a neighbour; the counted day first, as it is right nearly always.
  for (const step of [0, -1, 1]) {
    const local = shiftLocal(counted.local, step);
    let at: number;
    try {
      at = zonedTimeToInstant(local, counted.timeZone).getTime();
    } catch {
      continue;
    }
    if (localTimeOf(at, browserZone).slice(0, 10) === day) return { local, timeZone: counted.timeZone };
  }
  return null;
}

/**
 * "One day earlier/later": onto the next calendar day in that direction, or, when the post's time
 * never falls on that day in the browser, onto the day after it (`skipped` names the day passed).
 */
export function movedStep(
  item: { at: string; timeZone: string | null },
  direction: 1 | -1,
  browserZone: string,
): { day: string; publishAt: { local: string; timeZone: string }; skipped: string | null } | null {
  const from = shownDay(item, browserZone);
  const next = shiftDay(from, direction);
  const publishAt = movedTo(item, next, browserZone);
  if (publishAt) return { day: next, publishAt, skipped: null };
  const after = shiftDay(from, 2 * direction);
  const further = movedTo(item, after, browserZone);
  return further ? { day: after, publishAt: further, skipped: next } : null;
}
