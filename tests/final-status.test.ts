import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Activities, createActivities } from '../activities/index.js';
import { createOpenAiGenerator } from '../ai/openai-generator.js';
import { posts, publications } from '../db/schema.js';
import { FINAL_STATUSES, type PostStatus } from '../domain/pipeline.js';
import { EMULATOR_MODEL, type OpenAiEmulator, startOpenAiEmulator } from '../emulators/openai.js';
import { createPublishers } from '../platforms/registry.js';
import { createLogger } from '../runtime/logger.js';
import { call, type Json, postJson, signUp, type TestUser, waitForPost } from './helpers/api.js';
import { startTestApp, type TestApp } from './helpers/harness.js';

// The activities themselves, against the real database, on posts whose story has ended: a late
// or repeated run of any of them must leave the post's end as it was.

let emulator: OpenAiEmulator;
let app: TestApp;
let user: TestUser;
let activities: Activities;

beforeAll(async () => {
  emulator = await startOpenAiEmulator();
  app = await startTestApp({
    env: { OPENAI_BASE_URL: emulator.url, OPENAI_API_KEY: 'sk-test', OPENAI_MODEL: EMULATOR_MODEL },
  });
  user = await signUp(app.baseUrl);
  activities = createActivities({
    db: app.db,
    store: app.services.store,
    logger: createLogger('silent'),
    publishers: createPublishers({ dataDir: app.dataDir }),
    drafts: createOpenAiGenerator({
      apiKey: 'sk-test',
      baseURL: emulator.url,
      model: EMULATOR_MODEL,
      imageModel: 'gpt-image-1',
    }),
  });
});
afterAll(async () => {
  await app?.stop();
  await emulator?.stop();
});

/** Runs an activity the way a worker would, with an activity context (heartbeats, cancellation). */
function runActivity<A extends unknown[], R>(fn: (...args: A) => Promise<R>, ...args: A): Promise<R> {
  return new MockActivityEnvironment({ heartbeatTimeoutMs: 3000 }).run(fn, ...args);
}

/** A post whose pipeline is stopped for good while it waits, so only this test writes to it. */
async function stoppedPost(body: Json): Promise<Json> {
  const created = await postJson(user.api, '/api/v1/posts', body);
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const post = await waitForPost(user.api, created.body.id, (p) => ['scheduled', 'awaiting_review'].includes(p.status));
  await app.temporal.workflow.getHandle(post.workflow.id).terminate('the test drives the activities itself');
  return post;
}

const row = async (id: string) => (await app.db.select().from(posts).where(eq(posts.id, id)))[0]!;

describe('a post that has ended', () => {
  it.each(FINAL_STATUSES)('stays %s whatever activity runs late', async (status: PostStatus) => {
    const post = await stoppedPost({
      caption: `Ended as ${status}`,
      targets: [{ type: 'local_export', key: 'site' }],
      publishAt: new Date(Date.now() + 3600_000).toISOString(),
    });
    await app.db.update(posts).set({ status, error: 'the recorded end' }).where(eq(posts.id, post.id));
    const before = await row(post.id);
    const postId = post.id as string;

    await runActivity(activities.markAwaitingReview, { postId, round: 1 });
    for (const outcome of ['approved', 'auto_approved', 'approved_at_deadline', 'rejected'] as const) {
      await runActivity(activities.recordReviewOutcome, { postId, outcome });
    }
    await runActivity(activities.markScheduled, { postId, publishAt: new Date(Date.now() + 60_000).toISOString() });
    await runActivity(activities.updatePublishAt, { postId, publishAt: new Date(Date.now() + 60_000).toISOString() });
    await runActivity(activities.recordCancellation, { postId, reason: 'too late' });
    const reported = await runActivity(activities.recordResults, { postId, outcomes: [{ key: 'site', ok: true }] });
    expect(reported).toBe(status);
    await runActivity(activities.renderMedia, { postId }).catch(() => undefined);
    await expect(runActivity(activities.publishTarget, { postId, targetKey: 'site' })).rejects.toThrow(
      /has ended; nothing more is published/,
    );

    const after = await row(postId);
    expect(after).toMatchObject({ status, error: 'the recorded end', publishAt: before.publishAt });
    const [publication] = await app.db.select().from(publications).where(eq(publications.postId, postId));
    expect(publication!.status).not.toBe('published');
    expect(existsSync(join(app.dataDir, 'exports', postId))).toBe(false);
  });

  it('may still be completed by a retry in its open retry window, and only then', async () => {
    const post = await stoppedPost({
      caption: 'In part',
      targets: [{ type: 'local_export', key: 'site' }],
      publishAt: new Date(Date.now() + 3600_000).toISOString(),
    });
    await app.db.update(posts).set({ status: 'partially_published' }).where(eq(posts.id, post.id));
    const outcomes = [{ key: 'site', ok: true }];
    expect(await runActivity(activities.recordResults, { postId: post.id, outcomes })).toBe('partially_published');
    expect(await runActivity(activities.recordResults, { postId: post.id, outcomes, retry: true })).toBe('published');
    expect((await row(post.id)).status).toBe('published');
  });
});

describe('scheduling', () => {
  it('keeps the rescheduled time when the scheduled mark lands after it', async () => {
    const post = await stoppedPost({
      caption: 'Moved',
      targets: [{ type: 'local_export' }],
      publishAt: new Date(Date.now() + 3600_000).toISOString(),
    });
    const moved = new Date(Date.now() + 7200_000);
    await runActivity(activities.updatePublishAt, { postId: post.id, publishAt: moved.toISOString() });
    // The pipeline's mark, sent with the time it knew before the reschedule, arrives last.
    await runActivity(activities.markScheduled, { postId: post.id, publishAt: post.publishAt });
    const after = await row(post.id);
    expect(after.status).toBe('scheduled');
    expect(after.publishAt?.toISOString()).toBe(moved.toISOString());
  });
});

describe('the AI image', () => {
  it('is made under heartbeats, also by an attempt that finds the drafts already written', async () => {
    // What an attempt that died right after writing the drafts leaves: drafts, and no image.
    const post = await stoppedPost({
      brief: { topic: 'Lighthouses of Brittany' },
      review: { mode: 'manual' },
      targets: [{ type: 'local_export', platform: 'facebook' }],
    });
    await app.db
      .update(posts)
      .set({ brief: sql`${posts.brief} || '{"generateImage": true}'::jsonb` })
      .where(eq(posts.id, post.id));
    expect((await call(user.api, `/api/v1/posts/${post.id}`)).body.media).toHaveLength(0);

    emulator.reset();
    emulator.setLatency(1500);
    const env = new MockActivityEnvironment({ heartbeatTimeoutMs: 900 });
    const beats: number[] = [];
    env.on('heartbeat', () => beats.push(Date.now()));
    const started = Date.now();
    await env.run(activities.generateDrafts, { postId: post.id, round: 0 });
    const finished = Date.now();
    emulator.setLatency(0);

    expect(emulator.requests.map((r) => r.path)).toEqual(['/v1/images/generations']);
    const media = (await call(user.api, `/api/v1/posts/${post.id}`)).body.media;
    expect(media).toHaveLength(1);
    // Never longer without a heartbeat than the timeout allows, image request included.
    const marks = [started, ...beats, finished];
    const longestGap = Math.max(...marks.slice(1).map((t, i) => t - marks[i]!));
    expect(longestGap).toBeLessThan(900);
  });
});
