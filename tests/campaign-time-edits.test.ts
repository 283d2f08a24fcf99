import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { campaignDepsOf } from '../api/routes/campaigns.js';
import type { Services } from '../composition/services.js';
import { campaigns } from '../db/schema.js';
import { localTimeOf, rebaseSeries, type ScheduleSettings } from '../domain/campaign-schedule.js';
import { startUnconfirmedCampaigns } from '../use-cases/campaigns/start-unconfirmed.js';
import type { CampaignInput } from '../workflows/campaign-messages.js';
import { call, type Json, postJson, signUp, type TestUser } from './helpers/api.js';
import { campaignBody, HOUR, startCampaignSystem } from './helpers/campaign-system.js';
import { until } from './helpers/until.js';

// A campaign never reaches into the past because of when it was made or how its zone was edited:
// a new campaign starts from its creation, and a zone edit from the edit's time. On the
// time-skipping test server of the file's own (see campaigns-time-skipping.test.ts), with the real
// worker and API against PostgreSQL. The tests run in order: the first ones need the server's clock
// still at the real one (the API checks dates against the real clock), the last moves it on.
let system: Awaited<ReturnType<typeof startCampaignSystem>>;
let services: Services;
let env: TestWorkflowEnvironment;
beforeAll(async () => {
  system = await startCampaignSystem('campaign-time-edits');
  ({ services, env } = system);
});
afterAll(async () => {
  await system?.stop();
});

const DAY = 24 * HOUR;
const slotsOf = (campaignId: string) => system.slotsOf(campaignId);
const dayOf = (ms: number, zone: string) => localTimeOf(ms, zone).slice(0, 10);
const hourOf = (ms: number, zone: string) => Number(localTimeOf(ms, zone).slice(11, 13));
const pad = (n: number) => String(n).padStart(2, '0');
/** The first zone whose local hour now is within [min, max]: fixed offsets, so no DST moves it. */
const zoneWithHour = (zones: string[], now: number, min: number, max: number) => {
  const zone = zones.find((z) => hourOf(now, z) >= min && hourOf(now, z) <= max);
  if (!zone) throw new Error('no zone fits');
  return zone;
};

async function createCampaign(user: TestUser, settings: Record<string, unknown>): Promise<Json> {
  const created = await postJson(user.api, '/api/v1/campaigns', campaignBody(settings));
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return created.body;
}
const slotNames = (view: Json) => (view.nextSlots as { slot: string }[]).map((s) => s.slot);
const cancel = (user: TestUser, id: string) => postJson(user.api, `/api/v1/campaigns/${id}/cancel`, {});
/** Real time for the worker to act on anything it was about to: a slot made at once shows by then. */
const settle = () => new Promise((r) => setTimeout(r, 3000));

it('a campaign starting today leaves out the slots of today already passed, as its preview does', {
  timeout: 60_000,
}, async () => {
  const user = await signUp(services.apiUrl!);
  const now = await env.currentTimeMs();
  const zone = zoneWithHour(['UTC', 'Etc/GMT-6', 'Etc/GMT+6', 'Etc/GMT-12'], now, 2, 21);
  const today = dayOf(now, zone);
  const hour = pad(hourOf(now, zone) - 1);
  const schedule = {
    cadence: { kind: 'rrule', rule: `FREQ=DAILY;BYHOUR=${hour}` },
    timeZone: zone,
    startDate: today,
    end: { count: 2 },
  };
  const preview = await postJson(user.api, '/api/v1/campaigns/preview', { ...schedule, limit: 5 });
  expect(preview.status, JSON.stringify(preview.body)).toBe(200);
  const previewed = (preview.body.slots as { local: string }[]).map((s) => s.local);
  const created = await createCampaign(user, {
    ...schedule,
    leadMinutes: 0,
    catchUp: { mode: 'late', windowMinutes: 1440 },
  });
  // Today's slot had passed when the campaign was made: not listed, not published late, and the
  // count of 2 still gives 2 posts.
  const tomorrow = dayOf(now + DAY, zone);
  const after = dayOf(now + 2 * DAY, zone);
  expect(slotNames(created)).toEqual([`${tomorrow}T${hour}:00`, `${after}T${hour}:00`]);
  expect(previewed).toEqual(slotNames(created));
  await settle();
  expect(await slotsOf(created.id as string)).toEqual([]);
  const view = (await call(user.api, `/api/v1/campaigns/${created.id}`)).body;
  expect(view.summary).toMatchObject({ missed: 0, scheduled: 0, published: 0 });
  expect(slotNames(view)).toEqual(slotNames(created));
  expect((await cancel(user, created.id as string)).status).toBe(200);
});

it('a zone edit puts no slot in the past: none published late, none missed, and the count still yields what was left', {
  timeout: 60_000,
}, async () => {
  const user = await signUp(services.apiUrl!);
  const now = await env.currentTimeMs();
  // The new zone is 24 or 26 hours ahead of the old: its slot today has passed while the old
  // zone's same slot is still a day away.
  const east = zoneWithHour(['Etc/GMT-14', 'Etc/GMT-12'], now, 1, 23);
  const startDate = dayOf(now, east);
  const hour = pad(hourOf(now, east) - 1);
  const created = await createCampaign(user, {
    cadence: { kind: 'rrule', rule: `FREQ=DAILY;BYHOUR=${hour}` },
    timeZone: 'Etc/GMT+12',
    startDate,
    end: { count: 3 },
    leadMinutes: 0,
    catchUp: { mode: 'late', windowMinutes: 2880 },
  });
  const id = created.id as string;
  expect(slotNames(created)).toHaveLength(3);
  const edited = await postJson(user.api, `/api/v1/campaigns/${id}`, { timeZone: east }, {}, 'PATCH');
  expect(edited.status, JSON.stringify(edited.body)).toBe(200);
  const day = (n: number) => `${dayOf(Date.parse(`${startDate}T12:00:00Z`) + n * DAY, 'UTC')}T${hour}:00`;
  // Three were left before the edit, three after; the start date's slot, gone in the new zone, is not one.
  expect(slotNames(edited.body)).toEqual([day(1), day(2), day(3)]);
  for (const slot of edited.body.nextSlots as { at: string }[]) expect(Date.parse(slot.at)).toBeGreaterThan(now);
  await settle();
  expect(await slotsOf(id)).toEqual([]);
  expect((await cancel(user, id)).status).toBe(200);
});

it('a zone edit on the campaign’s first day is taken, and continues from the edit, though that day has passed in the new zone', async () => {
  const user = await signUp(services.apiUrl!);
  const now = Date.now();
  const west = 'Etc/GMT+12';
  const created = await createCampaign(user, {
    cadence: { kind: 'rrule', rule: 'FREQ=DAILY;BYHOUR=23' },
    timeZone: west,
    startDate: dayOf(now, west),
    end: { count: 3 },
  });
  // 26 hours ahead, the first day is yesterday or the day before: no longer a reason to refuse, as
  // the series goes on from the edit's time.
  const edited = await postJson(user.api, `/api/v1/campaigns/${created.id}`, { timeZone: 'Etc/GMT-14' }, {}, 'PATCH');
  expect(edited.status, JSON.stringify(edited.body)).toBe(200);
  expect(slotNames(edited.body)).toHaveLength(3);
  for (const slot of edited.body.nextSlots as { at: string }[]) expect(Date.parse(slot.at)).toBeGreaterThan(now);
  expect((await cancel(user, created.id as string)).status).toBe(200);
});

it('the sweep starts a campaign from its creation, not from the sweep', { timeout: 60_000 }, async () => {
  const user = await signUp(services.apiUrl!);
  const created = await createCampaign(user, {
    cadence: { kind: 'rrule', rule: 'FREQ=DAILY;BYHOUR=9' },
    timeZone: 'UTC',
    startDate: dayOf(Date.now() + DAY, 'UTC'),
    end: { count: 3 },
  });
  const [row] = await system.db
    .select()
    .from(campaigns)
    .where(eq(campaigns.id, created.id as string));
  // The same campaign saved an hour ago while Temporal did not answer: its start never confirmed.
  const id = crypto.randomUUID();
  const createdAt = new Date(Date.now() - HOUR);
  await system.db.insert(campaigns).values({
    ...row!,
    id,
    workflowId: `campaign-${id}`,
    workflowStartedAt: null,
    idempotencyKey: null,
    createdAt,
  });
  const swept = await startUnconfirmedCampaigns(campaignDepsOf(services.apiDeps!), { olderThanMs: 0 });
  expect(swept.started).toContain(id);
  const handle = env.client.workflow.getHandle(`campaign-${id}`);
  const history = await handle.fetchHistory();
  const payload = history.events![0]!.workflowExecutionStartedEventAttributes!.input!.payloads![0]!;
  const input = JSON.parse(Buffer.from(payload.data!).toString()) as CampaignInput;
  expect(input.startFrom).toBe(createdAt.toISOString());
  expect((await cancel(user, id)).status).toBe(200);
  expect((await cancel(user, created.id as string)).status).toBe(200);
});

it('a slot in the spring-forward gap is shown at the time it happens; its identity stays', async () => {
  const user = await signUp(services.apiUrl!);
  // The next second Sunday of March in New York with a week to spare.
  let change = 0;
  for (let year = new Date().getUTCFullYear(); !change; year++) {
    const first = new Date(Date.UTC(year, 2, 1)).getUTCDay();
    const sunday = Date.UTC(year, 2, 1 + ((7 - first) % 7) + 7);
    if (sunday - 8 * DAY > Date.now()) change = sunday;
  }
  const day = dayOf(change, 'UTC');
  const created = await createCampaign(user, {
    cadence: { kind: 'weekly', slots: [{ day: 'sun', time: '02:30' }] },
    timeZone: 'America/New_York',
    startDate: dayOf(change - 7 * DAY, 'UTC'),
    end: { count: 3 },
  });
  const slot = (created.nextSlots as { slot: string; local: string; at: string }[])[1];
  expect(slot).toEqual({ slot: `${day}T02:30`, local: `${day}T03:30`, at: `${day}T07:30:00.000Z` });
  expect((await cancel(user, created.id as string)).status).toBe(200);
});

it('east to west, a zone edit never brings back a slot already made under its name', { timeout: 120_000 }, async () => {
  const user = await signUp(services.apiUrl!);
  const now = await env.currentTimeMs();
  const east = zoneWithHour(['Etc/GMT-14', 'Etc/GMT-12'], now, 0, 21);
  const startDate = dayOf(now, east);
  const hour = pad(hourOf(now, east) + 1);
  const created = await createCampaign(user, {
    cadence: { kind: 'rrule', rule: `FREQ=DAILY;BYHOUR=${hour}` },
    timeZone: east,
    startDate,
    end: { count: 3 },
    leadMinutes: 0,
  });
  const id = created.id as string;
  const first = `${startDate}T${hour}:00`;
  expect(slotNames(created)[0]).toBe(first);
  await env.sleep(Date.parse((created.nextSlots as { at: string }[])[0]!.at) - now + 2 * 60_000);
  await until('the first slot made', async () => (await slotsOf(id)).some((r) => r.slot === first));
  // 26 hours west: the same local time is a day away again, under the same name as the post made.
  const edited = await postJson(user.api, `/api/v1/campaigns/${id}`, { timeZone: 'Etc/GMT+12' }, {}, 'PATCH');
  expect(edited.status, JSON.stringify(edited.body)).toBe(200);
  const day = (n: number) => `${dayOf(Date.parse(`${startDate}T12:00:00Z`) + n * DAY, 'UTC')}T${hour}:00`;
  expect(slotNames(edited.body)).toEqual([day(1), day(2)]);
  expect((await cancel(user, id)).status).toBe(200);
});

describe('rebaseSeries for a zone edit', () => {
  const settings: ScheduleSettings = {
    cadence: { kind: 'rrule', rule: 'FREQ=DAILY;BYHOUR=10,18' },
    timeZone: 'Pacific/Honolulu',
    startDate: '2030-01-01',
    end: { count: 10 },
    leadMinutes: 0,
    catchUp: { mode: 'skip' },
  };
  it('moves the cursor to the edit and keeps the posts left; runs before the marker keep their cursor', () => {
    // Jan 3, 11:00 in Honolulu: 5 of the 10 slots have passed (Jan 1 10 and 18, Jan 2 10 and 18, Jan 3 10).
    const cutoff = Date.parse('2030-01-03T21:00:00Z');
    const cursor = '2030-01-03T20:00:00.000Z';
    const next = { ...settings, timeZone: 'Pacific/Kiritimati' };
    const rebased = rebaseSeries(next, settings, 5, cutoff, { fromNow: true, cursor, strictUntil: true });
    // Jan 4, 11:00 in Kiritimati: 7 slots of the new zone are gone, 5 remain to be made.
    expect(rebased).toEqual({ settings: { ...next, end: { count: 12 } }, restart: false, cursor: cutoff });
    expect(rebaseSeries(next, settings, 5, cutoff, { cursor })).toEqual({ settings: next, restart: false });
    // An edit of only the end keeps its meaning: the whole series, and the cursor where it is.
    expect(rebaseSeries({ ...settings, end: { count: 12 } }, settings, 5, cutoff, { fromNow: true, cursor })).toEqual({
      settings: { ...settings, end: { count: 12 } },
      restart: false,
    });
  });
  it('west, the cursor passes the local time of the last slot reached', () => {
    const east = { ...settings, timeZone: 'Pacific/Kiritimati' };
    // Jan 3 10:00 in Kiritimati was reached; it is 11:00 there.
    const cursor = '2030-01-02T20:00:00.000Z';
    const cutoff = Date.parse('2030-01-02T21:00:00Z');
    const rebased = rebaseSeries(settings, east, 5, cutoff, { fromNow: true, cursor });
    // Jan 3 10:00 in Honolulu is 24 hours on: the cursor is there, and 5 slots are still left.
    expect(rebased?.cursor).toBe(Date.parse('2030-01-03T20:00:00Z'));
    expect(rebased?.settings.end).toEqual({ count: 10 });
  });
});
