import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Services } from '../composition/services.js';
import { localTimeOf } from '../domain/campaign-schedule.js';
import { formatInstant } from '../domain/pipeline-summary.js';
import { call, type Json, postJson, signUp, type TestUser } from './helpers/api.js';
import { campaignBody, HOUR, startCampaignSystem } from './helpers/campaign-system.js';
import { until } from './helpers/until.js';

// Campaign Updates on the time-skipping test server (its own server: see the six-week test's file).
// Campaigns of weeks, proven in seconds: the time-skipping test server jumps over each campaign's
// sleeps while the real worker creates and publishes every slot's post against PostgreSQL.
let system: Awaited<ReturnType<typeof startCampaignSystem>>;
let services: Services;
let env: TestWorkflowEnvironment;
beforeAll(async () => {
  system = await startCampaignSystem('campaign-updates');
  ({ services, env } = system);
});
afterAll(async () => {
  await system?.stop();
});

const DAY = 24 * HOUR;

const slotsOf = (campaignId: string) => system.slotsOf(campaignId);
const finish = (handle: Parameters<typeof system.finish>[0]) => system.finish(handle);

const utcDate = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** A campaign made through the API, for the test's user. */
async function createCampaign(user: TestUser, settings: Record<string, unknown>): Promise<Json> {
  const created = await postJson(user.api, '/api/v1/campaigns', campaignBody(settings));
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return created.body;
}

/**
 * On to the next 12:00 UTC (or stays there): the slots below are placed against it, whatever the
 * hour the suite runs at. Returns the server's time then.
 */
async function toNoonUtc(): Promise<number> {
  const toNoon = (12 * HOUR - ((await env.currentTimeMs()) % DAY) + DAY) % DAY;
  if (toNoon > 0) await env.sleep(toNoon);
  return env.currentTimeMs();
}

it('pause, resume, a mid-way cadence edit, skip, move and cancel act on future slots only', {
  timeout: 180_000,
}, async () => {
  const user = await signUp(services.apiUrl!);
  // The slots below are placed against 12:00 UTC, whatever the hour the suite runs at: run at
  // 08:40, the resume would land inside the 09:00 slot's 30-minute lead and make its post.
  const now = await toNoonUtc();
  const created = await createCampaign(user, {
    cadence: { kind: 'rrule', rule: 'FREQ=DAILY;BYHOUR=9' },
    timeZone: 'UTC',
    startDate: utcDate(now + DAY),
    end: { count: 30 },
    leadMinutes: 30,
  });
  const id = created.id as string;
  const act = (name: string, body: unknown = {}) => postJson(user.api, `/api/v1/campaigns/${id}/${name}`, body);

  const paused = await act('pause', { reason: 'On holiday' });
  expect(paused.status, JSON.stringify(paused.body)).toBe(200);
  expect(paused.body).toMatchObject({ status: 'paused', statusReason: 'On holiday' });
  expect((await act('pause')).status).toBe(409);
  await env.sleep(3 * DAY);
  expect(await slotsOf(id)).toEqual([]);

  // Slots whose time passed while paused follow the catch-up policy (skip): missed, no post.
  const resumeAt = await env.currentTimeMs();
  expect((await act('resume')).status).toBe(200);
  const missed = await until('missed slots recorded', async () => {
    const rows = await slotsOf(id);
    return rows.length >= 2 && rows;
  });
  for (const row of missed) {
    expect(row.outcome).toBe('missed');
    expect(row.postId).toBeNull();
  }

  // From now on 15:00; slots already reached stay as they were.
  const edited = await postJson(
    user.api,
    `/api/v1/campaigns/${id}`,
    { cadence: { kind: 'rrule', rule: 'FREQ=DAILY;BYHOUR=15' } },
    {},
    'PATCH',
  );
  expect(edited.status, JSON.stringify(edited.body)).toBe(200);
  expect(edited.body.nextSlots.map((s: { local: string }) => s.local.slice(11))).toEqual(Array(5).fill('15:00'));
  // The calendar shows the coming slots, computed from the saved settings, in the zone asked for.
  const from = new Date(await env.currentTimeMs()).toISOString();
  const to = new Date((await env.currentTimeMs()) + 7 * DAY).toISOString();
  const cal = await call(user.api, `/api/v1/calendar?from=${from}&to=${to}&timeZone=Europe/Berlin`);
  expect(cal.status, JSON.stringify(cal.body)).toBe(200);
  const planned = cal.body.items.filter((i: { campaignId: string; kind: string }) => i.campaignId === id);
  expect(planned.length).toBeGreaterThanOrEqual(6);
  for (const item of planned) {
    expect(item).toMatchObject({
      kind: 'slot',
      status: 'planned',
      targets: [{ key: 'local_export', type: 'local_export' }],
    });
    expect(new Date(item.at).getUTCHours()).toBe(15);
    // Berlin's wall clock for that instant, read through Intl (not the calendar's own arithmetic).
    expect(`${item.local.replace('T', ' ')} Europe/Berlin`).toBe(formatInstant(item.at, 'Europe/Berlin'));
  }
  expect((await call(user.api, `/api/v1/calendar?from=${to}&to=${from}`)).status).toBe(422);
  const badEdit = await postJson(user.api, `/api/v1/campaigns/${id}`, { timeZone: 'Mars/Base' }, {}, 'PATCH');
  expect(badEdit.status).toBe(422);

  await env.sleep(2 * DAY);
  const made = await until('two 15:00 posts', async () => {
    const rows = (await slotsOf(id)).filter((r) => r.outcome === 'created');
    return rows.length >= 2 && rows;
  });
  for (const row of made) {
    expect(row.slot.slice(11)).toBe('15:00');
    expect(row.publishAt!.getTime()).toBeGreaterThan(resumeAt);
  }

  const view = (await call(user.api, `/api/v1/campaigns/${id}`)).body;
  const [skip, move] = view.nextSlots as { slot: string }[];
  const refused = await act('skip', { slot: '2020-01-01T15:00' });
  expect(refused.status).toBe(422);
  expect((await act('skip', { slot: skip!.slot })).status).toBe(200);
  const movedTo = `${move!.slot.slice(0, 10)}T17:30`;
  const moved = await act('move', { slot: move!.slot, to: movedTo });
  expect(moved.status, JSON.stringify(moved.body)).toBe(200);
  expect(moved.body.nextSlots[0]).toMatchObject({ slot: move!.slot, local: movedTo });

  await env.sleep(3 * DAY);
  const later = await until('the moved slot created', async () => {
    const rows = await slotsOf(id);
    return rows.find((r) => r.slot === move!.slot && r.outcome === 'created') && rows;
  });
  expect(later.find((r) => r.slot === skip!.slot)).toMatchObject({ outcome: 'skipped', postId: null });
  expect(localTimeOf(later.find((r) => r.slot === move!.slot)!.publishAt!.getTime(), 'UTC')).toBe(movedTo);

  const cancelled = await act('cancel');
  expect(cancelled.status).toBe(200);
  expect(cancelled.body.status).toBe('cancelled');
  const before = await slotsOf(id);
  await env.sleep(4 * DAY);
  const result = await finish(env.client.workflow.getHandle(`campaign-${id}`));
  expect(result.status).toBe('cancelled');
  expect(await slotsOf(id)).toEqual(before);
  for (const row of before.filter((r) => r.postId)) {
    expect((await env.client.workflow.getHandle(`post-${row.postId}`).result()).status).toBe('published');
  }
  expect((await act('resume')).status).toBe(409);
});

it('an edit of only the end keeps the series: a monthly campaign keeps its day of the month', {
  timeout: 120_000,
}, async () => {
  const user = await signUp(services.apiUrl!);
  await toNoonUtc();
  const startDate = utcDate((await env.currentTimeMs()) + DAY);
  const created = await createCampaign(user, {
    cadence: { kind: 'rrule', rule: 'FREQ=MONTHLY;BYHOUR=10' },
    timeZone: 'UTC',
    startDate,
    end: { count: 3 },
    leadMinutes: 30,
  });
  const id = created.id as string;
  await env.sleep(4 * DAY);
  await until('the first slot created', async () => (await slotsOf(id)).some((r) => r.outcome === 'created'));

  const edited = await postJson(user.api, `/api/v1/campaigns/${id}`, { end: { count: 4 } }, {}, 'PATCH');
  expect(edited.status, JSON.stringify(edited.body)).toBe(200);
  // The same day of each month as the first slot; before, the edit's own day became the series' day.
  const days = edited.body.nextSlots.map((s: { local: string }) => s.local.slice(8, 16));
  expect(days).toEqual(Array(3).fill(`${startDate.slice(8)}T10:00`));
  expect((await postJson(user.api, `/api/v1/campaigns/${id}/cancel`, {})).status).toBe(200);
});

it('a skipped slot that a new schedule brings back is recorded as reached, with its post', {
  timeout: 120_000,
}, async () => {
  const user = await signUp(services.apiUrl!);
  await toNoonUtc();
  const created = await createCampaign(user, {
    cadence: { kind: 'rrule', rule: 'FREQ=DAILY;BYHOUR=9' },
    timeZone: 'UTC',
    startDate: utcDate((await env.currentTimeMs()) + DAY),
    end: { count: 3 },
    leadMinutes: 30,
  });
  const id = created.id as string;
  const act = (name: string, body: unknown = {}) => postJson(user.api, `/api/v1/campaigns/${id}/${name}`, body);
  const [, second] = created.nextSlots as { slot: string }[];
  expect((await act('skip', { slot: second!.slot })).status).toBe(200);
  // The same times, written otherwise: a new cadence, so a new series without the old skips.
  const edited = await postJson(
    user.api,
    `/api/v1/campaigns/${id}`,
    { cadence: { kind: 'rrule', rule: 'FREQ=DAILY;BYHOUR=9;BYMINUTE=0' } },
    {},
    'PATCH',
  );
  expect(edited.status, JSON.stringify(edited.body)).toBe(200);
  expect(edited.body.nextSlots.map((s: { slot: string }) => s.slot)).toContain(second!.slot);
  // Past the slot brought back, not past the last: the time-skipping server stops skipping once a
  // child pipeline outlives its campaign.
  await env.sleep(2 * DAY);
  const row = await until('the slot brought back is created', async () =>
    (await slotsOf(id)).find((r) => r.slot === second!.slot && r.outcome === 'created'),
  );
  expect(row.postId).not.toBeNull();
  expect((await act('cancel')).status).toBeLessThan(500);
});

it('cancel also cancels the posts made ahead for slots still to come; published ones stay', {
  timeout: 120_000,
}, async () => {
  const user = await signUp(services.apiUrl!);
  await toNoonUtc();
  const created = await createCampaign(user, {
    cadence: { kind: 'rrule', rule: 'FREQ=DAILY;BYHOUR=9' },
    timeZone: 'UTC',
    startDate: utcDate((await env.currentTimeMs()) + DAY),
    // Three slots: by the time the cancel comes, all three posts are made and the last two wait.
    end: { count: 3 },
    // Each slot's post is made two days ahead and waits for its time.
    leadMinutes: 2 * 24 * 60,
  });
  const id = created.id as string;
  await env.sleep(DAY);
  const made = await until('the first slot published and two more made ahead', async () => {
    const rows = (await slotsOf(id)).filter((r) => r.outcome === 'created');
    return rows.length >= 3 && rows.some((r) => r.status === 'published') && rows;
  });
  const published = made.filter((r) => r.status === 'published');
  const ahead = made.filter((r) => r.status !== 'published');
  expect(published).toHaveLength(1);
  expect(ahead.length).toBeGreaterThanOrEqual(2);

  const cancelled = await postJson(user.api, `/api/v1/campaigns/${id}/cancel`, { reason: 'Launch moved' });
  expect(cancelled.status, JSON.stringify(cancelled.body)).toBe(200);
  await finish(env.client.workflow.getHandle(`campaign-${id}`));
  for (const row of ahead) {
    const post = (await call(user.api, `/api/v1/posts/${row.postId}`)).body;
    expect(post.status).toBe('cancelled');
    expect(post.error).toMatch(/campaign was cancelled \(Launch moved\)/);
  }
  expect((await call(user.api, `/api/v1/posts/${published[0]!.postId}`)).body.status).toBe('published');
});

it('two edits sent at once both stand', { timeout: 60_000 }, async () => {
  const user = await signUp(services.apiUrl!);
  await toNoonUtc();
  const created = await createCampaign(user, {
    cadence: { kind: 'rrule', rule: 'FREQ=DAILY;BYHOUR=9' },
    timeZone: 'UTC',
    startDate: utcDate((await env.currentTimeMs()) + 7 * DAY),
    end: { count: 5 },
  });
  const id = created.id as string;
  const edit = (body: unknown) => postJson(user.api, `/api/v1/campaigns/${id}`, body, {}, 'PATCH');
  const answers = await Promise.all([
    edit({ brief: { topic: 'Our product launch, second wave', tone: 'calm' } }),
    edit({ end: { count: 8 } }),
  ]);
  for (const answer of answers) expect(answer.status, JSON.stringify(answer.body)).toBe(200);
  const view = (await call(user.api, `/api/v1/campaigns/${id}`)).body;
  expect(view.settings).toMatchObject({
    brief: { topic: 'Our product launch, second wave', tone: 'calm' },
    end: { count: 8 },
  });
  expect((await postJson(user.api, `/api/v1/campaigns/${id}/cancel`, {})).status).toBe(200);
});

it('a campaign whose last slot was moved later stays open until that post is due, so a cancel still stops it', {
  timeout: 120_000,
}, async () => {
  const user = await signUp(services.apiUrl!);
  const noon = await toNoonUtc();
  const created = await createCampaign(user, {
    cadence: { kind: 'rrule', rule: 'FREQ=DAILY;BYHOUR=9' },
    timeZone: 'UTC',
    startDate: utcDate(noon + DAY),
    end: { count: 2 },
    leadMinutes: 60,
  });
  const id = created.id as string;
  const second = `${utcDate(noon + 2 * DAY)}T09:00`;
  const moved = await postJson(user.api, `/api/v1/campaigns/${id}/move`, {
    slot: second,
    to: `${utcDate(noon + 2 * DAY)}T18:00`,
  });
  expect(moved.status, JSON.stringify(moved.body)).toBe(200);
  // To 17:30 on the second day: the moved slot's post was made at 17:00 and waits for 18:00.
  await env.sleep(2 * DAY + 5 * HOUR + 30 * 60_000);
  const row = await until('the moved slot made', async () =>
    (await slotsOf(id)).find((r) => r.slot === second && r.outcome === 'created'),
  );
  const cancelled = await postJson(user.api, `/api/v1/campaigns/${id}/cancel`, {});
  expect(cancelled.status, JSON.stringify(cancelled.body)).toBe(200);
  await finish(env.client.workflow.getHandle(`campaign-${id}`));
  expect((await call(user.api, `/api/v1/posts/${row.postId}`)).body.status).toBe('cancelled');
});
