import { describe, expect, it } from 'vitest';
import { zonedTimeToInstant } from '../domain/zoned-time.js';
import { daysBetween, movedBy } from '../web/src/calendar-move.js';

// The panel's calendar moves a post by whole days in the zone it was planned in, not the browser's.

const at = (local: string, zone: string) => zonedTimeToInstant(local, zone).toISOString();

describe('moving a post in the calendar', () => {
  it("keeps the post's zone and its wall-clock time there, whatever the browser's zone", () => {
    const item = { at: at('2031-03-01T09:00', 'Asia/Tokyo'), timeZone: 'Asia/Tokyo' };
    expect(movedBy(item, 1, 'America/New_York')).toEqual({ local: '2031-03-02T09:00', timeZone: 'Asia/Tokyo' });
    expect(movedBy(item, -3, 'America/New_York')).toEqual({ local: '2031-02-26T09:00', timeZone: 'Asia/Tokyo' });
  });

  it('keeps the time of day across a change of the clocks', () => {
    // Berlin moves its clocks forward on 30 March 2031.
    const item = { at: at('2031-03-29T09:00', 'Europe/Berlin'), timeZone: 'Europe/Berlin' };
    expect(movedBy(item, 1, 'UTC')).toEqual({ local: '2031-03-30T09:00', timeZone: 'Europe/Berlin' });
  });

  it("takes the browser's zone for a post planned without one", () => {
    const item = { at: '2031-03-01T12:00:00.000Z', timeZone: null };
    expect(movedBy(item, 2, 'Europe/Berlin')).toEqual({ local: '2031-03-03T13:00', timeZone: 'Europe/Berlin' });
  });

  it('counts whole days between calendar days, across months', () => {
    expect(daysBetween('2031-02-27', '2031-03-02')).toBe(3);
    expect(daysBetween('2031-03-02', '2031-02-27')).toBe(-3);
  });
});
