import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { and, eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publications, publishingUsage } from '../db/schema.js';
import { callControl } from '../emulators/oauth-kit.js';
import { startTikTokEmulator, type TikTokEmulator } from '../emulators/tiktok.js';
import { committedToPlatform } from '../platforms/publishing.js';
import { call, isFinished, type Json, postJson, signUp, type TestUser, upload, waitForPost } from './helpers/api.js';
import { connectAccount } from './helpers/connect.js';
import { startTestApp, type TestApp } from './helpers/harness.js';
import { makeVideo, tempDir } from './helpers/media-files.js';
import { fault, published, violations } from './helpers/publishing.js';

/**
 * A person's retry of a target whose post already went out (the journal committed, so the retry
 * asks the platform instead of posting again) spends nothing the budgets count. It comes days
 * later, when the target's own spend has left the window, and must not wait for room it does not
 * use. A committed resume that may start the upload anew (the last chunk never confirmed, its
 * upload_url long expired) does spend: it still waits for the budget.
 */

let tiktok: TikTokEmulator;
let app: TestApp;
let cleanup: () => Promise<void>;
let videoPath: string;

beforeAll(async () => {
  tiktok = await startTikTokEmulator();
  const dir = await tempDir('quota-committed-resume-');
  cleanup = dir.cleanup;
  // Vertical, under 5 MB: one whole chunk, which is the last one.
  videoPath = await makeVideo(join(dir.dir, 'clip.mp4'), { width: 720, height: 1280, seconds: 4, bitrate: '3M' });
  app = await startTestApp({
    env: {
      ...tiktok.env,
      PUBLISH_POLL_INTERVAL_MS: '50',
      TIKTOK_APP_AUDITED: 'true',
      TIKTOK_POSTS_PER_DAY: '1',
    },
  });
}, 180_000);

afterAll(async () => {
  await app?.stop();
  await tiktok?.stop();
  await cleanup?.();
});

const envelopeError = (code: string, message: string) => ({ data: {}, error: { code, message, log_id: 'x' } });
const inits = () => tiktok.kit.requests.filter((r) => r.path.endsWith('/init/')).length;
const targetOf = (post: Json) => (post.targets as Json[]).find((t) => t.key === 'tiktok')!;

/** A TikTok creator of its own, so each test's budgets start empty. */
async function creator(name: string, openId: string) {
  const who = await signUp(app.baseUrl, name);
  await callControl(tiktok.url, 'POST', 'consent', { user: { id: openId, displayName: name } });
  const connectionId = (await connectAccount(who, 'tiktok'))[0]!;
  const uploaded = await upload(who.api, await readFile(videoPath), 'clip.mp4');
  expect(uploaded.status, JSON.stringify(uploaded.body)).toBe(201);
  return { who, connectionId, videoId: uploaded.body.id as string };
}

async function createPost(who: TestUser, body: Json): Promise<string> {
  const res = await postJson(who.api, '/api/v1/posts', body);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.id as string;
}

async function journalOf(postId: string) {
  const [row] = await app.db
    .select({ journal: publications.journal })
    .from(publications)
    .where(and(eq(publications.postId, postId), eq(publications.targetKey, 'tiktok')));
  return row?.journal ?? null;
}

async function publishErrors(who: TestUser, postId: string): Promise<string[]> {
  const res = await call(who.api, `/api/v1/posts/${postId}/attempts`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return (res.body.items as Json[])
    .filter((a) => a.step === 'publish' && a.targetKey === 'tiktok' && typeof a.error === 'string')
    .map((a) => a.error as string);
}

/**
 * Days later: the refused target's spend has left the 24-hour window, and another post has taken
 * the creator's one Direct Post of the day.
 */
async function daysLaterWithTheCapSpent(who: TestUser, postId: string, direct: Json, videoId: string) {
  const moved = await app.db
    .update(publishingUsage)
    .set({ at: sql`now() - interval '2 days'` })
    .where(eq(publishingUsage.postId, postId))
    .returning({ budget: publishingUsage.budget });
  expect(moved.map((m) => m.budget.split(':')[0]).sort()).toEqual(['tiktok-init', 'tiktok-post']);
  const other = await createPost(who, { caption: 'Today’s post', mediaIds: [videoId], targets: [direct] });
  expect((await waitForPost(who.api, other, isFinished, 90_000)).status).toBe('published');
}

describe('a retry of a TikTok post that already went out, days later', () => {
  it('a status read TikTok refused after the last chunk: the retry polls and publishes without waiting for the budget', async () => {
    const { who, connectionId, videoId } = await creator('Resumed Creator', 'tt-open-resumed');
    const direct = { type: 'tiktok', connectionId, privacyLevel: 'SELF_ONLY' };
    const before = (await published(tiktok.url)).length;
    const initsBefore = inits();

    // Taken once: the first status read after the whole video went up.
    await fault(tiktok.url, {
      kind: 'answer',
      on: 'status',
      status: 400,
      body: envelopeError('invalid_param', 'publish_id could not be read'),
    });
    const id = await createPost(who, { caption: 'Sent once', mediaIds: [videoId], targets: [direct] });
    const refused = await waitForPost(who.api, id, (p) => p.status === 'failed', 90_000);
    expect(targetOf(refused).error).toMatch(/publish_id could not be read/);
    const journal = await journalOf(id);
    expect(committedToPlatform(journal)).toBe(true);
    expect(journal?.uploadDone).toBe(true);
    expect(inits() - initsBefore).toBe(1);

    await daysLaterWithTheCapSpent(who, id, direct, videoId);
    expect(inits() - initsBefore).toBe(2);

    const retried = await postJson(who.api, `/api/v1/posts/${id}/targets/tiktok/retry`, {});
    expect(retried.status, JSON.stringify(retried.body)).toBe(202);
    const done = await waitForPost(
      who.api,
      id,
      (p) => p.status === 'published' || /Waiting for the budget/.test(String(targetOf(p).error ?? '')),
      90_000,
    );
    expect(targetOf(done).error ?? null).toBeNull();
    expect(done.status).toBe('published');
    expect((await publishErrors(who, id)).filter((e) => /Waiting for the budget/.test(e))).toEqual([]);
    // The retry asked TikTok about the publish it had: no second init, and each post once on TikTok.
    expect(inits() - initsBefore).toBe(2);
    const items = (await published(tiktok.url)).slice(before);
    expect(items).toHaveLength(2);
    expect(items.every((i) => i.account === 'tt-open-resumed')).toBe(true);
    expect(await violations(tiktok.url)).toEqual([]);
  }, 240_000);

  it('the last chunk refused: the retry may have to init again, so it waits for the budget', async () => {
    const { who, connectionId, videoId } = await creator('Restarting Creator', 'tt-open-restarting');
    const direct = { type: 'tiktok', connectionId, privacyLevel: 'SELF_ONLY' };
    const before = (await published(tiktok.url)).length;
    const initsBefore = inits();

    // The only chunk is the last one: committed before it went, then refused (TikTok did not take
    // it, so the commitment ends and a retry starts a new upload: a new post on TikTok's count).
    await fault(tiktok.url, { kind: 'answer', on: 'upload', status: 400 });
    const id = await createPost(who, { caption: 'Never confirmed', mediaIds: [videoId], targets: [direct] });
    const refused = await waitForPost(who.api, id, (p) => p.status === 'failed', 90_000);
    expect(targetOf(refused).error).toMatch(/chunk upload refused: HTTP 400/);
    const journal = await journalOf(id);
    expect(committedToPlatform(journal)).toBe(false);
    expect(journal?.uploadDone).not.toBe(true);

    await daysLaterWithTheCapSpent(who, id, direct, videoId);
    const initsAfterOther = inits();
    expect(initsAfterOther - initsBefore).toBe(2);

    const retried = await postJson(who.api, `/api/v1/posts/${id}/targets/tiktok/retry`, {});
    expect(retried.status, JSON.stringify(retried.body)).toBe(202);
    const held = await waitForPost(
      who.api,
      id,
      (p) => p.status === 'published' || /Waiting for the budget/.test(String(targetOf(p).error ?? '')),
      90_000,
    );
    expect(inits(), 'a second init for the same post, past the cap').toBe(initsAfterOther);
    expect(targetOf(held).error).toMatch(/^Waiting for the budget: TikTok posts: 1 per 24 hours used up/);
    expect(targetOf(held).status).toBe('retrying');
    expect((await published(tiktok.url)).slice(before)).toHaveLength(1);
  }, 240_000);
});
