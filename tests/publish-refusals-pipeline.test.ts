import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attempts, publications } from '../db/schema.js';
import { type FacebookEmulator, startFacebookEmulator } from '../emulators/facebook.js';
import { type GoogleEmulator, startGoogleEmulator } from '../emulators/google.js';
import { call, type Json, postJson, signUp, type TestUser, upload, waitForPost } from './helpers/api.js';
import { connectAccount } from './helpers/connect.js';
import { startTestApp, type TestApp } from './helpers/harness.js';
import { makeVideo, tempDir } from './helpers/media-files.js';
import { fault, published, switches, violations } from './helpers/publishing.js';

/**
 * Refusals after the platform took the media, through the pipeline: the journal stays (a person's
 * retry asks the platform instead of sending a second copy), a status YouTube will not show ends
 * "outcome unknown", and a token Graph echoes in its error reaches no attempt, target or view.
 */

let app: TestApp;
let google: GoogleEmulator;
let facebook: FacebookEmulator;
let user: TestUser;
const accounts: Record<string, string> = {};
let videoId: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  [google, facebook] = await Promise.all([startGoogleEmulator(), startFacebookEmulator()]);
  app = await startTestApp({ env: { ...google.env, ...facebook.env, PUBLISH_POLL_INTERVAL_MS: '50' } });
  user = await signUp(app.baseUrl, 'Refused');
  accounts.youtube = (await connectAccount(user, 'youtube'))[0]!;
  accounts.facebook = (await connectAccount(user, 'facebook', {}, 1))[0]!;
  const dir = await tempDir('publish-refusals-');
  cleanup = dir.cleanup;
  // Vertical and four seconds: a Reel Facebook takes (4.6: 9:16, 3 to 90 s).
  const path = await makeVideo(join(dir.dir, 'clip.mp4'), { width: 720, height: 1280, seconds: 4 });
  const uploaded = await upload(user.api, await readFile(path), 'clip.mp4');
  expect(uploaded.status, JSON.stringify(uploaded.body)).toBe(201);
  videoId = uploaded.body.id as string;
}, 180_000);

afterAll(async () => {
  await app?.stop();
  await Promise.all([google, facebook].map((e) => e?.stop()));
  await cleanup?.();
});

async function createPost(body: Json): Promise<string> {
  const res = await postJson(user.api, '/api/v1/posts', body);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.id as string;
}

const target = (post: Json, key: string) => (post.targets as Json[]).find((t) => t.key === key)!;

describe('a refusal after the platform took the media', () => {
  it('a refused Reel finish ends the commitment: the journal is cleared, the retry publishes a new Reel once', async () => {
    await switches(facebook.url, { refuseFinish: '(#100) Param description is not valid' });
    const starts = () =>
      facebook.kit.requests.filter(
        (r) => r.method === 'POST' && r.path.endsWith('/video_reels') && r.query.upload_phase !== 'finish',
      ).length;
    const startsBefore = starts();
    const before = (await published(facebook.url)).length;
    const id = await createPost({
      caption: 'Our oven, as a Reel',
      mediaIds: [videoId],
      targets: [{ type: 'facebook', connectionId: accounts.facebook, placement: 'reel' }],
    });
    const failed = await waitForPost(user.api, id, (p) => p.status === 'failed', 90_000);
    expect(target(failed, 'facebook').error).toMatch(/Param description is not valid/);
    const [row] = await app.db
      .select()
      .from(publications)
      .where(and(eq(publications.postId, id), eq(publications.targetKey, 'facebook')));
    // Facebook's refusal is its word that this Reel does not publish: nothing is kept to resume.
    expect(row?.journal).toBeNull();

    const retried = await postJson(user.api, `/api/v1/posts/${id}/targets/facebook/retry`, {});
    expect(retried.status, JSON.stringify(retried.body)).toBe(202);
    await waitForPost(user.api, id, (p) => p.status === 'published', 90_000);
    expect(starts() - startsBefore).toBe(2);
    expect((await published(facebook.url)).length).toBe(before + 1);
    expect(await violations(facebook.url)).toEqual([]);
  }, 200_000);

  it('a YouTube status read refused after the upload ends "outcome unknown" with the link, one video', async () => {
    const before = (await published(google.url)).length;
    await fault(google.url, {
      kind: 'answer',
      on: 'list',
      status: 403,
      body: { error: { code: 403, message: 'Forbidden', errors: [{ reason: 'forbidden', message: 'Forbidden' }] } },
    });
    const id = await createPost({
      caption: 'A film about bread',
      mediaIds: [videoId],
      targets: [{ type: 'youtube', connectionId: accounts.youtube, privacy: 'unlisted' }],
    });
    const post = await waitForPost(user.api, id, (p) => p.status === 'failed', 90_000);
    const youtube = target(post, 'youtube');
    expect(youtube.status).toBe('unknown');
    expect(youtube.error).toMatch(
      /^YouTube has the video \(https:\/\/www\.youtube\.com\/watch\?v=[\w-]+\) but its status could not be read: .*\(forbidden\); check the account/,
    );
    expect(youtube.outcomeUnknown).toBeDefined();
    expect((await published(google.url)).length).toBe(before + 1);
  }, 200_000);
});

describe('a token Graph echoes back', () => {
  it('reaches no attempt row, no last_error and no post view', async () => {
    await switches(facebook.url, { echoToken: 'feed' });
    try {
      const id = await createPost({
        caption: 'Plain words',
        targets: [{ type: 'facebook', connectionId: accounts.facebook }],
      });
      const post = await waitForPost(user.api, id, (p) => p.status === 'failed', 90_000);
      const tokens = [...facebook.kit.tokens.keys()];
      expect(tokens.length).toBeGreaterThan(0);

      const [row] = await app.db
        .select()
        .from(publications)
        .where(and(eq(publications.postId, id), eq(publications.targetKey, 'facebook')));
      expect(row?.lastError).toMatch(/Malformed access token \[redacted\]/);
      const tries = await app.db.select().from(attempts).where(eq(attempts.postId, id));
      const failedTries = tries.filter((a) => a.step === 'publish' && a.error);
      expect(failedTries.length).toBeGreaterThan(0);
      const view = JSON.stringify((await call(user.api, `/api/v1/posts/${id}`)).body);
      expect(view).toContain('Malformed access token [redacted]');
      for (const token of tokens) {
        expect(row?.lastError ?? '').not.toContain(token);
        for (const a of failedTries) expect(a.error).not.toContain(token);
        expect(view).not.toContain(token);
        expect(JSON.stringify(post)).not.toContain(token);
      }
    } finally {
      await switches(facebook.url, { echoToken: null });
    }
  }, 200_000);
});
