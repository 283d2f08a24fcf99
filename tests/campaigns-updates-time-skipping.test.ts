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

// Campaign Updates on the time-skipping test server (its own server: see the six-week test's file).
// Campaigns of weeks, proven in seconds: the time-skipping test server jumps over each campaign's
// sleeps while the real worker creates and publishes every slot's post against PostgreSQL.
let env: TestWorkflowEnvironment;
let services: Services;
let dataDir: string;
let databaseUrl: string;
let dropDatabase: () => Promise<void>;

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

function start() {
  return startServices({
    config: loadConfig({ DATA_DIR: dataDir, DATABASE_URL: databaseUrl, TEMPORAL_TASK_QUEUE: 'campaign-updates-ts' }),
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
  dataDir = await mkdtemp(join(tmpdir(), 'autopostpanel-campaign-updates-'));
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

async function until<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
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

const utcDate = (ms: number) => new Date(ms).toISOString().slice(0, 10);

function campaignBody(overrides: Record<string, unknown>) {
  return {
    name: 'Launch series',
    brief: { topic: 'Our product launch', tone: 'upbeat' },
    targets: [{ type: 'local_export' }],
    review: { mode: 'auto' },
    ...overrides,
  };
}

it('pause, resume, a mid-way cadence edit, skip, move and cancel act on future slots only', {
  timeout: 180_000,
}, async () => {
  const user = await signUp(services.apiUrl!);
  const now = await env.currentTimeMs();
  const created = await postJson(
    user.api,
    '/api/v1/campaigns',
    campaignBody({
      cadence: { kind: 'rrule', rule: 'FREQ=DAILY;BYHOUR=9' },
      timeZone: 'UTC',
      startDate: utcDate(now + DAY),
      end: { count: 30 },
      leadMinutes: 30,
    }),
  );
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const id = created.body.id as string;
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
    expect(item.local.slice(11)).toBe('16:00');
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
