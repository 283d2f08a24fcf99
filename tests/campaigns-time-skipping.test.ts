import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { type Services, startServices } from '../composition/services.js';
import { campaignSlots, posts } from '../db/schema.js';
import { localTimeOf } from '../domain/campaign-schedule.js';
import { loadConfig } from '../runtime/config.js';
import { createLogger } from '../runtime/logger.js';
import { requireBinary } from '../runtime/temporal-binary.js';
import { call, postJson, signUp } from './helpers/api.js';
import { createTestDatabase } from './helpers/database.js';
import { captureHistory } from './helpers/histories.js';

// Campaigns of weeks, proven in seconds: the time-skipping test server jumps over each campaign's
// sleeps while the real worker creates and publishes every slot's post against PostgreSQL.
let env: TestWorkflowEnvironment;
let services: Services;
let dataDir: string;
let databaseUrl: string;
let dropDatabase: () => Promise<void>;

const HOUR = 3_600_000;

function start() {
  return startServices({
    config: loadConfig({ DATA_DIR: dataDir, DATABASE_URL: databaseUrl, TEMPORAL_TASK_QUEUE: 'campaigns-ts' }),
    logger: createLogger(process.env.TEST_LOG_LEVEL ?? 'silent'),
    temporalAddress: env.address,
    worker: true,
    api: true,
    port: 0,
    workflowBundlePath: inject('workflowBundlePath'),
  });
}

beforeAll(async () => {
  env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: requireBinary('temporal-test-server') } },
  });
  const database = await createTestDatabase();
  dropDatabase = database.drop;
  databaseUrl = database.url;
  dataDir = await mkdtemp(join(tmpdir(), 'autopostpanel-campaigns-'));
  services = await start();
});

afterAll(async () => {
  await services?.stop();
  await env?.teardown();
  await dropDatabase?.();
  await rm(dataDir, { recursive: true, force: true });
});

const db = () => services.database.db;

async function slotsOf(campaignId: string) {
  return db()
    .select({
      slot: campaignSlots.slotLocal,
      outcome: campaignSlots.outcome,
      postId: campaignSlots.postId,
      publishAt: posts.publishAt,
      status: posts.status,
    })
    .from(campaignSlots)
    .leftJoin(posts, eq(posts.id, campaignSlots.postId))
    .where(eq(campaignSlots.campaignId, campaignId))
    .orderBy(campaignSlots.slotLocal);
}

/**
 * Skips the server's clock until a campaign closes. Waiting on result() alone stops skipping once
 * a run has continued as new, so time is moved on explicitly, half a day at a time.
 */
async function finish(handle: ReturnType<typeof env.client.workflow.getHandle>) {
  for (let i = 0; i < 200; i++) {
    const { status } = await handle.describe();
    if (status.name !== 'RUNNING') return handle.result();
    // To just after the next slot (its post publishes then), or half a day when none is planned.
    const progress = await handle.query<{ nextSlots: { at: string }[] }>('campaignProgress').catch(() => undefined);
    const next = progress?.nextSlots[0] ? Date.parse(progress.nextSlots[0].at) : undefined;
    const now = await env.currentTimeMs();
    await env.sleep(next ? Math.max(60_000, next - now + 60_000) : 12 * HOUR);
  }
  throw new Error('the campaign did not finish');
}

function campaignBody(overrides: Record<string, unknown>) {
  return {
    name: 'Launch series',
    brief: { topic: 'Our product launch', tone: 'upbeat' },
    targets: [{ type: 'local_export' }],
    review: { mode: 'auto' },
    ...overrides,
  };
}

it('refuses a cadence that cannot run, naming the field, and previews slots in local time', async () => {
  const user = await signUp(services.apiUrl!);
  const bad = await postJson(
    user.api,
    '/api/v1/campaigns',
    campaignBody({
      cadence: { kind: 'rrule', rule: 'FREQ=HOURLY;BYHOUR=9' },
      timeZone: 'Europe/Berlin',
      startDate: '2027-03-01',
      end: { count: 3 },
    }),
  );
  expect(bad.status).toBe(422);
  expect(bad.body.errors).toEqual([expect.objectContaining({ field: 'cadence.rule' })]);
  const preview = await postJson(user.api, '/api/v1/campaigns/preview', {
    cadence: { kind: 'weekly', slots: [{ day: 'sun', time: '18:00' }] },
    timeZone: 'Europe/Berlin',
    startDate: '2027-03-20',
    limit: 3,
  });
  expect(preview.status, JSON.stringify(preview.body)).toBe(200);
  expect(preview.body.slots).toEqual([
    { local: '2027-03-21T18:00', at: '2027-03-21T17:00:00.000Z' },
    { local: '2027-03-28T18:00', at: '2027-03-28T16:00:00.000Z' },
    { local: '2027-04-04T18:00', at: '2027-04-04T16:00:00.000Z' },
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
    // Clocks go forward on 2027-03-28: three weeks each side.
    startDate: '2027-03-08',
    end: { until: '2027-04-18' },
    leadMinutes: 120,
  });
  const created = await postJson(user.api, '/api/v1/campaigns', body, { 'Idempotency-Key': 'six-weeks' });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  expect(created.body.nextSlots[0]).toMatchObject({ slot: '2027-03-08T18:00', at: '2027-03-08T17:00:00.000Z' });
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
    expect(s.publishAt!.getUTCHours()).toBe(s.slot < '2027-03-28' ? 17 : 16);
    const pipeline = env.client.workflow.getHandle(`post-${s.postId}`);
    expect((await pipeline.result()).status).toBe('published');
  }
  // After the change, by the pipeline's own clock: published at the slot, not an hour off.
  const afterChange = slots.find((s) => s.slot === '2027-03-29T18:00')!;
  const events = (await env.client.workflow.getHandle(`post-${afterChange.postId}`).fetchHistory()).events ?? [];
  const publish = events.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'publishTarget');
  const publishedAt = Number(publish!.eventTime!.seconds) * 1000;
  expect(publishedAt).toBeGreaterThanOrEqual(Date.parse('2027-03-29T16:00:00Z') - 1000);
  expect(publishedAt).toBeLessThan(Date.parse('2027-03-29T16:10:00Z'));

  // A repeat of the create answers the same campaign; its posts are the only ones.
  const repeat = await postJson(user.api, '/api/v1/campaigns', body, { 'Idempotency-Key': 'six-weeks' });
  expect(repeat.status).toBe(200);
  expect(repeat.body.id).toBe(id);
  const view = await call(user.api, `/api/v1/campaigns/${id}`);
  expect(view.body.summary).toMatchObject({ published: 12, failed: 0, awaitingReview: 0 });
});
