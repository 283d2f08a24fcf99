import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { workflowMetadataQuery } from '@temporalio/workflow';
import { and, eq, isNull } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connections, publications, publishingUsage, renditions } from '../db/schema.js';
import { ValidationError } from '../domain/errors.js';
import { QUOTA_DEFAULTS } from '../domain/quotas.js';
import { type FacebookEmulator, startFacebookEmulator } from '../emulators/facebook.js';
import { type GoogleEmulator, startGoogleEmulator } from '../emulators/google.js';
import { type InstagramEmulator, startInstagramEmulator } from '../emulators/instagram.js';
import { callControl } from '../emulators/oauth-kit.js';
import { startTikTokEmulator, type TikTokEmulator } from '../emulators/tiktok.js';
import { createPost as createPostUseCase } from '../use-cases/posts/create-post.js';
import {
  call,
  expectProblem,
  isFinished,
  type Json,
  postJson,
  signUp,
  type TestUser,
  upload,
  uploadPhoto,
  waitForPost,
} from './helpers/api.js';
import { connectAccount } from './helpers/connect.js';
import { startTestApp, type TestApp } from './helpers/harness.js';
import { captureHistory } from './helpers/histories.js';
import { makeVideo, tempDir } from './helpers/media-files.js';
import { fault, mediaBytes, published, switches, violations } from './helpers/publishing.js';

/**
 * The whole pipeline to each emulated platform: a real video (several MB, several chunks) and
 * pictures go from upload through render to the platform, and what the platform received is
 * compared byte for byte with the file the render step made.
 */

let app: TestApp;
let tiktok: TikTokEmulator;
let google: GoogleEmulator;
let instagram: InstagramEmulator;
let facebook: FacebookEmulator;
let user: TestUser;
const accounts: Record<string, string> = {};
let videoId: string;
let photoIds: string[];
let cleanup: () => Promise<void>;

beforeAll(async () => {
  [tiktok, google, instagram, facebook] = await Promise.all([
    startTikTokEmulator(),
    startGoogleEmulator(),
    startInstagramEmulator(),
    startFacebookEmulator(),
  ]);
  app = await startTestApp({
    env: {
      ...tiktok.env,
      ...google.env,
      ...instagram.env,
      ...facebook.env,
      TIKTOK_APP_AUDITED: 'true',
      PUBLISH_POLL_INTERVAL_MS: '50',
    },
  });
  user = await signUp(app.baseUrl, 'Publisher');
  accounts.tiktok = (await connectAccount(user, 'tiktok'))[0]!;
  accounts.youtube = (await connectAccount(user, 'youtube'))[0]!;
  accounts.instagram = (await connectAccount(user, 'instagram'))[0]!;
  accounts.facebook = (await connectAccount(user, 'facebook', {}, 1))[0]!;

  const dir = await tempDir('platform-publishing-');
  cleanup = dir.cleanup;
  // Vertical, H.264/AAC, about 21 MB: several chunks for TikTok (10 MiB) and YouTube (8 MiB).
  const path = await makeVideo(join(dir.dir, 'clip.mp4'), { width: 720, height: 1280, seconds: 7, bitrate: '24M' });
  const uploaded = await upload(user.api, await readFile(path), 'clip.mp4');
  expect(uploaded.status, JSON.stringify(uploaded.body)).toBe(201);
  videoId = uploaded.body.id as string;
  photoIds = [await uploadPhoto(user.api, 1080, 1350), await uploadPhoto(user.api, 1080, 1080)];
}, 180_000);

afterAll(async () => {
  await app?.stop();
  await Promise.all([tiktok, google, instagram, facebook].map((e) => e?.stop()));
  await cleanup?.();
});

async function createPost(body: Json): Promise<string> {
  const res = await postJson(user.api, '/api/v1/posts', body);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.id as string;
}

/** The bytes of the file the render step made for a target (what must reach the platform). */
async function renditionBytes(postId: string, targetKey: string, position = 0): Promise<Buffer> {
  const [row] = await app.db
    .select()
    .from(renditions)
    .where(and(eq(renditions.postId, postId), eq(renditions.targetKey, targetKey), eq(renditions.position, position)));
  expect(row, `rendition ${targetKey}/${position}`).toBeDefined();
  return readFile(app.services.store.pathOf(row!.storageKey));
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function publishedOnce(base: string, postId: string, key: string) {
  const post = await waitForPost(user.api, postId, isFinished, 120_000);
  const target = (post.targets as Json[]).find((t) => t.key === key)!;
  expect(post.status, JSON.stringify(target)).toBe('published');
  const items = await published(base);
  const item = items.find(
    (i) => target.platformPostId !== null && JSON.stringify(i).includes(String(target.platformPostId)),
  );
  expect(item, `${key}: ${JSON.stringify(items.map((i) => i.id))} vs ${target.platformPostId}`).toBeDefined();
  expect(await violations(base)).toEqual([]);
  return { post, target, item: item! };
}

describe('publishing through the pipeline', () => {
  it('TikTok: the video goes up in chunks and arrives byte for byte; the post shows its id and URL', async () => {
    const id = await createPost({
      caption: 'Launch day #tiktok',
      mediaIds: [videoId],
      targets: [{ type: 'tiktok', connectionId: accounts.tiktok, privacyLevel: 'PUBLIC_TO_EVERYONE' }],
    });
    const { target, item } = await publishedOnce(tiktok.url, id, 'tiktok');
    expect(target.url).toMatch(/^https:\/\/www\.tiktok\.com\/@/);
    const sent = await renditionBytes(id, 'tiktok');
    expect(sent.length).toBeGreaterThan(10 * 1024 * 1024);
    expect(sha(await mediaBytes(tiktok.url, item.id))).toBe(sha(sent));
    expect(tiktok.kit.requests.filter((r) => r.method === 'PUT').length).toBeGreaterThanOrEqual(2);
    const [row] = await app.db.select().from(publications).where(eq(publications.postId, id));
    expect(row?.uploadProgress).toMatchObject({ sent: sent.length, total: sent.length });
    // The operator's view in the Temporal UI names where it went.
    const metadata = await app.temporal.workflow.getHandle(`post-${id}`).query(workflowMetadataQuery);
    expect(metadata.currentDetails).toBe(`published; tiktok -> ${target.url}`);
    const handle = app.temporal.workflow.getHandle(`post-${id}`);
    await handle.result();
    await captureHistory(handle, 'post-pipeline-v3-tiktok-upload-queue');
  });

  it('YouTube: a resumable upload in 256 KiB multiples, with title and tags from the draft', async () => {
    const id = await createPost({
      caption: 'How we bake sourdough\nA short film about our bakery.',
      mediaIds: [videoId],
      targets: [{ type: 'youtube', connectionId: accounts.youtube, privacy: 'unlisted' }],
    });
    const { target, item } = await publishedOnce(google.url, id, 'youtube');
    expect(target.url).toMatch(/youtu/);
    expect(sha(await mediaBytes(google.url, item.id))).toBe(sha(await renditionBytes(id, 'youtube')));
  });

  it('Instagram: a carousel of two pictures, fetched by Instagram from their signed links', async () => {
    const id = await createPost({
      caption: 'Two loaves #bread',
      mediaIds: photoIds,
      targets: [{ type: 'instagram', connectionId: accounts.instagram }],
    });
    const { item } = await publishedOnce(instagram.url, id, 'instagram');
    expect(item.media).toHaveLength(2);
    expect(sha(await mediaBytes(instagram.url, item.id, 0))).toBe(sha(await renditionBytes(id, 'instagram', 0)));
    expect(sha(await mediaBytes(instagram.url, item.id, 1))).toBe(sha(await renditionBytes(id, 'instagram', 1)));
  });

  it('Facebook: a Page video through the resumable upload, and a photo post', async () => {
    const video = await createPost({
      caption: 'Our new oven',
      mediaIds: [videoId],
      targets: [{ type: 'facebook', connectionId: accounts.facebook, placement: 'video' }],
    });
    const { item } = await publishedOnce(facebook.url, video, 'facebook');
    expect(sha(await mediaBytes(facebook.url, item.id))).toBe(sha(await renditionBytes(video, 'facebook')));
    const photo = await createPost({
      caption: 'Fresh today',
      mediaIds: [photoIds[0]!],
      targets: [{ type: 'facebook', connectionId: accounts.facebook }],
    });
    const done = await publishedOnce(facebook.url, photo, 'facebook');
    expect(sha(await mediaBytes(facebook.url, done.item.id))).toBe(sha(await renditionBytes(photo, 'facebook')));
  });
});

describe("Instagram's 400 containers a rolling 24 hours (3.5)", () => {
  it('a carousel that would go over waits before making any container, says so, then publishes', async () => {
    const [connection] = await app.db.select().from(connections).where(eq(connections.id, accounts.instagram!));
    const budget = `instagram-containers:${connection!.platformAccountId}`;
    // With the containers earlier tests made, 398 in use; the filler leaves the window in a few seconds.
    const used = (await app.db.select().from(publishingUsage).where(eq(publishingUsage.budget, budget))).reduce(
      (n, r) => n + r.amount,
      0,
    );
    const leavesAt = Date.now() + 15_000;
    await app.db.insert(publishingUsage).values({
      budget,
      amount: 398 - used,
      at: new Date(leavesAt - 86_400_000),
      postId: null,
      targetKey: 'elsewhere',
    });
    const made = () => instagram.kit.requests.filter((r) => r.method === 'POST' && /\/media$/.test(r.path)).length;
    try {
      const before = made();
      const id = await createPost({
        caption: 'Two pictures, three containers',
        mediaIds: photoIds,
        targets: [{ type: 'instagram', connectionId: accounts.instagram }],
      });
      const instagramTarget = (p: Json) => (p.targets as Json[]).find((t) => t.key === 'instagram')!;
      const waiting = await waitForPost(
        user.api,
        id,
        (p) => isFinished(p) || typeof instagramTarget(p).error === 'string',
        90_000,
      );
      // Two items and the carousel: 3 do not fit beside 398 of 400.
      expect(instagramTarget(waiting).error).toMatch(
        /^Waiting for the budget: Instagram containers: this post needs 3 and 398 of the account's 400 per 24 hours are in use; it fits at \d{4}-\d\d-\d\dT/,
      );
      expect(made()).toBe(before);
      const done = await waitForPost(user.api, id, isFinished, 120_000);
      expect(done.status, JSON.stringify(done.targets)).toBe('published');
      expect(made() - before).toBe(3);
      const spends = await app.db.select().from(publishingUsage).where(eq(publishingUsage.postId, id));
      expect(Object.fromEntries(spends.map((r) => [r.budget.split(':')[0], r.amount]))).toEqual({
        instagram: 1,
        'instagram-containers': 3,
      });
      expect(await violations(instagram.url)).toEqual([]);
    } finally {
      await app.db
        .delete(publishingUsage)
        .where(and(eq(publishingUsage.budget, budget), isNull(publishingUsage.postId)));
    }
  }, 180_000);
});

describe("YouTube's own clock", () => {
  it('uploads ahead as private with YouTube publishAt; the post stays scheduled, cannot be moved, then ends published', async () => {
    const publishAt = new Date(Date.now() + 30_000).toISOString();
    const id = await createPost({
      caption: 'Premiere at noon\nOur bakery film.',
      mediaIds: [videoId],
      publishAt,
      targets: [{ type: 'youtube', connectionId: accounts.youtube, scheduleOn: 'youtube' }],
    });
    // Uploaded and waiting for its time (YouTube's): the post is scheduled, its target is up.
    const ahead = await waitForPost(
      user.api,
      id,
      (p) => p.status === 'scheduled' && (p.targets as Json[])[0]?.status === 'published',
      25_000,
    );
    const target = (ahead.targets as Json[])[0]!;
    expect(target).toMatchObject({ clock: 'youtube', result: { scheduledFor: publishAt, clock: 'youtube' } });
    const item = (await published(google.url)).find((i) => String(target.platformPostId) === i.id)!;
    expect(JSON.stringify(item.params)).toContain(publishAt.replace(/\.\d{3}Z$/, ''));
    expect(JSON.stringify(item.params)).toContain('"privacyStatus":"private"');
    const cancel = await postJson(user.api, `/api/v1/posts/${id}/cancel`, {});
    expect(cancel.status).toBe(409);
    expect(JSON.stringify(cancel.body)).toMatch(/scheduled by the platform itself/);
    const done = await waitForPost(user.api, id, isFinished, 60_000);
    expect(done.status).toBe('published');
    expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(publishAt));
    expectProblem(
      await postJson(user.api, '/api/v1/posts', {
        caption: 'x',
        mediaIds: [videoId],
        publishAt,
        targets: [{ type: 'youtube', connectionId: accounts.youtube, scheduleOn: 'youtube', privacy: 'unlisted' }],
      }),
      422,
      'targets[0].privacy',
    );
  });
});

describe('refused by the platform, then retried', () => {
  it('TikTok refuses the video (spam risk) in its words; after a fix, retryTarget publishes it once', async () => {
    await switches(tiktok.url, { failReason: 'spam_risk_text' });
    const before = (await published(tiktok.url)).length;
    const inits = () => tiktok.kit.requests.filter((r) => r.path.endsWith('/video/init/')).length;
    const initsBefore = inits();
    const id = await createPost({
      caption: 'Buy now buy now',
      mediaIds: [videoId],
      targets: [{ type: 'tiktok', connectionId: accounts.tiktok, privacyLevel: 'SELF_ONLY' }],
    });
    const failed = await waitForPost(user.api, id, (p) => p.status === 'failed', 60_000);
    const target = (failed.targets as Json[])[0]!;
    expect(target.error).toMatch(/TikTok could not publish: .*\(spam_risk_text\)/);
    // The post's own error names the target once, though its key is the platform's name.
    expect(failed.error).toMatch(/^tiktok: TikTok could not publish/);
    expect(inits() - initsBefore).toBe(1);

    await switches(tiktok.url, { failReason: null });
    const retried = await postJson(user.api, `/api/v1/posts/${id}/targets/tiktok/retry`, {});
    expect(retried.status, JSON.stringify(retried.body)).toBe(202);
    await waitForPost(user.api, id, (p) => p.status === 'published', 60_000);
    // A fresh start (a new init), not a poll of the refused publish; one post on TikTok.
    expect(inits() - initsBefore).toBe(2);
    expect((await published(tiktok.url)).length).toBe(before + 1);
    expect(await violations(tiktok.url)).toEqual([]);
  });
});

describe('refused at creation, in words', () => {
  it('a TikTok Direct Post on a connection that did not allow direct posting; the inbox is taken', async () => {
    const [row] = await app.db.select().from(connections).where(eq(connections.id, accounts.tiktok!));
    // The person switched video.publish off when connecting (1.1: scopes can be switched off).
    await app.db
      .update(connections)
      .set({ scopes: ['user.info.basic', 'video.upload'] })
      .where(eq(connections.id, accounts.tiktok!));
    try {
      const refused = await postJson(user.api, '/api/v1/posts', {
        caption: 'x',
        mediaIds: [videoId],
        targets: [{ type: 'tiktok', connectionId: accounts.tiktok, privacyLevel: 'SELF_ONLY' }],
      });
      expectProblem(refused, 422, 'targets[0].mode');
      expect(JSON.stringify(refused.body)).toMatch(/did not allow direct posting.*mode \\"inbox\\"/);
      const inbox = await postJson(user.api, '/api/v1/posts', {
        caption: 'x',
        mediaIds: [videoId],
        targets: [{ type: 'tiktok', connectionId: accounts.tiktok, mode: 'inbox' }],
        publishAt: new Date(Date.now() + 3_600_000).toISOString(),
      });
      expect(inbox.status, JSON.stringify(inbox.body)).toBe(201);
      await postJson(user.api, `/api/v1/posts/${inbox.body.id}/cancel`, {});
    } finally {
      await app.db.update(connections).set({ scopes: row!.scopes }).where(eq(connections.id, accounts.tiktok!));
    }
  });

  it('a TikTok inbox draft on a connection that did not allow uploads; Direct Post is taken', async () => {
    const [row] = await app.db.select().from(connections).where(eq(connections.id, accounts.tiktok!));
    // video.upload switched off when connecting: TikTok would refuse the inbox init (1.4).
    await app.db
      .update(connections)
      .set({ scopes: ['user.info.basic', 'video.publish'] })
      .where(eq(connections.id, accounts.tiktok!));
    try {
      const refused = await postJson(user.api, '/api/v1/posts', {
        caption: 'x',
        mediaIds: [videoId],
        targets: [{ type: 'tiktok', connectionId: accounts.tiktok, mode: 'inbox' }],
      });
      expectProblem(refused, 422, 'targets[0].mode');
      expect(JSON.stringify(refused.body)).toMatch(/did not allow sending drafts to the inbox.*mode \\"direct\\"/);
      const direct = await postJson(user.api, '/api/v1/posts', {
        caption: 'x',
        mediaIds: [videoId],
        targets: [{ type: 'tiktok', connectionId: accounts.tiktok, privacyLevel: 'SELF_ONLY' }],
        publishAt: new Date(Date.now() + 3_600_000).toISOString(),
      });
      expect(direct.status, JSON.stringify(direct.body)).toBe(201);
      await postJson(user.api, `/api/v1/posts/${direct.body.id}/cancel`, {});
    } finally {
      await app.db.update(connections).set({ scopes: row!.scopes }).where(eq(connections.id, accounts.tiktok!));
    }
  });

  it("names the field: a missing TikTok privacy level, another platform's account, an unknown account", async () => {
    expectProblem(
      await postJson(user.api, '/api/v1/posts', {
        caption: 'x',
        mediaIds: [videoId],
        targets: [{ type: 'tiktok', connectionId: accounts.tiktok }],
      }),
      422,
      'targets[0].privacyLevel',
    );
    expectProblem(
      await postJson(user.api, '/api/v1/posts', {
        caption: 'x',
        mediaIds: [videoId],
        targets: [{ type: 'tiktok', connectionId: accounts.youtube, privacyLevel: 'SELF_ONLY' }],
      }),
      422,
      'targets[0].connectionId',
    );
    const stranger = await signUp(app.baseUrl, 'Stranger');
    expectProblem(
      await postJson(stranger.api, '/api/v1/posts', {
        caption: 'x',
        targets: [{ type: 'facebook', connectionId: accounts.facebook }],
      }),
      422,
      'targets[0].connectionId',
    );
    // A budget one post can never fit (a YouTube project with fewer units a day than an upload costs).
    const refused = await createPostUseCase(
      {
        db: app.db,
        reviewMaxRounds: 3,
        retryWindowDays: 7,
        quotas: { ...QUOTA_DEFAULTS, YOUTUBE_UNITS_PER_DAY: 1000 },
      },
      {
        ownerId: user.id,
        post: {
          caption: 'x',
          mediaIds: [videoId],
          targets: [{ type: 'youtube', connectionId: accounts.youtube, platform: 'youtube' }],
        },
      },
    ).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ValidationError);
    expect((refused as ValidationError).errors).toEqual([
      {
        field: 'targets[0].type',
        message: expect.stringMatching(/^YouTube API units: one upload needs more than the daily 1000/),
      },
    ]);
    const platforms = await call(user.api, '/api/v1/platforms');
    const tiktokOptions = (platforms.body.targets as Json[]).find((t) => t.type === 'tiktok')!;
    expect(tiktokOptions.connected).toBe('tiktok');
    expect(Object.keys(tiktokOptions.options.properties)).toEqual(
      expect.arrayContaining(['connectionId', 'privacyLevel', 'mode']),
    );
  });
});

describe('faults', () => {
  it('a Facebook photo post whose answer is lost becomes "outcome unknown"; a person confirms it', async () => {
    await fault(facebook.url, [{ kind: 'drop', on: 'photos' }]);
    const id = await createPost({
      caption: 'Lost answer',
      mediaIds: [photoIds[1]!],
      targets: [{ type: 'facebook', connectionId: accounts.facebook }],
    });
    const post = await waitForPost(user.api, id, (p) => p.status === 'failed', 60_000);
    const target = (post.targets as Json[])[0]!;
    expect(target.error).toMatch(/check the account/);
    expect(target.outcomeUnknown).toBeDefined();
    const before = (await published(facebook.url)).length;
    // Taken as soon as the post shows the failure.
    const confirmed = await postJson(user.api, `/api/v1/posts/${id}/targets/facebook/confirm`, {
      url: 'https://www.facebook.com/123/posts/456',
    });
    expect(confirmed.status, JSON.stringify(confirmed.body)).toBe(200);
    const done = await waitForPost(user.api, id, (p) => p.status === 'published');
    expect((done.targets as Json[])[0]).toMatchObject({
      status: 'published',
      url: 'https://www.facebook.com/123/posts/456',
    });
    // Nothing was sent a second time.
    expect((await published(facebook.url)).length).toBe(before);
    const handle = app.temporal.workflow.getHandle(`post-${id}`);
    await handle.result();
    await captureHistory(handle, 'post-pipeline-v3-outcome-unknown-confirmed');
    void callControl;
  });
});
