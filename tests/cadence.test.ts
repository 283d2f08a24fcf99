import { describe, expect, it } from 'vitest';
import { CadenceError, listSlots, parseRRule } from '../domain/cadence.js';
import {
  markDone,
  rebaseSeries,
  type SchedulePlan,
  type ScheduleSettings,
  upcomingSlots,
} from '../domain/campaign-schedule.js';
import { type CampaignRow, computedNextSlots } from '../use-cases/campaigns/campaigns.js';

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

/** What the campaign workflow does: wait for the next slot, reach it, mark it done; until none is left. */
function reachAll(settings: ScheduleSettings, inTimeOrder = true): string[] {
  let plan: SchedulePlan = { settings, overrides: { skipped: [], moved: {} }, cursor: null, done: [], inTimeOrder };
  const reached: string[] = [];
  for (let [slot] = upcomingSlots(plan, 1); slot; [slot] = upcomingSlots(plan, 1)) {
    reached.push(slot.local);
    plan = markDone(plan, slot.local);
  }
  return reached;
}

function schedule(cadence: ScheduleSettings['cadence'], startDate: string, end: ScheduleSettings['end']) {
  return { cadence, timeZone: berlin, startDate, end, leadMinutes: 0, catchUp: { mode: 'skip' as const } };
}

describe('a campaign across the spring-forward gap', () => {
  it('reaches a slot whose time falls before a gap slot moved forward by the jump', () => {
    // Sunday 29 March 2026: 02:30 does not exist and means 03:30 (01:30Z); 03:15 is 01:15Z, earlier.
    const settings = schedule(
      {
        kind: 'weekly',
        slots: [
          { day: 'sun', time: '02:30' },
          { day: 'sun', time: '03:15' },
        ],
      },
      '2026-03-28',
      { until: '2026-03-30' },
    );
    expect(reachAll(settings).sort()).toEqual(['2026-03-29T02:30', '2026-03-29T03:15']);
  });

  it('reaches both slots that the jump puts at the same instant', () => {
    const settings = schedule({ kind: 'rrule', rule: 'FREQ=DAILY;BYHOUR=2,3;BYMINUTE=30' }, '2026-03-28', {
      until: '2026-03-30',
    });
    const reached = reachAll(settings);
    expect(reached).toEqual([
      '2026-03-28T02:30',
      '2026-03-28T03:30',
      '2026-03-29T02:30',
      '2026-03-29T03:30',
      '2026-03-30T02:30',
      '2026-03-30T03:30',
    ]);
    // The calendar lists the same slots the campaign reaches.
    expect(listSlots({ ...settings, limit: 100, inTimeOrder: true }).map((s) => s.local)).toEqual(reached);
  });

  it('keeps every other day exactly as before', () => {
    const settings = schedule({ kind: 'rrule', rule: 'FREQ=DAILY;BYHOUR=9,18;BYMINUTE=0' }, '2026-03-01', {
      until: '2026-04-30',
    });
    expect(reachAll(settings)).toEqual(reachAll(settings, false));
  });
});

describe('an edit of a running campaign', () => {
  const june10 = Date.parse('2026-06-10T10:00:00Z');

  it('keeps the series when only its end changes: same day of the month, weekday and fortnight', () => {
    for (const [rule, next] of [
      ['FREQ=MONTHLY;BYHOUR=10', '2026-07-01T10:00'],
      ['FREQ=WEEKLY;BYHOUR=18', '2026-06-15T18:00'],
      ['FREQ=WEEKLY;INTERVAL=2;BYDAY=MO;BYHOUR=9', '2026-06-15T09:00'],
    ] as const) {
      const before = schedule({ kind: 'rrule', rule }, '2026-06-01', { count: 6 });
      const edited = rebaseSeries({ ...before, end: { count: 8 } }, before, 1, june10);
      expect(edited, rule).toEqual({ settings: { ...before, end: { count: 8 } }, restart: false });
      const [slot] = upcomingSlots(
        {
          settings: edited!.settings,
          overrides: { skipped: [], moved: {} },
          cursor: '2026-06-10T10:00:00.000Z',
          done: [],
        },
        1,
      );
      expect(slot?.local, rule).toBe(next);
    }
  });

  it('counts a new series from the edit, not from the start of the day it is made on', () => {
    // Mondays 09:00 and 18:00, from Monday 1 June, five posts; 09:00 was reached, and at 12:00 the
    // cadence gains Tuesdays. Four more posts are due, the first at 18:00 today.
    const mondays = [
      { day: 'mon' as const, time: '09:00' },
      { day: 'mon' as const, time: '18:00' },
    ];
    const before = schedule({ kind: 'weekly', slots: mondays }, '2026-06-01', { count: 5 });
    const cadence = { kind: 'weekly' as const, slots: [...mondays, { day: 'tue' as const, time: '09:00' }] };
    const noon = Date.parse('2026-06-01T10:00:00Z');
    const edited = rebaseSeries({ ...before, cadence }, before, 1, noon);
    expect(edited?.restart).toBe(true);
    const slots = listSlots({ ...edited!.settings, after: noon, limit: 100, inTimeOrder: true });
    expect(slots.map((s) => s.local)).toEqual([
      '2026-06-01T18:00',
      '2026-06-02T09:00',
      '2026-06-08T09:00',
      '2026-06-08T18:00',
    ]);
  });

  it('refuses a count the campaign has already reached', () => {
    const before = schedule({ kind: 'rrule', rule: 'FREQ=DAILY;BYHOUR=9' }, '2026-06-01', { count: 10 });
    expect(() => rebaseSeries({ ...before, end: { count: 3 } }, before, 3, june10)).toThrow(/already reached 3/);
  });
});

describe("the calendar's coming slots of a campaign", () => {
  const row = (cadence: ScheduleSettings['cadence'], moved: Record<string, string>) =>
    ({
      settings: { ...schedule(cadence, '2026-06-01', { until: '2026-12-31' }), timeZone: 'UTC' },
      overrides: { skipped: [], moved },
    }) as unknown as CampaignRow;

  it('shows a slot moved later although its own time has passed', () => {
    const campaign = row(
      {
        kind: 'weekly',
        slots: [
          { day: 'mon', time: '18:00' },
          { day: 'wed', time: '18:00' },
        ],
      },
      { '2026-06-01T18:00': '2026-06-03T20:00' },
    );
    const tuesday = Date.parse('2026-06-02T12:00:00Z');
    expect(computedNextSlots(campaign, [], 3, tuesday).map((s) => [s.local, s.localAt])).toEqual([
      ['2026-06-03T18:00', '2026-06-03T18:00'],
      ['2026-06-01T18:00', '2026-06-03T20:00'],
      ['2026-06-08T18:00', '2026-06-08T18:00'],
    ]);
  });

  it('keeps every slot of a long range, one moved far ahead included', () => {
    const campaign = row(
      { kind: 'rrule', rule: 'FREQ=DAILY;BYHOUR=9,13,18' },
      { '2026-06-02T09:00': '2026-07-20T10:00' },
    );
    const from = Date.parse('2026-06-01T00:00:00Z');
    const slots = computedNextSlots(campaign, [], 100_000, from, from + 60 * 86_400_000);
    expect(slots).toHaveLength(180);
    expect(slots.find((s) => s.local === '2026-06-02T09:00')?.at).toBe('2026-07-20T10:00:00.000Z');
    expect(slots.map((s) => s.at)).toEqual(slots.map((s) => s.at).sort());
  });
});
