import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Services } from '../composition/services.js';
import { campaigns } from '../db/schema.js';
import { CadenceError, checkCadenceLimits, listSlots, type SlotQuery } from '../domain/cadence.js';
import {
  localTimeOf,
  markDone,
  type SchedulePlan,
  type ScheduleSettings,
  upcomingSlots,
} from '../domain/campaign-schedule.js';
import { expectProblem, type Json, postJson, signUp, type TestUser, uploadPhoto } from './helpers/api.js';
import { campaignBody, HOUR, startCampaignSystem } from './helpers/campaign-system.js';
import { until } from './helpers/until.js';

// How much a cadence may ask, and what asking for slots costs: a rule of a post a minute froze the
// API for a minute and a half, and slots were computed from the campaign's first day on every call.

const DAY = 24 * HOUR;
const everyMinute = `FREQ=DAILY;BYHOUR=${Array.from({ length: 24 }, (_, h) => h).join(',')};BYMINUTE=${Array.from(
  { length: 60 },
  (_, m) => m,
).join(',')}`;
const hourly = `FREQ=DAILY;BYHOUR=${Array.from({ length: 24 }, (_, h) => h).join(',')}`;

const refusal = (fn: () => unknown): CadenceError => {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CadenceError);
    return err as CadenceError;
  }
  throw new Error('expected a CadenceError');
};

describe('how often a cadence may post', () => {
  it('allows 48 times a day and refuses more, naming the field', () => {
    checkCadenceLimits({ kind: 'rrule', rule: `${hourly};BYMINUTE=0,30` });
    // The same time named twice is one time.
    checkCadenceLimits({ kind: 'rrule', rule: `${hourly};BYMINUTE=0,30,0` });
    const minutes = refusal(() => checkCadenceLimits({ kind: 'rrule', rule: everyMinute }));
    expect(minutes.field).toBe('cadence.rule');
    expect(minutes.message).toMatch(/at most 48 posts a day.*1440/);
    expect(refusal(() => checkCadenceLimits({ kind: 'rrule', rule: `${hourly};BYMINUTE=0,20,40` })).field).toBe(
      'cadence.rule',
    );
    const slots = Array.from({ length: 49 }, (_, i) => ({
      day: 'mon' as const,
      time: `${String(Math.floor(i / 3)).padStart(2, '0')}:${String((i % 3) * 15).padStart(2, '0')}`,
    }));
    expect(refusal(() => checkCadenceLimits({ kind: 'weekly', slots })).field).toBe('cadence.slots');
    checkCadenceLimits({ kind: 'weekly', slots: slots.slice(0, 48) });
  });
});

describe('the cost of listing slots', () => {
  /** How many times the zone's clock is read (each slot's instant reads it a few times). */
  function clockReads(fn: () => unknown): number {
    const spy = vi.spyOn(Intl.DateTimeFormat.prototype, 'formatToParts');
    try {
      fn();
      return spy.mock.calls.length;
    } finally {
      spy.mockRestore();
    }
  }

  it('does not grow with the age of the campaign', () => {
    const query = (startDate: string, end?: SlotQuery['end']): SlotQuery => ({
      cadence: { kind: 'rrule', rule: hourly },
      timeZone: 'Europe/Berlin',
      startDate,
      ...(end ? { end } : {}),
      after: '2026-06-10T10:30:00Z',
      limit: 1,
      inTimeOrder: true,
    });
    const young = clockReads(() => listSlots(query('2026-06-01')));
    // Nine years of hourly slots before the moment asked about: 78,000 instants walking them all.
    const old = clockReads(() => listSlots(query('2017-06-01')));
    expect(old).toBeLessThanOrEqual(young);
    expect(old).toBeLessThan(1_000);
    // The slot is the same one, its index counted from the series' start.
    const [slot] = listSlots(query('2017-06-01', { count: 100_000 }));
    expect(slot).toMatchObject({ local: '2026-06-10T13:00', at: '2026-06-10T11:00:00.000Z' });
    expect(slot!.index).toBe(Math.round((Date.parse('2026-06-10') - Date.parse('2017-06-01')) / DAY) * 24 + 13);
  });

  it('gives the same slots as a walk from the first day, across clock changes and a day a zone skipped', () => {
    const cases: Omit<SlotQuery, 'after' | 'limit'>[] = [
      {
        cadence: { kind: 'rrule', rule: 'FREQ=DAILY;BYHOUR=2,3,9;BYMINUTE=0,30;COUNT=400' },
        timeZone: 'Europe/Berlin',
        startDate: '2026-01-01',
      },
      {
        cadence: {
          kind: 'weekly',
          slots: [
            { day: 'sun', time: '02:30' },
            { day: 'sun', time: '03:15' },
            { day: 'wed', time: '18:00' },
          ],
        },
        timeZone: 'America/New_York',
        startDate: '2026-01-01',
        end: { until: '2027-12-31' },
      },
      // Days that repeat every 21 (every third day, on some weekdays) and every fortnight.
      {
        cadence: { kind: 'rrule', rule: 'FREQ=DAILY;INTERVAL=3;BYDAY=MO,WE,FR;BYHOUR=8,20' },
        timeZone: 'Australia/Lord_Howe',
        startDate: '2026-02-03',
        end: { count: 300 },
      },
      {
        cadence: { kind: 'rrule', rule: 'FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,SA;BYHOUR=7;BYMINUTE=15,45' },
        timeZone: 'America/Santiago',
        startDate: '2026-01-01',
      },
      // Samoa went from UTC-10 to UTC+14 and had no 30 December 2011.
      {
        cadence: { kind: 'rrule', rule: 'FREQ=DAILY;BYHOUR=0,12,23' },
        timeZone: 'Pacific/Apia',
        startDate: '2011-12-01',
      },
      {
        cadence: { kind: 'rrule', rule: 'FREQ=MONTHLY;BYDAY=-1FR;BYHOUR=17' },
        timeZone: 'Pacific/Kiritimati',
        startDate: '2026-01-01',
        end: { count: 30 },
      },
    ];
    for (const series of cases) {
      for (const inTimeOrder of [true, false]) {
        const all = listSlots({ ...series, inTimeOrder, limit: 20_000 });
        for (const i of [0, 1, 17, 55, 60, 61, all.length - 2]) {
          const from = all[i];
          if (!from) continue;
          for (const after of [Date.parse(from.at) - 1, Date.parse(from.at), Date.parse(from.at) + 3 * DAY]) {
            const expected = all.filter((s) => Date.parse(s.at) > after).slice(0, 7);
            expect(listSlots({ ...series, inTimeOrder, after, limit: 7 }), JSON.stringify(series)).toEqual(expected);
          }
        }
      }
    }
  });
});

describe('a slot moved earlier than others', () => {
  const settings: ScheduleSettings = {
    cadence: { kind: 'rrule', rule: 'FREQ=DAILY;BYHOUR=10' },
    timeZone: 'UTC',
    startDate: '2026-06-01',
    end: { count: 10 },
    leadMinutes: 0,
    catchUp: { mode: 'skip' },
  };
  const moved = { '2026-06-09T10:00': '2026-06-01T12:00' };
  /** The slots the campaign reaches, in turn, as its workflow does. */
  function reached(allMoves: boolean): string[] {
    let plan: SchedulePlan = {
      settings,
      overrides: { skipped: [], moved },
      cursor: null,
      done: [],
      inTimeOrder: true,
      allMoves,
    };
    const order: string[] = [];
    for (let [slot] = upcomingSlots(plan, 1); slot; [slot] = upcomingSlots(plan, 1)) {
      order.push(`${slot.local}@${slot.localAt}`);
      plan = markDone(plan, slot.local);
    }
    return order;
  }

  it('comes at its new time, not once the slots before its own time are done', () => {
    const order = reached(true);
    expect(order.slice(0, 3)).toEqual([
      '2026-06-01T10:00@2026-06-01T10:00',
      '2026-06-09T10:00@2026-06-01T12:00',
      '2026-06-02T10:00@2026-06-02T10:00',
    ]);
    expect(order).toHaveLength(10);
  });

  it('keeps the old order for runs started before (their histories replay it)', () => {
    const order = reached(false);
    expect(order.indexOf('2026-06-09T10:00@2026-06-01T12:00')).toBe(7);
    expect(order).toHaveLength(10);
  });
});

describe('through the API and the campaign workflow', () => {
  let system: Awaited<ReturnType<typeof startCampaignSystem>>;
  let services: Services;
  let env: TestWorkflowEnvironment;
  let user: TestUser;
  beforeAll(async () => {
    system = await startCampaignSystem('campaign-limits');
    ({ services, env } = system);
    user = await signUp(services.apiUrl!);
  });
  afterAll(async () => {
    await system?.stop();
  });

  const utcDate = (ms: number) => new Date(ms).toISOString().slice(0, 10);
  const todayIn = (zone: string) => localTimeOf(Date.now(), zone).slice(0, 10);
  const dayBefore = (date: string) => utcDate(Date.parse(`${date}T00:00:00Z`) - DAY);
  const create = (settings: Record<string, unknown>) =>
    postJson(user.api, '/api/v1/campaigns', campaignBody({ review: { mode: 'auto' }, ...settings }));
  const edit = (id: string, changes: Record<string, unknown>) =>
    postJson(user.api, `/api/v1/campaigns/${id}`, changes, {}, 'PATCH');
  async function created(settings: Record<string, unknown>): Promise<Json> {
    const res = await create(settings);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body;
  }

  // The campaigns that wait on the server's clock first: ones left running with posts of their own
  // would keep the time-skipping server from skipping.
  it('reaches a slot moved earlier than the slots before its own time at its new time', {
    timeout: 120_000,
  }, async () => {
    // To the next 12:00 UTC on the server's clock, so the slots lie where the test puts them.
    const toNoon = (12 * HOUR - ((await env.currentTimeMs()) % DAY) + DAY) % DAY;
    if (toNoon > 0) await env.sleep(toNoon);
    const noon = await env.currentTimeMs();
    const first = utcDate(noon + DAY);
    const campaign = await created({
      cadence: { kind: 'rrule', rule: 'FREQ=DAILY;BYHOUR=10' },
      timeZone: 'UTC',
      startDate: first,
      end: { count: 10 },
      leadMinutes: 0,
    });
    const ninth = `${utcDate(noon + 9 * DAY)}T10:00`;
    const to = `${first}T12:00`;
    const moved = await postJson(user.api, `/api/v1/campaigns/${campaign.id}/move`, { slot: ninth, to });
    expect(moved.status, JSON.stringify(moved.body)).toBe(200);
    expect(moved.body.nextSlots.slice(0, 3)).toEqual([
      expect.objectContaining({ slot: `${first}T10:00`, local: `${first}T10:00` }),
      expect.objectContaining({ slot: ninth, local: to }),
      expect.objectContaining({ slot: `${utcDate(noon + 2 * DAY)}T10:00` }),
    ]);

    await env.sleep(DAY + 5 * 60_000);
    const rows = await until('the first slot and the moved one reached', async () => {
      const slots = await system.slotsOf(campaign.id);
      return slots.length >= 2 && slots;
    });
    expect(rows.map((r) => [r.slot, r.outcome])).toEqual([
      [`${first}T10:00`, 'created'],
      [ninth, 'created'],
    ]);
    // At its new time (the campaign's clock may wake a moment after it).
    const publishAt = rows[1]!.publishAt!.getTime();
    expect(publishAt).toBeGreaterThanOrEqual(Date.parse(`${to}:00Z`));
    expect(publishAt).toBeLessThan(Date.parse(`${to}:00Z`) + 60_000);
    expect((await postJson(user.api, `/api/v1/campaigns/${campaign.id}/cancel`, {})).status).toBe(200);
  });

  it('names the field a schedule refused by the campaign itself fails on', { timeout: 120_000 }, async () => {
    const now = await env.currentTimeMs();
    const campaign = await created({
      cadence: { kind: 'rrule', rule: 'FREQ=DAILY;BYHOUR=10' },
      timeZone: 'UTC',
      startDate: utcDate(now + DAY),
      end: { count: 20 },
      leadMinutes: 0,
    });
    await env.sleep(3 * DAY);
    // A new cadence starts a new series today, after the last day the edit asks for: the API's own
    // check (from the saved first day) passes, the campaign refuses.
    const refused = await edit(campaign.id, {
      cadence: { kind: 'rrule', rule: 'FREQ=DAILY;BYHOUR=11' },
      end: { until: utcDate(now + 2 * DAY) },
    });
    expectProblem(refused, 422, 'end.until');
    expect(refused.body.errors[0].message).toMatch(/ends before it starts/);
    expect((await postJson(user.api, `/api/v1/campaigns/${campaign.id}/cancel`, {})).status).toBe(200);
  });
  it('refuses a rule of more than 48 posts a day at once, in preview, create and edit', async () => {
    const preview = await postJson(user.api, '/api/v1/campaigns/preview', {
      cadence: { kind: 'rrule', rule: everyMinute },
      timeZone: 'Europe/Berlin',
      startDate: '2000-01-01',
    });
    expectProblem(preview, 422, 'cadence.rule');
    expect(preview.body.errors[0].message).toMatch(/at most 48 posts a day/);
    const today = todayIn('Europe/Berlin');
    const cadence = { kind: 'rrule', rule: everyMinute };
    expectProblem(
      await create({ cadence, timeZone: 'Europe/Berlin', startDate: today, end: { count: 3 } }),
      422,
      'cadence.rule',
    );
    const campaign = await created({
      cadence: { kind: 'rrule', rule: 'FREQ=DAILY;BYHOUR=9' },
      timeZone: 'Europe/Berlin',
      startDate: today,
      end: { count: 3 },
    });
    expectProblem(await edit(campaign.id, { cadence }), 422, 'cadence.rule');
    // 48 a day, from a first day long gone: the preview lists the coming ones without walking the years.
    const half = await postJson(user.api, '/api/v1/campaigns/preview', {
      cadence: { kind: 'rrule', rule: `${hourly};BYMINUTE=0,30` },
      timeZone: 'Europe/Berlin',
      startDate: '2020-01-01',
      limit: 3,
    });
    expect(half.status, JSON.stringify(half.body)).toBe(200);
    expect(half.body.slots).toHaveLength(3);
  });

  it('refuses a first day before today in the campaign zone, at create and when an edit changes it', async () => {
    const zone = 'Pacific/Kiritimati';
    const today = todayIn(zone);
    const past = await create({
      cadence: { kind: 'weekly', slots: [{ day: 'mon', time: '09:00' }] },
      timeZone: zone,
      startDate: dayBefore(today),
      end: { count: 10 },
    });
    expectProblem(past, 422, 'startDate');
    expect(past.body.errors[0].message).toContain(today);
    const campaign = await created({
      cadence: { kind: 'weekly', slots: [{ day: 'mon', time: '09:00' }] },
      timeZone: zone,
      startDate: today,
      end: { count: 10 },
    });
    expectProblem(await edit(campaign.id, { startDate: dayBefore(today) }), 422, 'startDate');

    // A campaign running for weeks: its first day has passed, and an edit that keeps it is fine.
    const started = utcDate(Date.now() - 20 * DAY);
    const startedWeeksAgo = async () => {
      const [row] = await system.db.select().from(campaigns).where(eq(campaigns.id, campaign.id));
      await system.db
        .update(campaigns)
        .set({ settings: { ...(row!.settings as Record<string, unknown>), startDate: started } })
        .where(eq(campaigns.id, campaign.id));
    };
    await startedWeeksAgo();
    const renamed = await edit(campaign.id, { name: 'Renamed' });
    expect(renamed.status, JSON.stringify(renamed.body)).toBe(200);
    // The whole settings sent back, the first day as it was.
    await startedWeeksAgo();
    const same = await edit(campaign.id, { name: 'Renamed again', startDate: started });
    expect(same.status, JSON.stringify(same.body)).toBe(200);
  });

  it('refuses a campaign that would make no post, and previews the very body it would create', async () => {
    // Mondays only, from a Tuesday to the Thursday after it: no slot between.
    const now = Date.now();
    const tuesday = utcDate(now + (((2 - new Date(now).getUTCDay() + 7) % 7) + 7) * DAY);
    const thursday = utcDate(Date.parse(`${tuesday}T00:00:00Z`) + 2 * DAY);
    const body = {
      cadence: { kind: 'weekly', slots: [{ day: 'mon', time: '09:00' }] },
      timeZone: 'UTC',
      startDate: tuesday,
      end: { until: thursday },
    };
    const none = await create(body);
    expectProblem(none, 422, 'end');
    expect(JSON.stringify(none.body)).toMatch(/would make no post/);

    // The create body as a whole (name, brief, targets, review...) previews: only its schedule counts.
    const full = campaignBody({ review: { mode: 'auto' }, ...body, end: { count: 2 }, leadMinutes: 30 });
    const preview = await postJson(user.api, '/api/v1/campaigns/preview', full);
    expect(preview.status, JSON.stringify(preview.body)).toBe(200);
    expect(preview.body.slots).toHaveLength(2);
    expect(preview.body.slots[0].local).toMatch(/T09:00$/);
    // Still checked as create checks it: a typo is named, not ignored.
    expectProblem(await postJson(user.api, '/api/v1/campaigns/preview', { ...full, cadense: 1 }), 422, 'cadense');
  });

  it('refuses targets that need a picture or a video when no slot post can have one', async () => {
    const settings = {
      cadence: { kind: 'rrule', rule: 'FREQ=DAILY;BYHOUR=9' },
      timeZone: 'UTC',
      startDate: utcDate((await env.currentTimeMs()) + DAY),
      end: { count: 3 },
    };
    // A slot's post is made without media: without an image asked for, every slot would fail.
    const refused = await create({ ...settings, targets: [{ type: 'local_export', platform: 'instagram' }] });
    expectProblem(refused, 422, 'targets[0]');
    expect(JSON.stringify(refused.body)).toMatch(/Instagram needs an image or a video/);
    // A campaign has no media field: the advice is what it can do instead.
    expect(JSON.stringify(refused.body)).toMatch(/carry no media of their own/);
    expect(JSON.stringify(refused.body)).not.toMatch(/Add media/);
    const campaign = await created(settings);
    expectProblem(
      await edit(campaign.id, { targets: [{ type: 'local_export', platform: 'instagram' }] }),
      422,
      'targets[0]',
    );
    // An image asked for is what each slot's post will have, if it can be made: never a video, and
    // nothing at all on this system, which has no AI endpoint.
    const withImage = { ...settings, brief: { topic: 'Our product launch', generateImage: true } };
    const noVideo = await create({ ...withImage, targets: [{ type: 'local_export', platform: 'youtube' }] });
    expectProblem(noVideo, 422, 'targets[0]');
    expect(JSON.stringify(noVideo.body)).toMatch(/YouTube needs a video/);
    const noEndpoint = await create({ ...withImage, targets: [{ type: 'local_export', platform: 'instagram' }] });
    expectProblem(noEndpoint, 422, 'brief.generateImage');
    expect(JSON.stringify(noEndpoint.body)).toMatch(/no AI endpoint is configured/);
  });

  it("refuses an edit whose brief names another user's media", async () => {
    const other = await signUp(services.apiUrl!);
    const theirs = await uploadPhoto(other.api);
    const mine = await uploadPhoto(user.api);
    const campaign = await created({
      cadence: { kind: 'rrule', rule: 'FREQ=DAILY;BYHOUR=9' },
      timeZone: 'UTC',
      // Ahead of the server's clock, which the tests above moved on: the campaign is still running.
      startDate: utcDate((await env.currentTimeMs()) + DAY),
      end: { count: 3 },
    });
    const brief = { topic: 'Our product launch', tone: 'upbeat' };
    const refused = await edit(campaign.id, { brief: { ...brief, sourceMediaIds: [mine, theirs] } });
    expectProblem(refused, 422, 'brief.sourceMediaIds[1]');
    expect(refused.body.errors).toHaveLength(1);
    const accepted = await edit(campaign.id, { brief: { ...brief, sourceMediaIds: [mine] } });
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(200);
  });
});
