import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { NativeConnection, Worker } from '@temporalio/worker';
import { eq } from 'drizzle-orm';
import { afterEach, beforeEach, expect, inject, it } from 'vitest';
import { createActivities } from '../activities/index.js';
import { createDraftGenerator } from '../composition/draft-generator.js';
import { type Services, startServices } from '../composition/services.js';
import { posts } from '../db/schema.js';
import { createPublishers } from '../platforms/registry.js';
import { type Config, loadConfig } from '../runtime/config.js';
import { createLogger } from '../runtime/logger.js';
import { requireBinary } from '../runtime/temporal-binary.js';
import { MediaStore } from '../storage/media-store.js';
import { postJson, signUp } from './helpers/api.js';
import { campaignBody, campaignSlotsOf, finishCampaign, HOUR } from './helpers/campaign-system.js';
import { createTestDatabase } from './helpers/database.js';
import { until } from './helpers/until.js';

// An outage on the time-skipping test server: the worker stops (the API and Temporal stay up), the
// server's clock moves on past slots, and a new worker comes back. What the campaign does with the
// slots it slept through is its catch-up policy. The server is the file's own (see
// tests/helpers/campaign-system.ts for why files must not share one), here one per test.
//
// The worker is built here rather than by startServices for one reason: the test server sends a
// workflow's tasks to the sticky queue of the worker that last ran it and, unlike the real server,
// never gives up on a sticky queue whose worker is gone, so a restarted worker would never hear of
// the campaign again. Without a workflow cache there is no sticky queue; every task replays the
// history, which is what a worker back from an outage does anyway.

const TASK_QUEUE = 'campaign-catch-up-ts';
const DAY = 24 * HOUR;

let env: TestWorkflowEnvironment;
let database: Awaited<ReturnType<typeof createTestDatabase>>;
let dataDir: string;
let config: Config;
let api: Services;
let worker: { stop(): Promise<void> } | undefined;

async function startWorker() {
  const connection = await NativeConnection.connect({ address: env.address });
  const logger = createLogger(process.env.TEST_LOG_LEVEL ?? 'silent');
  const running = await Worker.create({
    connection,
    taskQueue: TASK_QUEUE,
    workflowBundle: { codePath: inject('workflowBundlePath') },
    maxCachedWorkflows: 0,
    activities: createActivities({
      db: api.database.db,
      store: new MediaStore(dataDir),
      logger,
      publishers: createPublishers({ dataDir }),
      drafts: createDraftGenerator(config),
    }),
  });
  const done = running.run();
  return {
    async stop() {
      running.shutdown();
      await done;
      await connection.close();
    },
  };
}

// A server per test: one test's outage leaves the clock locks of the next to chance otherwise.
beforeEach(async () => {
  env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: requireBinary('temporal-test-server') } },
  });
  database = await createTestDatabase();
  dataDir = await mkdtemp(join(tmpdir(), 'autopostpanel-catch-up-'));
  config = loadConfig({ DATA_DIR: dataDir, DATABASE_URL: database.url, TEMPORAL_TASK_QUEUE: TASK_QUEUE });
  api = await startServices({
    config,
    logger: createLogger(process.env.TEST_LOG_LEVEL ?? 'silent'),
    temporalAddress: env.address,
    port: 0,
    worker: false,
    api: true,
  });
  worker = await startWorker();
});
afterEach(async () => {
  await worker?.stop();
  worker = undefined;
  await api?.stop();
  await env?.teardown();
  await database?.drop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

const slotsOf = (campaignId: string) => campaignSlotsOf(api.database.db, campaignId);
const finish = (campaignId: string) =>
  finishCampaign(env, env.client.workflow.getHandle(`campaign-${campaignId}`), 100);

const published = (postId: string) => env.client.workflow.getHandle(`post-${postId}`).result();

/**
 * Down for `ms` of the server's clock: the worker stops, time passes, a new worker starts.
 *
 * The test server holds its clock while a workflow task waits for a worker (a lock per scheduled
 * task, on top of the environment's own), which is what keeps time from skipping past work. So
 * the clock is moved by hand: the environment's lock is released so the campaign's timer fires
 * (`wakeAt`) and its task waits, holding a lock of its own; a sleep releases that one to the
 * outage's end and takes it back; one more lock stands in for the environment's, since the task's
 * lock goes when the returning worker starts the task.
 */
async function outage(ms: number, wakeAt: number): Promise<{ downAt: number; upAt: number }> {
  const test = env.connection.testService!;
  await worker!.stop();
  worker = undefined;
  const downAt = await env.currentTimeMs();
  expect(wakeAt).toBeGreaterThan(downAt);
  expect(wakeAt).toBeLessThan(downAt + ms);
  await test.unlockTimeSkipping({});
  await until('the campaign to wake with no worker', async () => (await env.currentTimeMs()) >= wakeAt);
  await env.sleep(downAt + ms - (await env.currentTimeMs()));
  await test.lockTimeSkipping({});
  const upAt = await env.currentTimeMs();
  worker = await startWorker();
  return { downAt, upAt };
}

/** Creates a daily campaign starting the server's tomorrow (UTC) and returns its id and first slot. */
async function createCampaign(user: Awaited<ReturnType<typeof signUp>>, overrides: Record<string, unknown>) {
  const now = await env.currentTimeMs();
  const created = await postJson(
    user.api,
    '/api/v1/campaigns',
    campaignBody({ timeZone: 'UTC', startDate: new Date(now + DAY).toISOString().slice(0, 10), ...overrides }),
  );
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return { id: created.body.id as string, first: created.body.nextSlots[0] as { slot: string; at: string } };
}

/** Lets the first slot publish, then returns once its post's pipeline has ended. */
async function firstSlotPublished(id: string, first: { at: string }) {
  await env.sleep(Date.parse(first.at) + HOUR - (await env.currentTimeMs()));
  const [row] = await until('the first slot created', async () => {
    const rows = await slotsOf(id);
    return rows.length === 1 && rows;
  });
  expect(row!.outcome).toBe('created');
  // Polled, not awaited: waiting on a result would let the server skip on to the next timer. The
  // pipeline must have closed, not just published, so that nothing but the campaign's timer is left.
  const pipeline = env.client.workflow.getHandle(`post-${row!.postId}`);
  await until('the first pipeline closed', async () => (await pipeline.describe()).status.name === 'COMPLETED');
  const [post] = await api.database.db.select({ status: posts.status }).from(posts).where(eq(posts.id, row!.postId!));
  expect(post?.status).toBe('published');
}

it('skip: slots whose time passed while the worker was down are missed, later ones run on time', {
  timeout: 180_000,
}, async () => {
  const user = await signUp(api.apiUrl!);
  const { id, first } = await createCampaign(user, {
    cadence: { kind: 'rrule', rule: 'FREQ=DAILY;BYHOUR=9' },
    end: { count: 5 },
    leadMinutes: 30,
    catchUp: { mode: 'skip' },
  });
  await firstSlotPublished(id, first);

  // Down from 10:00 on day 1 to 10:00 on day 3: the slots of days 2 (a day late) and 3 (an hour late) pass.
  const { upAt } = await outage(2 * DAY, Date.parse(first.at) + DAY - 30 * 60_000);
  expect(upAt - Date.parse(first.at)).toBeGreaterThanOrEqual(2 * DAY);

  const result = await finish(id);
  expect(result.status).toBe('completed');
  expect(result.counts).toEqual({ created: 3, missed: 2, skipped: 0, failed: 0 });
  const slots = await slotsOf(id);
  expect(slots.map((s) => [s.slot.slice(11), s.outcome])).toEqual([
    ['09:00', 'created'],
    ['09:00', 'missed'],
    ['09:00', 'missed'],
    ['09:00', 'created'],
    ['09:00', 'created'],
  ]);
  for (const missed of slots.filter((s) => s.outcome === 'missed')) {
    expect(missed.postId).toBeNull();
    expect(Date.parse(`${missed.slot}:00Z`)).toBeLessThan(upAt);
  }
  // After the outage: on their own time, not at the moment the worker came back.
  for (const made of slots.filter((s) => s.outcome === 'created')) {
    expect(made.publishAt!.toISOString()).toBe(`${made.slot}:00.000Z`);
    expect((await published(made.postId!)).status).toBe('published');
  }
  expect(new Set(slots.flatMap((s) => (s.postId ? [s.postId] : []))).size).toBe(3);
});

it('late: a slot passed within the window is published at once, one passed longer ago is missed', {
  timeout: 180_000,
}, async () => {
  const user = await signUp(api.apiUrl!);
  const { id, first } = await createCampaign(user, {
    cadence: { kind: 'rrule', rule: 'FREQ=DAILY;BYHOUR=9,15' },
    end: { count: 6 },
    leadMinutes: 30,
    catchUp: { mode: 'late', windowMinutes: 6 * 60 },
  });
  expect(first.slot.slice(11)).toBe('09:00');
  await firstSlotPublished(id, first);

  // Down from 10:00 on day 1 to 12:00 on day 2: day 1's 15:00 is 21 h late (beyond the 6 h window),
  // day 2's 09:00 three hours late (within it).
  const { upAt } = await outage(26 * HOUR, Date.parse(first.at) + 6 * HOUR - 30 * 60_000);
  const day = first.slot.slice(0, 10);
  const nextDay = new Date(Date.parse(first.at) + DAY).toISOString().slice(0, 10);

  const result = await finish(id);
  expect(result.status).toBe('completed');
  expect(result.counts).toEqual({ created: 5, missed: 1, skipped: 0, failed: 0 });
  const slots = await slotsOf(id);
  expect(slots.map((s) => s.outcome)).toEqual(['created', 'missed', 'created', 'created', 'created', 'created']);
  expect(slots[1]).toMatchObject({ slot: `${day}T15:00`, outcome: 'missed', postId: null });

  // Late within the window: published on the worker's return, not at the hour already gone.
  const late = slots[2]!;
  expect(late.slot).toBe(`${nextDay}T09:00`);
  expect(late.publishAt!.getTime()).toBeGreaterThanOrEqual(upAt);
  expect(late.publishAt!.getTime()).toBeLessThan(upAt + 10 * 60_000);
  const lateEnd = await published(late.postId!);
  expect(lateEnd.status).toBe('published');

  for (const made of [slots[0]!, ...slots.slice(3)]) {
    expect(made.publishAt!.toISOString()).toBe(`${made.slot}:00.000Z`);
    expect((await published(made.postId!)).status).toBe('published');
  }
  expect(new Set(slots.flatMap((s) => (s.postId ? [s.postId] : []))).size).toBe(5);
});
