import { describe, expect, it } from 'vitest';
import { findSlot, listSlots } from '../domain/cadence.js';
import { upcomingSlots } from '../domain/campaign-schedule.js';
import { type CampaignRow, computedNextSlots, previewSlots } from '../use-cases/campaigns/campaigns.js';

// A rule's UNTIL as RFC 5545 means it: the earlier of it and the campaign's end, and at its time.

const daily = (rule: string) => ({ kind: 'rrule' as const, rule });

describe("a rule's UNTIL", () => {
  it('ends the series when it comes before the campaign’s end.until', () => {
    const query = {
      cadence: daily('FREQ=DAILY;BYHOUR=18;UNTIL=20261203'),
      timeZone: 'UTC',
      startDate: '2026-12-01',
      end: { until: '2026-12-06' },
      limit: 20,
    };
    expect(listSlots({ ...query, strictUntil: true }).map((s) => s.local)).toEqual([
      '2026-12-01T18:00',
      '2026-12-02T18:00',
      '2026-12-03T18:00',
    ]);
    // The campaign's own end still ends it first when it is the earlier one.
    expect(listSlots({ ...query, end: { until: '2026-12-02' }, strictUntil: true })).toHaveLength(2);
    // Runs of the workflow started before the fix keep listing up to end.until on replay.
    expect(listSlots(query)).toHaveLength(6);
  });

  it('ends the series at the time it names (an instant with Z, else local time)', () => {
    const utc = {
      cadence: daily('FREQ=DAILY;BYHOUR=18;UNTIL=20261203T000000Z'),
      timeZone: 'UTC',
      startDate: '2026-12-01',
      limit: 20,
      strictUntil: true,
    };
    expect(listSlots(utc).map((s) => s.local)).toEqual(['2026-12-01T18:00', '2026-12-02T18:00']);
    expect(findSlot(utc, '2026-12-03T18:00')).toBeNull();
    expect(findSlot(utc, '2026-12-02T18:00')).toMatchObject({ index: 1 });
    // Exactly at UNTIL is still in the series (UNTIL is inclusive).
    expect(listSlots({ ...utc, cadence: daily('FREQ=DAILY;BYHOUR=18;UNTIL=20261203T180000Z') })).toHaveLength(3);
    // Tokyo is 9 hours ahead: 2026-12-03T20:00Z is 05:00 on Dec 4 there, so that day's 04:00 slot counts.
    const tokyo = listSlots({
      ...utc,
      cadence: daily('FREQ=DAILY;BYHOUR=4;UNTIL=20261203T200000Z'),
      timeZone: 'Asia/Tokyo',
    });
    expect(tokyo.map((s) => s.local).at(-1)).toBe('2026-12-04T04:00');
    // New York is 5 hours behind: 2026-12-03T00:00Z is Dec 2 19:00 there, after that day's 18:00 slot.
    const ny = listSlots({ ...utc, timeZone: 'America/New_York' });
    expect(ny.map((s) => s.local)).toEqual(['2026-12-01T18:00', '2026-12-02T18:00']);
    // Without Z, the time is the campaign's local time.
    const local = listSlots({
      ...utc,
      cadence: daily('FREQ=DAILY;BYHOUR=18;UNTIL=20261203T170000'),
      timeZone: 'Europe/Berlin',
    });
    expect(local.map((s) => s.local).at(-1)).toBe('2026-12-02T18:00');
    // The old reading, for runs started before it: only UNTIL's date counted.
    expect(listSlots({ ...utc, strictUntil: false })).toHaveLength(3);
  });

  it('is read that way by the API’s preview and views, and by a run with the marker', () => {
    const settings = {
      cadence: daily('FREQ=DAILY;BYHOUR=18;UNTIL=20361203T000000Z'),
      timeZone: 'UTC',
      startDate: '2036-12-01',
      end: { until: '2036-12-06' },
    };
    const preview = previewSlots({ ...settings, limit: 10 });
    expect(preview.slots.map((s) => s.local)).toEqual(['2036-12-01T18:00', '2036-12-02T18:00']);
    const row = { settings, overrides: { skipped: [], moved: {} } } as unknown as CampaignRow;
    expect(computedNextSlots(row, [], 10).map((s) => s.local)).toEqual(['2036-12-01T18:00', '2036-12-02T18:00']);
    const plan = {
      settings: { ...settings, leadMinutes: 0, catchUp: { mode: 'skip' as const } },
      overrides: { skipped: [], moved: {} },
      cursor: null,
      done: [],
      inTimeOrder: true,
      allMoves: true,
    };
    expect(upcomingSlots({ ...plan, strictUntil: true }, 10)).toHaveLength(2);
    expect(upcomingSlots(plan, 10)).toHaveLength(6);
  });

  it('refuses a time of day that does not exist', () => {
    expect(() =>
      listSlots({
        cadence: daily('FREQ=DAILY;BYHOUR=1;UNTIL=20261203T250000Z'),
        timeZone: 'UTC',
        startDate: '2026-12-01',
        limit: 1,
      }),
    ).toThrow(/no such time/);
  });
});
