import { describe, expect, it } from 'vitest';
import { CadenceError, listSlots, parseRRule } from '../domain/cadence.js';

const berlin = 'Europe/Berlin';

describe('campaign slots', () => {
  it('keeps an 18:00 Berlin slot at 18:00 local across the spring and autumn changes', () => {
    const slots = listSlots({
      cadence: { kind: 'weekly', slots: [{ day: 'sun', time: '18:00' }] },
      timeZone: berlin,
      startDate: '2026-03-22',
      end: { until: '2026-11-01' },
      limit: 100,
    });
    const byLocal = Object.fromEntries(slots.map((s) => [s.local, s.at]));
    // CET (+01:00) before 29 March, CEST (+02:00) after, CET again from 25 October.
    expect(byLocal['2026-03-22T18:00']).toBe('2026-03-22T17:00:00.000Z');
    expect(byLocal['2026-03-29T18:00']).toBe('2026-03-29T16:00:00.000Z');
    expect(byLocal['2026-10-18T18:00']).toBe('2026-10-18T16:00:00.000Z');
    expect(byLocal['2026-10-25T18:00']).toBe('2026-10-25T17:00:00.000Z');
    expect(byLocal['2026-11-01T18:00']).toBe('2026-11-01T17:00:00.000Z');
    expect(slots.every((s) => s.local.endsWith('T18:00'))).toBe(true);
    expect(slots.map((s) => s.index)).toEqual(slots.map((_, i) => i));
  });

  it('moves a slot in the spring-forward gap forward by the gap, and takes the first of a repeated time', () => {
    const gap = listSlots({
      cadence: { kind: 'weekly', slots: [{ day: 'sun', time: '02:30' }] },
      timeZone: berlin,
      startDate: '2026-03-29',
      limit: 1,
    });
    // 02:30 does not exist on 29 March 2026 in Berlin: 03:30 CEST is meant.
    expect(gap[0]).toMatchObject({ local: '2026-03-29T02:30', at: '2026-03-29T01:30:00.000Z' });
    const twice = listSlots({
      cadence: { kind: 'weekly', slots: [{ day: 'sun', time: '02:30' }] },
      timeZone: berlin,
      startDate: '2026-10-25',
      limit: 1,
    });
    // 02:30 happens twice on 25 October 2026: the first (CEST) is meant, and only once.
    expect(twice[0]).toMatchObject({ local: '2026-10-25T02:30', at: '2026-10-25T00:30:00.000Z' });
  });

  it('lists "three a week" slots in order and stops at a count', () => {
    const slots = listSlots({
      cadence: {
        kind: 'weekly',
        slots: [
          { day: 'fri', time: '09:00' },
          { day: 'mon', time: '18:00' },
          { day: 'wed', time: '18:00' },
        ],
      },
      timeZone: berlin,
      startDate: '2026-12-02',
      end: { count: 4 },
      limit: 50,
    });
    expect(slots.map((s) => s.local)).toEqual([
      '2026-12-02T18:00',
      '2026-12-04T09:00',
      '2026-12-07T18:00',
      '2026-12-09T18:00',
    ]);
  });

  it('counts the series from its start even when asked for slots after a moment', () => {
    const query = {
      cadence: { kind: 'rrule' as const, rule: 'FREQ=DAILY;BYHOUR=9;COUNT=5' },
      timeZone: 'America/New_York',
      startDate: '2026-03-06',
      limit: 10,
    };
    const all = listSlots(query);
    expect(all).toHaveLength(5);
    // New York springs forward on 8 March: 09:00 stays 09:00 local (-05:00, then -04:00).
    expect(all[1]!.at).toBe('2026-03-07T14:00:00.000Z');
    expect(all[2]!.at).toBe('2026-03-08T13:00:00.000Z');
    const later = listSlots({ ...query, after: all[2]!.at });
    expect(later.map((s) => s.index)).toEqual([3, 4]);
  });

  it('understands the RRULE subset: interval, monthly ordinals, month days, until', () => {
    const biweekly = listSlots({
      cadence: { kind: 'rrule', rule: 'RRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,TH;BYHOUR=12;BYMINUTE=30' },
      timeZone: 'UTC',
      startDate: '2026-12-01',
      limit: 4,
    });
    expect(biweekly.map((s) => s.local)).toEqual([
      '2026-12-01T12:30',
      '2026-12-03T12:30',
      '2026-12-15T12:30',
      '2026-12-17T12:30',
    ]);
    const lastFriday = listSlots({
      cadence: { kind: 'rrule', rule: 'FREQ=MONTHLY;BYDAY=-1FR;BYHOUR=17;UNTIL=20270331' },
      timeZone: berlin,
      startDate: '2026-12-01',
      limit: 10,
    });
    expect(lastFriday.map((s) => s.local)).toEqual([
      '2026-12-25T17:00',
      '2027-01-29T17:00',
      '2027-02-26T17:00',
      '2027-03-26T17:00',
    ]);
    const monthEnd = listSlots({
      cadence: { kind: 'rrule', rule: 'FREQ=MONTHLY;BYMONTHDAY=-1;BYHOUR=8' },
      timeZone: 'UTC',
      startDate: '2027-01-15',
      limit: 2,
    });
    expect(monthEnd.map((s) => s.local)).toEqual(['2027-01-31T08:00', '2027-02-28T08:00']);
  });

  it('refuses what it cannot honour, naming the field', () => {
    const refused = (fn: () => unknown) => {
      try {
        fn();
      } catch (err) {
        expect(err).toBeInstanceOf(CadenceError);
        return err as CadenceError;
      }
      throw new Error('expected a CadenceError');
    };
    expect(refused(() => parseRRule('FREQ=HOURLY;BYHOUR=9')).message).toMatch(/FREQ must be/);
    expect(refused(() => parseRRule('FREQ=DAILY')).message).toMatch(/BYHOUR is required/);
    expect(refused(() => parseRRule('FREQ=DAILY;BYHOUR=9;BYSETPOS=1')).message).toMatch(/BYSETPOS is not supported/);
    expect(refused(() => parseRRule('FREQ=WEEKLY;BYDAY=1MO;BYHOUR=9')).message).toMatch(/ordinals/);
    expect(refused(() => parseRRule('FREQ=DAILY;BYHOUR=25')).message).toMatch(/from 0 to 23/);
    const slot = refused(() =>
      listSlots({
        cadence: { kind: 'weekly', slots: [{ day: 'mon', time: '25:00' }] },
        timeZone: 'UTC',
        startDate: '2026-12-01',
        limit: 1,
      }),
    );
    expect(slot.field).toBe('cadence.slots[0].time');
    const ends = refused(() =>
      listSlots({
        cadence: { kind: 'weekly', slots: [{ day: 'mon', time: '09:00' }] },
        timeZone: 'UTC',
        startDate: '2026-12-01',
        end: { until: '2026-11-01' },
        limit: 1,
      }),
    );
    expect(ends.field).toBe('end.until');
  });
});
