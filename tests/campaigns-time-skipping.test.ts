import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Services } from '../composition/services.js';
import { localTimeOf } from '../domain/campaign-schedule.js';
import { call, postJson, signUp } from './helpers/api.js';
import { campaignBody, startCampaignSystem } from './helpers/campaign-system.js';
import { captureHistory } from './helpers/histories.js';

// Campaigns of weeks, proven in seconds: the time-skipping test server jumps over each campaign's
// sleeps while the real worker creates and publishes every slot's post against PostgreSQL.
let system: Awaited<ReturnType<typeof startCampaignSystem>>;
let services: Services;
let env: TestWorkflowEnvironment;
beforeAll(async () => {
  system = await startCampaignSystem('campaigns');
  ({ services, env } = system);
});
afterAll(async () => {
  await system?.stop();
});

const DAY = 86_400_000;
const date = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const at = (ms: number, utc: string) => `${date(ms)}T${utc}:00.000Z`;
/**
 * Midnight UTC of the next Sunday Berlin's clocks go forward (the last Sunday of March) with three
 * weeks to spare before it, so the campaigns below always lie ahead: fixed dates would make this
 * file fail once they had passed.
 */
function nextSpringChange(now = Date.now()): number {
  for (let year = new Date(now).getUTCFullYear(); ; year++) {
    const lastOfMarch = Date.UTC(year, 2, 31);
    const sunday = lastOfMarch - new Date(lastOfMarch).getUTCDay() * DAY;
    if (sunday - 28 * DAY > now) return sunday;
  }
}
const CHANGE = nextSpringChange();

const slotsOf = (campaignId: string) => system.slotsOf(campaignId);
const finish = (handle: Parameters<typeof system.finish>[0]) => system.finish(handle);

it('refuses a cadence that cannot run, naming the field, and previews slots in local time', async () => {
  const user = await signUp(services.apiUrl!);
  const bad = await postJson(
    user.api,
    '/api/v1/campaigns',
    campaignBody({
      cadence: { kind: 'rrule', rule: 'FREQ=HOURLY;BYHOUR=9' },
      timeZone: 'Europe/Berlin',
      startDate: date(CHANGE - 27 * DAY),
      end: { count: 3 },
    }),
  );
  expect(bad.status).toBe(422);
  expect(bad.body.errors).toEqual([expect.objectContaining({ field: 'cadence.rule' })]);
  const preview = await postJson(user.api, '/api/v1/campaigns/preview', {
    cadence: { kind: 'weekly', slots: [{ day: 'sun', time: '18:00' }] },
    timeZone: 'Europe/Berlin',
    startDate: date(CHANGE - 8 * DAY),
    limit: 3,
  });
  expect(preview.status, JSON.stringify(preview.body)).toBe(200);
  // 18:00 Berlin is 17:00 UTC the Sunday before the change, 16:00 UTC from the change on.
  expect(preview.body.slots).toEqual([
    { local: `${date(CHANGE - 7 * DAY)}T18:00`, at: at(CHANGE - 7 * DAY, '17:00') },
    { local: `${date(CHANGE)}T18:00`, at: at(CHANGE, '16:00') },
    { local: `${date(CHANGE + 7 * DAY)}T18:00`, at: at(CHANGE + 7 * DAY, '16:00') },
  ]);
});

it('runs a six-week campaign across a DST change: every slot published once at 18:00 Berlin time', {
  timeout: 180_000,
}, async () => {
  const user = await signUp(services.apiUrl!);
  const body = campaignBody({
    cadence: {
      kind: 'weekly',
      slots: [
        { day: 'mon', time: '18:00' },
        { day: 'thu', time: '18:00' },
      ],
    },
    timeZone: 'Europe/Berlin',
    // Three weeks each side of the change: from the Monday 20 days before to the Sunday 21 after.
    startDate: date(CHANGE - 20 * DAY),
    end: { until: date(CHANGE + 21 * DAY) },
    leadMinutes: 120,
  });
  const created = await postJson(user.api, '/api/v1/campaigns', body, { 'Idempotency-Key': 'six-weeks' });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  expect(created.body.nextSlots[0]).toMatchObject({
    slot: `${date(CHANGE - 20 * DAY)}T18:00`,
    at: at(CHANGE - 20 * DAY, '17:00'),
  });
  const id = created.body.id as string;
  const handle = env.client.workflow.getHandle(`campaign-${id}`);
  const firstRun = (await handle.describe()).runId;

  const result = await finish(handle);
  expect(result.status).toBe('completed');
  expect(result.counts).toEqual({ created: 12, missed: 0, skipped: 0, failed: 0 });
  // Continue-as-new every few slots: several runs, each history small.
  expect(result.runs).toBeGreaterThanOrEqual(3);
  const first = env.client.workflow.getHandle(`campaign-${id}`, firstRun);
  const firstEvents = (await first.fetchHistory()).events ?? [];
  expect(firstEvents.some((e) => e.workflowExecutionContinuedAsNewEventAttributes)).toBe(true);
  expect(firstEvents.length).toBeLessThan(150);
  expect(((await handle.fetchHistory()).events ?? []).length).toBeLessThan(150);
  await captureHistory(first, 'campaign-v1-six-weeks-first-run');
  await captureHistory(handle, 'campaign-v1-six-weeks-last-run');

  const slots = await slotsOf(id);
  expect(slots).toHaveLength(12);
  expect(new Set(slots.map((s) => s.postId)).size).toBe(12);
  for (const s of slots) {
    expect(s.outcome).toBe('created');
    expect(localTimeOf(s.publishAt!.getTime(), 'Europe/Berlin')).toBe(s.slot);
    expect(s.slot.endsWith('T18:00')).toBe(true);
    // 17:00 UTC in winter time, 16:00 UTC in summer time.
    expect(s.publishAt!.getUTCHours()).toBe(s.slot < date(CHANGE) ? 17 : 16);
    const pipeline = env.client.workflow.getHandle(`post-${s.postId}`);
    expect((await pipeline.result()).status).toBe('published');
  }
  // After the change, by the pipeline's own clock: published at the slot, not an hour off.
  const afterChange = slots.find((s) => s.slot === `${date(CHANGE + DAY)}T18:00`)!;
  const events = (await env.client.workflow.getHandle(`post-${afterChange.postId}`).fetchHistory()).events ?? [];
  const publish = events.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'publishTarget');
  const publishedAt = Number(publish!.eventTime!.seconds) * 1000;
  expect(publishedAt).toBeGreaterThanOrEqual(Date.parse(at(CHANGE + DAY, '16:00')) - 1000);
  expect(publishedAt).toBeLessThan(Date.parse(at(CHANGE + DAY, '16:10')));

  // A repeat of the create answers the same campaign; its posts are the only ones.
  const repeat = await postJson(user.api, '/api/v1/campaigns', body, { 'Idempotency-Key': 'six-weeks' });
  expect(repeat.status).toBe(200);
  expect(repeat.body.id).toBe(id);
  const view = await call(user.api, `/api/v1/campaigns/${id}`);
  expect(view.body.summary).toMatchObject({ published: 12, failed: 0, awaitingReview: 0 });
});
