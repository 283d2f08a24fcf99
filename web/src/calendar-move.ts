// Moving a planned post by whole days keeps its wall-clock time in the zone it was planned in,
// whatever zone the browser is in (a post for 09:00 in Tokyo stays at 09:00 in Tokyo).
import { localTimeOf } from '../../domain/campaign-schedule.js';

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
