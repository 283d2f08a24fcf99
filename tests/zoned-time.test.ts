import { describe, expect, it } from 'vitest';
import { isTimeZone, zonedTimeToInstant } from '../domain/zoned-time.js';

describe('zonedTimeToInstant', () => {
  it.each([
    ['2026-12-01T09:00', 'Europe/Berlin', '2026-12-01T08:00:00.000Z'],
    ['2026-07-01T09:00', 'Europe/Berlin', '2026-07-01T07:00:00.000Z'],
    ['2026-07-01T09:00', 'America/New_York', '2026-07-01T13:00:00.000Z'],
    ['2026-12-01T09:00:30', 'Asia/Kolkata', '2026-12-01T03:30:30.000Z'],
    ['2026-12-01T09:00', 'UTC', '2026-12-01T09:00:00.000Z'],
    // Clocks go forward at 02:00 on 29 March 2026 in Berlin: 02:30 does not exist, 03:30 CEST is meant.
    ['2026-03-29T02:30', 'Europe/Berlin', '2026-03-29T01:30:00.000Z'],
    // Clocks go back at 03:00 on 25 October 2026 in Berlin: 02:30 happens twice, the first (CEST) is meant.
    ['2026-10-25T02:30', 'Europe/Berlin', '2026-10-25T00:30:00.000Z'],
    // New York springs forward at 02:00 on 8 March 2026.
    ['2026-03-08T02:15', 'America/New_York', '2026-03-08T07:15:00.000Z'],
    // Lord Howe moves by 30 minutes: 02:15 does not exist, 02:45 (+11:00) is meant.
    ['2026-10-04T02:15', 'Australia/Lord_Howe', '2026-10-03T15:45:00.000Z'],
  ])('%s in %s is %s', (local, zone, expected) => {
    expect(zonedTimeToInstant(local, zone).toISOString()).toBe(expected);
  });

  it('refuses impossible dates and unknown zones', () => {
    expect(() => zonedTimeToInstant('2026-02-30T09:00', 'Europe/Berlin')).toThrow(/real calendar/);
    expect(() => zonedTimeToInstant('tomorrow', 'Europe/Berlin')).toThrow(/local date-time/);
    expect(isTimeZone('Europe/Berlin')).toBe(true);
    expect(isTimeZone('Mars/Olympus_Mons')).toBe(false);
  });
});
