import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { eq } from 'drizzle-orm';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { posts } from '../db/schema.js';
import { progressQuery } from '../workflows/messages.js';
import {
  call,
  expectProblem,
  isFinished,
  type Json,
  postJson,
  signUp,
  type TestUser,
  uploadPhoto,
  waitForPost,
} from './helpers/api.js';
import { campaignBody } from './helpers/campaign-system.js';
import { startTestApp, type TestApp } from './helpers/harness.js';
import { until } from './helpers/until.js';

// Deleting a library item while something may still publish it: a post in its retry window, a
// post being created at that moment, a campaign or post whose brief draws on it.

let app: TestApp;
let user: TestUser;
let sql: postgres.Sql;
/** Workflows a test leaves waiting (a campaign's slots, a retry window) on the shared dev server. */
const leftRunning: string[] = [];

beforeAll(async () => {
  // The race needs a second connection holding a row lock, and PostgreSQL's concurrent transactions.
  app = await startTestApp({ database: 'postgres' });
  sql = postgres(app.database!.url, { max: 2, onnotice: () => {} });
  user = await signUp(app.baseUrl);
});
afterAll(async () => {
  for (const id of leftRunning) {
    await app.temporal.workflow
      .getHandle(id)
      .terminate('test over')
      .catch(() => {});
  }
  await sql?.end();
  await app?.stop();
});

/** A photo of its own (the same bytes again would be the same library item). */
let photos = 0;
const newPhoto = () => uploadPhoto(user.api, 1200 + ++photos, 800);
const deleteMedia = (id: string) => call(user.api, `/api/v1/media/${id}`, { method: 'DELETE' });
const handleOf = (post: Json) => app.temporal.workflow.getHandle(post.workflow.id);

/** A photo used by one post that has published: the delete passes its check and removes its renditions. */
async function usedOnceThenEnded(): Promise<string> {
  const mediaId = await newPhoto();
  const first = await postJson(user.api, '/api/v1/posts', {
    caption: 'Earlier',
    mediaIds: [mediaId],
    targets: [{ type: 'local_export' }],
  });
  expect((await waitForPost(user.api, first.body.id, isFinished)).status).toBe('published');
  return mediaId;
}

/**
 * Deletes the media while a stalled writer holds its renditions, so the delete stops part-way
 * through holding the media row, and creates a post meanwhile: it answers at once or waits on
 * `table` until the delete is done.
 */
async function createDuringStalledDelete(mediaId: string, table: string, body: Record<string, unknown>) {
  let release!: () => void;
  const released = new Promise<void>((r) => {
    release = r;
  });
  let locked!: () => void;
  const holding = new Promise<void>((r) => {
    locked = r;
  });
  const lock = sql.begin(async (tx) => {
    await tx`select 1 from renditions where media_id = ${mediaId} for update`;
    locked();
    await released;
  });
  await holding;
  /** Statements on `table` waiting for a lock. */
  const waitingOn = async (name: string) =>
    (
      await sql<{ n: number }[]>`select count(*)::int as n from pg_stat_activity
        where datname = current_database() and wait_event_type = 'Lock' and query ilike ${`%"${name}"%`}`
    )[0]!.n > 0;
  let deleting: ReturnType<typeof deleteMedia>;
  let creating: ReturnType<typeof postJson>;
  try {
    deleting = deleteMedia(mediaId);
    await until('the delete to wait on the lock', () => waitingOn('renditions'), 20_000, 50);
    let answered = false;
    creating = postJson(user.api, '/api/v1/posts', body).finally(() => {
      answered = true;
    });
    await until('the create to answer or wait', async () => answered || (await waitingOn(table)), 20_000, 50);
  } finally {
    release();
    await lock;
  }
  const created = await creating;
  if (created.status === 201) leftRunning.push(created.body.workflow.id);
  return { created, deleted: await deleting };
}

/** A post of `mediaIds` whose export `blocked` fails (a file stands where its folder must go). */
async function postWithBlockedExport(mediaIds: string[], keys: string[]): Promise<Json> {
  const created = await postJson(user.api, '/api/v1/posts', {
    caption: 'Half way',
    mediaIds,
    review: { mode: 'manual' },
    targets: keys.map((key) => ({ type: 'local_export', key })),
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const post = await waitForPost(user.api, created.body.id, (p) => p.status === 'awaiting_review');
  const blocked = join(app.dataDir, 'exports', post.id, 'blocked');
  await mkdir(dirname(blocked), { recursive: true });
  await writeFile(blocked, 'somebody else');
  await postJson(user.api, `/api/v1/posts/${post.id}/review/approve`, {});
  const ended = await waitForPost(user.api, post.id, isFinished);
  // The row says so a moment before the workflow opens its retry window.
  await until('the retry window', async () => (await handleOf(post).query(progressQuery)).status === ended.status);
  return ended;
}

describe('deleting media', () => {
  it('is refused while a post that used it can still be retried, and the retry publishes it', async () => {
    const mediaId = await newPhoto();
    const post = await postWithBlockedExport([mediaId], ['archive', 'blocked']);
    expect(post.status).toBe('partially_published');

    const refused = await deleteMedia(mediaId);
    expectProblem(refused, 409);
    expect(refused.body.detail).toContain(post.id);
    expect(refused.body.detail).toMatch(
      /partially_published.*can still be retried until \d{4}-\d\d-\d\d \d\d:\d\d UTC/,
    );

    await rm(join(app.dataDir, 'exports', post.id, 'blocked'));
    const retried = await postJson(user.api, `/api/v1/posts/${post.id}/targets/blocked/retry`, {});
    expect(retried.status, JSON.stringify(retried.body)).toBe(202);
    expect((await handleOf(post).result()).status).toBe('published');
    // The retried target carries the photo, like the one that worked the first time.
    expect(await readdir(join(app.dataDir, 'exports', post.id, 'blocked'))).toContain('media-01.jpg');
    expect(await readdir(join(app.dataDir, 'exports', post.id, 'archive'))).toContain('media-01.jpg');
  });

  it('goes ahead once the posts that used it have ended and their retry window has passed', async () => {
    const mediaId = await newPhoto();
    const published = await postJson(user.api, '/api/v1/posts', {
      caption: 'Done',
      mediaIds: [mediaId],
      targets: [{ type: 'local_export' }],
    });
    expect(published.status, JSON.stringify(published.body)).toBe(201);
    expect((await waitForPost(user.api, published.body.id, isFinished)).status).toBe('published');
    const failed = await postWithBlockedExport([mediaId], ['blocked']);
    expect(failed.status).toBe('failed');

    const refused = await deleteMedia(mediaId);
    expectProblem(refused, 409);
    expect(refused.body.detail).toContain(`post ${failed.id} (failed), which uses it, can still be retried until`);
    expect(refused.body.detail).not.toContain(published.body.id);

    // The window has passed: the pipeline is over, and the post ended longer ago than the window.
    await handleOf(failed).terminate('the retry window has passed');
    const longAgo = new Date(Date.now() - (app.services.apiDeps!.retryWindowDays + 1) * 24 * 3600_000);
    await app.db.update(posts).set({ updatedAt: longAgo }).where(eq(posts.id, failed.id));

    const deleted = await deleteMedia(mediaId);
    expect(deleted.status, JSON.stringify(deleted.body)).toBe(204);
    expect((await call(user.api, `/api/v1/media/${mediaId}`)).status).toBe(404);
    expect((await call(user.api, `/api/v1/posts/${published.body.id}`)).body.media).toEqual([]);
  });

  it('never takes it from a post created while the delete runs: that create is refused in words', async () => {
    const mediaId = await usedOnceThenEnded();
    const { created, deleted } = await createDuringStalledDelete(mediaId, 'post_media', {
      caption: 'Meanwhile',
      mediaIds: [mediaId],
      targets: [{ type: 'local_export' }],
      publishAt: new Date(Date.now() + 5000).toISOString(),
    });
    expectProblem(created, 422, 'mediaIds[0]');
    expect(created.body.errors).toContainEqual({
      field: 'mediaIds[0]',
      message: `no media with id ${mediaId}; upload it first`,
    });
    expect(deleted.status, JSON.stringify(deleted.body)).toBe(204);
    expect((await call(user.api, `/api/v1/media/${mediaId}`)).status).toBe(404);
  });

  it('never takes it from a brief saved while the delete runs: that create is refused in words', async () => {
    const mediaId = await usedOnceThenEnded();
    // No foreign key holds a brief's source media: the create waits on its own hold of the row.
    const { created, deleted } = await createDuringStalledDelete(mediaId, 'media', {
      brief: { topic: 'Meanwhile', sourceMediaIds: [mediaId] },
      targets: [{ type: 'local_export' }],
      publishAt: new Date(Date.now() + 3600_000).toISOString(),
    });
    expectProblem(created, 422, 'brief.sourceMediaIds[0]');
    expect(created.body.errors).toContainEqual({
      field: 'brief.sourceMediaIds[0]',
      message: `no media with id ${mediaId}; upload it first`,
    });
    expect(deleted.status, JSON.stringify(deleted.body)).toBe(204);
    expect((await call(user.api, `/api/v1/media/${mediaId}`)).status).toBe(404);
  });

  it('is refused while an active campaign or an unfinished post names it in its brief', async () => {
    const mediaId = await newPhoto();
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
    const campaign = await postJson(
      user.api,
      '/api/v1/campaigns',
      campaignBody({
        name: 'Source photo series',
        brief: { topic: 'Our product launch', tone: 'upbeat', sourceMediaIds: [mediaId] },
        cadence: { kind: 'rrule', rule: 'FREQ=DAILY;BYHOUR=9' },
        timeZone: 'UTC',
        startDate: tomorrow,
        end: { count: 3 },
      }),
    );
    expect(campaign.status, JSON.stringify(campaign.body)).toBe(201);
    leftRunning.push(`campaign-${campaign.body.id}`);

    const byCampaign = await deleteMedia(mediaId);
    expectProblem(byCampaign, 409);
    expect(byCampaign.body.detail).toContain(`campaign "Source photo series" (${campaign.body.id}, active)`);

    const drafted = await postJson(user.api, '/api/v1/posts', {
      brief: { topic: 'The photo, described', language: 'en', sourceMediaIds: [mediaId] },
      review: { mode: 'manual', onExpiry: 'cancel' },
      targets: [{ type: 'local_export', platform: 'facebook' }],
    });
    expect(drafted.status, JSON.stringify(drafted.body)).toBe(201);
    const post = await waitForPost(user.api, drafted.body.id, (p) => p.status === 'awaiting_review');
    const byBoth = await deleteMedia(mediaId);
    expectProblem(byBoth, 409);
    expect(byBoth.body.detail).toContain(
      `post ${post.id} (awaiting_review), which names it in its brief, has not finished`,
    );
    expect(byBoth.body.detail).toContain(campaign.body.id);

    // Once neither can use it any more, it goes.
    expect((await postJson(user.api, `/api/v1/posts/${post.id}/cancel`, {})).status).toBeLessThan(300);
    await waitForPost(user.api, post.id, isFinished);
    const cancelled = await postJson(user.api, `/api/v1/campaigns/${campaign.body.id}/cancel`, {});
    expect(cancelled.status, JSON.stringify(cancelled.body)).toBeLessThan(300);
    await until(
      'the campaign cancelled',
      async () => (await call(user.api, `/api/v1/campaigns/${campaign.body.id}`)).body.status === 'cancelled',
    );
    const deleted = await deleteMedia(mediaId);
    expect(deleted.status, JSON.stringify(deleted.body)).toBe(204);
    expect((await call(user.api, `/api/v1/media/${mediaId}`)).status).toBe(404);
  });
});
