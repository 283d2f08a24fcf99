import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, afterEach, beforeAll, expect, inject, it } from 'vitest';
import { type Services, startServices } from '../composition/services.js';
import { connections } from '../db/schema.js';
import { formatInstant } from '../domain/pipeline-summary.js';
import { EMULATOR_MODEL, type OpenAiEmulator, startOpenAiEmulator } from '../emulators/openai.js';
import { startTikTokEmulator, type TikTokEmulator } from '../emulators/tiktok.js';
import { loadConfig } from '../runtime/config.js';
import { createLogger } from '../runtime/logger.js';
import { requireBinary } from '../runtime/temporal-binary.js';
import { sealCredentials } from '../use-cases/connections/credentials.js';
import { call, type Json, postJson, signUp, type TestUser } from './helpers/api.js';
import { campaignBody, campaignSlotsOf, HOUR } from './helpers/campaign-system.js';
import { createTestDatabase } from './helpers/database.js';
import { until } from './helpers/until.js';

// The posts a campaign makes for its slots, on a time-skipping test server of the file's own (see
// tests/helpers/campaign-system.ts). The installation's TikTok app passed audit, and drafts with an
// AI endpoint (the emulator), which makes a brief's image. The worker runs
// apart from the API with one budget lowered since the campaigns were made (TikTok inbox drafts:
// none a day), as after a change of settings and a restart.

const TASK_QUEUE = 'campaign-slot-posts-ts';
const DAY = 24 * HOUR;
const MINUTE = 60_000;

let env: TestWorkflowEnvironment;
let database: Awaited<ReturnType<typeof createTestDatabase>>;
let dataDir: string;
let tiktok: TikTokEmulator;
let openai: OpenAiEmulator;
let api: Services;
let worker: Services;

beforeAll(async () => {
  env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: requireBinary('temporal-test-server') } },
  });
  database = await createTestDatabase();
  dataDir = await mkdtemp(join(tmpdir(), 'autopostpanel-slot-posts-'));
  tiktok = await startTikTokEmulator();
  openai = await startOpenAiEmulator();
  const settings = {
    ...tiktok.env,
    OPENAI_BASE_URL: openai.url,
    OPENAI_API_KEY: 'sk-test',
    OPENAI_MODEL: EMULATOR_MODEL,
    DATA_DIR: dataDir,
    DATABASE_URL: database.url,
    TEMPORAL_TASK_QUEUE: TASK_QUEUE,
    TIKTOK_APP_AUDITED: 'true',
  };
  const logger = createLogger(process.env.TEST_LOG_LEVEL ?? 'silent');
  api = await startServices({
    config: loadConfig(settings),
    logger,
    temporalAddress: env.address,
    worker: false,
    api: true,
    port: 0,
  });
  worker = await startServices({
    config: loadConfig({ ...settings, TIKTOK_INBOX_SHARES_PER_DAY: '0' }),
    logger,
    temporalAddress: env.address,
    worker: true,
    api: false,
    workflowBundlePath: inject('workflowBundlePath'),
  });
}, 120_000);

afterAll(async () => {
  await worker?.stop();
  await api?.stop();
  await env?.teardown();
  await tiktok?.stop();
  await openai?.stop();
  await database?.drop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

const db = () => api.database.db;
const slotsOf = (campaignId: string) => campaignSlotsOf(db(), campaignId);
/**
 * A cancelled campaign's run ends without waiting on the clock (it cancels its posts and returns).
 * Polled, not awaited: a post the cancel missed would keep the server from skipping to the end.
 */
const ended = (campaignId: string) =>
  until('the campaign ended', async () => {
    const { status } = await env.client.workflow.getHandle(`campaign-${campaignId}`).describe();
    return status.name !== 'RUNNING';
  });
const utcDate = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** Campaigns a test made and did not cancel: one that failed half-way leaves none running into the next. */
const running = new Map<string, TestUser>();

async function createCampaign(user: TestUser, settings: Record<string, unknown>): Promise<Json> {
  const created = await postJson(user.api, '/api/v1/campaigns', campaignBody(settings));
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  running.set(created.body.id, user);
  return created.body;
}

afterEach(async () => {
  for (const [id, user] of running) {
    await postJson(user.api, `/api/v1/campaigns/${id}/cancel`, {});
    await ended(id);
  }
  running.clear();
});

/** On to the next 12:00 UTC (or stays there), so slots are placed the same whatever the hour the suite runs. */
async function toNoonUtc(): Promise<number> {
  const toNoon = (12 * HOUR - ((await env.currentTimeMs()) % DAY) + DAY) % DAY;
  if (toNoon > 0) await env.sleep(toNoon);
  return env.currentTimeMs();
}

/** The post made for a slot, once its slot is reached. */
async function slotPost(user: TestUser, campaignId: string, slot: string): Promise<Json> {
  const row = await until(`the ${slot} slot reached`, async () =>
    (await slotsOf(campaignId)).find((r) => r.slot === slot),
  );
  expect(row.outcome).toBe('created');
  return (await call(user.api, `/api/v1/posts/${row.postId}`)).body;
}

/** The post once drafting is over: awaiting review, or whatever came of a review that never opened. */
function drafted(user: TestUser, postId: string): Promise<Json> {
  return until('the drafts written', async () => {
    const post = (await call(user.api, `/api/v1/posts/${postId}`)).body;
    return post.status !== 'generating' && post;
  });
}

/** Why the campaign's slot posts could not be made, from its history: the words a failed slot is recorded with. */
async function slotFailures(campaignId: string): Promise<string> {
  const history = await env.client.workflow.getHandle(`campaign-${campaignId}`).fetchHistory();
  return (history.events ?? []).flatMap((e) => e.activityTaskFailedEventAttributes?.failure?.message ?? []).join('\n');
}

async function cancelCampaign(user: TestUser, campaignId: string) {
  const cancelled = await postJson(user.api, `/api/v1/campaigns/${campaignId}/cancel`, {});
  expect(cancelled.status, JSON.stringify(cancelled.body)).toBe(200);
  running.delete(campaignId);
  await ended(campaignId);
}

async function tiktokConnection(user: TestUser): Promise<string> {
  const id = randomUUID();
  await db()
    .insert(connections)
    .values({
      id,
      ownerId: user.id,
      platform: 'tiktok',
      platformAccountId: `tt-${id}`,
      displayName: 'Emulated Creator',
      grantKey: `tiktok:${id}`,
      ...sealCredentials(api.apiDeps!.connections.vault, id, {
        accessToken: 'act.emulated',
        accessTokenExpiresAt: null,
        refreshToken: null,
        refreshTokenExpiresAt: null,
        userToken: null,
        userTokenExpiresAt: null,
        scopes: ['user.info.basic', 'video.publish', 'video.upload'],
        issuedAt: new Date(await env.currentTimeMs()),
      }),
    });
  return id;
}

it('a slot post is checked with the installation settings the API uses: audited TikTok, publishing budgets', {
  timeout: 120_000,
}, async () => {
  const user = await signUp(api.apiUrl!);
  const connectionId = await tiktokConnection(user);
  const noon = await toNoonUtc();
  const common = {
    brief: { topic: 'Our product launch', generateImage: true },
    cadence: { kind: 'rrule', rule: 'FREQ=DAILY;BYHOUR=9' },
    timeZone: 'UTC',
    startDate: utcDate(noon + DAY),
    end: { count: 2 },
    leadMinutes: 30,
    review: { mode: 'manual', onExpiry: 'cancel' },
  };
  // Public: what an audited app may post, and what creating the campaign accepted.
  const open = await createCampaign(user, {
    ...common,
    targets: [{ type: 'tiktok', connectionId, privacyLevel: 'PUBLIC_TO_EVERYONE' }],
  });
  // Inbox drafts: the budget the worker has now lets none through, which the API refuses a post for.
  const inbox = await createCampaign(user, { ...common, targets: [{ type: 'tiktok', connectionId, mode: 'inbox' }] });

  await env.sleep(DAY - 3 * HOUR - 15 * MINUTE);
  const slot = `${utcDate(noon + DAY)}T09:00`;
  for (const campaign of [open, inbox]) {
    await until('the slot reached', async () => (await slotsOf(campaign.id)).some((r) => r.slot === slot));
  }
  // Not refused as unaudited, nor for want of a picture: the image the AI will make counts.
  expect(await slotFailures(open.id)).toBe('');
  const post = await drafted(user, (await slotPost(user, open.id, slot)).id);
  expect(post.status, JSON.stringify(post.error)).toBe('awaiting_review');
  expect(post.media).toHaveLength(1);
  expect(post.media[0]).toMatchObject({ mimeType: 'image/png', width: 1024, height: 1024 });
  expect((await slotsOf(inbox.id)).find((r) => r.slot === slot)).toMatchObject({ outcome: 'failed', postId: null });
  expect(await slotFailures(inbox.id)).toMatch(/TikTok inbox drafts: .*budget of 0/);

  await cancelCampaign(user, open.id);
  await cancelCampaign(user, inbox.id);
});

it('a slot post reads in the campaign time zone, in its view and its workflow summary', {
  timeout: 120_000,
}, async () => {
  const user = await signUp(api.apiUrl!);
  const noon = await toNoonUtc();
  const created = await createCampaign(user, {
    cadence: { kind: 'rrule', rule: 'FREQ=DAILY;BYHOUR=18' },
    timeZone: 'Europe/Berlin',
    startDate: utcDate(noon + DAY),
    end: { count: 2 },
    leadMinutes: 60,
  });
  const first = created.nextSlots[0] as { slot: string; at: string };
  await env.sleep(Date.parse(first.at) - 30 * MINUTE - (await env.currentTimeMs()));
  const post = await slotPost(user, created.id, first.slot);
  expect(post.timeZone).toBe('Europe/Berlin');
  expect(Date.parse(post.publishAt)).toBeLessThan(Date.parse(first.at) + MINUTE);
  const details = await env.client.workflow.getHandle(`post-${post.id}`).describe();
  expect(await details.staticDetails()).toContain(`**Publish:** ${formatInstant(first.at, 'Europe/Berlin')}`);
  await cancelCampaign(user, created.id);
});

it('with no lead time, a reviewed slot post still gets a review before its deadline, and publishes once approved', {
  timeout: 120_000,
}, async () => {
  const user = await signUp(api.apiUrl!);
  const noon = await toNoonUtc();
  const created = await createCampaign(user, {
    cadence: { kind: 'rrule', rule: 'FREQ=DAILY;BYHOUR=9' },
    timeZone: 'UTC',
    startDate: utcDate(noon + DAY),
    end: { count: 2 },
    leadMinutes: 0,
    review: { mode: 'manual', onExpiry: 'cancel' },
  });
  const first = created.nextSlots[0] as { slot: string; at: string };
  await env.sleep(Date.parse(first.at) + MINUTE - (await env.currentTimeMs()));
  const made = await slotPost(user, created.id, first.slot);
  const post = await drafted(user, made.id);
  // Due at the slot it would close as it opened, and the slot be cancelled unseen.
  expect(post.status).toBe('awaiting_review');
  expect(Date.parse(post.review.deadline)).toBeGreaterThanOrEqual(Date.parse(first.at) + 15 * MINUTE);
  // Its time stays the slot's: an approval before the deadline publishes then, not at the deadline.
  expect(Date.parse(post.publishAt)).toBeLessThan(Date.parse(first.at) + MINUTE);

  const approved = await postJson(user.api, `/api/v1/posts/${post.id}/review/approve`, {});
  expect(approved.status, JSON.stringify(approved.body)).toBe(200);
  // Polled, not awaited: waiting on a result would let the server skip on to the next slot.
  const published = await until('the post published', async () => {
    const view = (await call(user.api, `/api/v1/posts/${post.id}`)).body;
    return view.status === 'published' && view;
  });
  expect(Date.parse(published.targets[0].publishedAt)).toBeLessThan(Date.parse(post.review.deadline));
  await cancelCampaign(user, created.id);
});

it('a slot reached late gets a review before its deadline: an unreviewed post is not approved unseen', {
  timeout: 120_000,
}, async () => {
  const user = await signUp(api.apiUrl!);
  const noon = await toNoonUtc();
  const created = await createCampaign(user, {
    cadence: { kind: 'rrule', rule: 'FREQ=DAILY;BYHOUR=9' },
    timeZone: 'UTC',
    startDate: utcDate(noon + DAY),
    end: { count: 2 },
    leadMinutes: 30,
    review: { mode: 'manual', onExpiry: 'approve' },
    catchUp: { mode: 'late', windowMinutes: 6 * 60 },
  });
  const id = created.id as string;
  const first = created.nextSlots[0] as { slot: string; at: string };
  expect((await postJson(user.api, `/api/v1/campaigns/${id}/pause`, {})).status).toBe(200);
  // Resumed two hours after the slot: within the catch-up window, so it is made now.
  await env.sleep(Date.parse(first.at) + 2 * HOUR - (await env.currentTimeMs()));
  const resumedAt = await env.currentTimeMs();
  expect((await postJson(user.api, `/api/v1/campaigns/${id}/resume`, {})).status).toBe(200);
  const made = await slotPost(user, id, first.slot);
  const post = await drafted(user, made.id);
  expect(post.status).toBe('awaiting_review');
  expect(Date.parse(post.review.deadline)).toBeGreaterThanOrEqual(resumedAt + 15 * MINUTE);
  // Due now (late), published once approved, or approved unseen only at the deadline.
  expect(Date.parse(post.publishAt)).toBeLessThan(Date.parse(post.review.deadline));
  // The campaign's cancel stops it: its slot's time has passed, but the post has not published.
  await cancelCampaign(user, id);
  expect((await call(user.api, `/api/v1/posts/${post.id}`)).body.status).toBe('cancelled');
});

it('a campaign cancel stops a slot post rescheduled past it, though its slot time has passed', {
  timeout: 120_000,
}, async () => {
  const user = await signUp(api.apiUrl!);
  const noon = await toNoonUtc();
  const created = await createCampaign(user, {
    cadence: { kind: 'rrule', rule: 'FREQ=DAILY;BYHOUR=18' },
    timeZone: 'UTC',
    startDate: utcDate(noon + DAY),
    end: { count: 2 },
    leadMinutes: 60,
  });
  const first = created.nextSlots[0] as { slot: string; at: string };
  await env.sleep(Date.parse(first.at) - 30 * MINUTE - (await env.currentTimeMs()));
  const post = await slotPost(user, created.id, first.slot);
  const nextWeek = new Date(Date.parse(first.at) + 7 * DAY).toISOString();
  const moved = await postJson(user.api, `/api/v1/posts/${post.id}/reschedule`, { publishAt: nextWeek });
  expect(moved.status, JSON.stringify(moved.body)).toBe(200);

  // At 19:00, an hour past the slot's own time.
  await env.sleep(90 * MINUTE);
  await cancelCampaign(user, created.id);
  const after = (await call(user.api, `/api/v1/posts/${post.id}`)).body;
  expect(after.status).toBe('cancelled');
  expect(after.error).toMatch(/campaign was cancelled/);
});
