import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { eq } from 'drizzle-orm';
import type { Browser, Page } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connections } from '../db/schema.js';
import { callControl } from '../emulators/oauth-kit.js';
import { startTikTokEmulator, type TikTokEmulator } from '../emulators/tiktok.js';
import { ensureWebBuilt } from '../scripts/build-web.mjs';
import { call, type Json, postJson, signUp, type TestUser, upload, waitForPost } from './helpers/api.js';
import { checkScreen, DESKTOP, launchBrowser } from './helpers/browser.js';
import { connectAccount } from './helpers/connect.js';
import { startTestApp, type TestApp } from './helpers/harness.js';
import { makeVideo, tempDir } from './helpers/media-files.js';
import { published, violations } from './helpers/publishing.js';

// A TikTok account connected with video.publish switched off (platform-apis.md 1.1) can still send
// drafts to the creator's inbox (1.4). creator_info is Direct Post's (1.3) and TikTok refuses it
// such a token, so the posting screen must not depend on it: it offers the inbox alone.

let app: TestApp;
let tiktok: TikTokEmulator;
let user: TestUser;
let uploadOnlyId: string;
let fullId: string;
let browser: Browser | undefined;
let cleanupClip: (() => Promise<void>) | undefined;
let clip: string;

const UPLOAD_ONLY = ['user.info.basic', 'video.upload'];

beforeAll(async () => {
  await ensureWebBuilt();
  tiktok = await startTikTokEmulator();
  app = await startTestApp({ env: { ...tiktok.env, PUBLISH_POLL_INTERVAL_MS: '50' } });
  user = await signUp(app.baseUrl, 'Una Upload');
  await callControl(tiktok.url, 'POST', 'consent', {
    user: { id: 'tt-open-draft', displayName: 'Drafty Creator' },
    scopes: UPLOAD_ONLY,
  });
  [uploadOnlyId] = (await connectAccount(user, 'tiktok')) as [string];
  await callControl(tiktok.url, 'POST', 'consent', {
    user: { id: 'tt-open-full', displayName: 'Full Creator' },
    scopes: null,
  });
  [fullId] = (await connectAccount(user, 'tiktok')) as [string];

  const dir = await tempDir('tiktok-upload-only-');
  cleanupClip = dir.cleanup;
  clip = await makeVideo(join(dir.dir, 'drafts.mp4'), { width: 720, height: 1280, seconds: 2 });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await app?.stop();
  await tiktok?.stop();
  await cleanupClip?.();
});

const creatorInfo = (id: string) => call(user.api, `/api/v1/connections/${id}/tiktok/creator-info`);
const creatorInfoCalls = () => tiktok.kit.requests.filter((r) => r.path.endsWith('/creator_info/query/')).length;

describe('a brief that asks for an image, on a post with a video of its own', () => {
  it('is not refused as photos and a video: the AI image is made only for a post without media', async () => {
    // Under the name the panel test below uploads it with: the library keeps one row per file.
    const uploaded = await upload(user.api, await readFile(clip), 'drafts.mp4');
    expect(uploaded.status, JSON.stringify(uploaded.body)).toBe(201);
    const created = await postJson(user.api, '/api/v1/posts', {
      brief: { topic: 'Drafts for later', generateImage: true },
      mediaIds: [uploaded.body.id],
      review: { mode: 'manual', onExpiry: 'cancel' },
      targets: [{ type: 'tiktok', connectionId: fullId, privacyLevel: 'SELF_ONLY' }],
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const cancelled = await postJson(user.api, `/api/v1/posts/${created.body.id}/cancel`, {});
    expect(cancelled.status, JSON.stringify(cancelled.body)).toBeLessThan(300);
  });
});

describe('creator info for a TikTok connection without video.publish', () => {
  it('answers from the stored connection that only the inbox is possible, without asking TikTok', async () => {
    const [row] = await app.db.select().from(connections).where(eq(connections.id, uploadOnlyId));
    expect(row!.scopes).toEqual(UPLOAD_ONLY);

    const before = creatorInfoCalls();
    const info = await creatorInfo(uploadOnlyId);
    expect(info.status, JSON.stringify(info.body)).toBe(200);
    expect(info.body).toEqual({
      connectionId: uploadOnlyId,
      username: '',
      nickname: 'Drafty Creator',
      avatarUrl: row!.avatarUrl,
      privacyLevelOptions: [],
      commentDisabled: false,
      duetDisabled: false,
      stitchDisabled: false,
      maxVideoPostDurationSec: 600,
      directPostAllowed: false,
      inboxAllowed: true,
      canPost: true,
      cannotPostReason: null,
    });
    expect(info.headers.get('cache-control')).toBe('no-store');
    // TikTok refuses creator_info to this token (1.3): asking would only earn a wrong "reconnect".
    expect(creatorInfoCalls()).toBe(before);
  });

  it('with video.publish granted, still asks TikTok and allows direct posting', async () => {
    const before = creatorInfoCalls();
    const info = await creatorInfo(fullId);
    expect(info.status, JSON.stringify(info.body)).toBe(200);
    expect(info.body).toMatchObject({
      connectionId: fullId,
      username: 'emulated.creator',
      privacyLevelOptions: ['PUBLIC_TO_EVERYONE', 'MUTUAL_FOLLOW_FRIENDS', 'SELF_ONLY'],
      maxVideoPostDurationSec: 300,
      directPostAllowed: true,
      inboxAllowed: true,
      canPost: true,
    });
    expect(creatorInfoCalls()).toBe(before + 1);
  });

  it('a connection without video.upload says the inbox is refused', async () => {
    const [row] = await app.db.select().from(connections).where(eq(connections.id, fullId));
    await app.db
      .update(connections)
      .set({ scopes: ['user.info.basic', 'video.publish'] })
      .where(eq(connections.id, fullId));
    try {
      const info = await creatorInfo(fullId);
      expect(info.status, JSON.stringify(info.body)).toBe(200);
      expect(info.body).toMatchObject({ directPostAllowed: true, inboxAllowed: false, canPost: true });
    } finally {
      await app.db.update(connections).set({ scopes: row!.scopes }).where(eq(connections.id, fullId));
    }
  });

  it('a connection marked for reconnecting still answers 409, whatever its scopes', async () => {
    await app.db
      .update(connections)
      .set({ status: 'needs_reconnect', statusReason: 'TikTok revoked the access.' })
      .where(eq(connections.id, uploadOnlyId));
    try {
      const dead = await creatorInfo(uploadOnlyId);
      expect(dead.status, JSON.stringify(dead.body)).toBe(409);
      expect(dead.body.detail).toMatch(
        /^connectionId: TikTok revoked the access\. Connect the TikTok account again\.$/,
      );
    } finally {
      await app.db
        .update(connections)
        .set({ status: 'active', statusReason: null })
        .where(eq(connections.id, uploadOnlyId));
    }
  });

  it('the OpenAPI document describes directPostAllowed', async () => {
    const { body } = await call(app.baseUrl, '/api/v1/openapi.json');
    const ok = body.paths['/api/v1/connections/{id}/tiktok/creator-info'].get.responses['200'];
    const schema = ok.content['application/json'].schema;
    const resolved: Json = schema.$ref
      ? body.components.schemas[(schema.$ref as string).split('/').pop()!]
      : (schema as Json);
    expect(resolved.required).toContain('directPostAllowed');
    expect(resolved.properties.directPostAllowed.type).toBe('boolean');
  });
});

describe('the compose screen for a TikTok connection without video.publish', () => {
  let page: Page;
  const consoleErrors: string[] = [];

  beforeAll(async () => {
    browser = await launchBrowser();
    const context = await browser.newContext({ viewport: DESKTOP });
    // The emulated avatars live on .example hosts.
    const avatar = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#3d5a7a' } })
      .png()
      .toBuffer();
    await context.route(/^https:\/\/[^/]+\.example\//, (route) =>
      route.fulfill({ status: 200, contentType: 'image/png', body: avatar }),
    );
    await context.addCookies(
      user.browser.headers.cookie!.split('; ').map((c) => {
        const [name, ...rest] = c.split('=');
        return { name: name!, value: rest.join('='), url: app.baseUrl };
      }),
    );
    page = await context.newPage();
    page.on('console', (msg) => {
      if (msg.type() === 'error') consoleErrors.push(msg.text());
    });
    page.on('pageerror', (err) => consoleErrors.push(err.message));
  }, 120_000);

  it('offers only the inbox, asks for no privacy choice, and the draft reaches the inbox', async () => {
    await page.goto(`${app.baseUrl}/compose`);
    await expect.poll(() => page.getByRole('heading', { level: 1, name: 'Compose' }).isVisible()).toBe(true);
    await page.getByLabel('Choose photos or videos to upload').setInputFiles(clip);
    await expect
      .poll(() => page.getByRole('button', { name: 'Remove drafts.mp4' }).isVisible(), { timeout: 20_000 })
      .toBe(true);
    await page.getByRole('checkbox', { name: 'Generic', exact: true }).uncheck();
    await page.getByRole('checkbox', { name: 'Drafty Creator on TikTok' }).check();
    await page.getByRole('radio', { name: 'Write it myself' }).check();
    await page.getByLabel('Caption').fill('Drafts for the weekend #drafts');

    const tt = page.getByRole('group', { name: 'TikTok: Drafty Creator' });
    await expect.poll(() => tt.getByText('Posting to Drafty Creator').isVisible()).toBe(true);
    expect(await page.getByText(/Could not ask TikTok/).count()).toBe(0);
    // The inbox, chosen: the only way this connection allows.
    expect(await tt.getByRole('radio', { name: 'Post directly' }).count()).toBe(0);
    const inbox = tt.getByRole('radio', { name: /^Send to my TikTok inbox as a draft/ });
    await expect.poll(() => inbox.isChecked()).toBe(true);
    expect(await tt.getByText(/was connected without permission to post directly/).isVisible()).toBe(true);
    expect(await tt.getByRole('link', { name: 'connect the account again' }).getAttribute('href')).toBe('/accounts');
    // Direct Post's settings are the TikTok app's business for a draft (1.9).
    expect(await tt.getByLabel('Who can see this video').count()).toBe(0);
    expect(await tt.getByRole('checkbox', { name: 'Comment', exact: true }).count()).toBe(0);
    expect(await tt.getByRole('checkbox', { name: 'This video promotes a brand, product or service' }).count()).toBe(0);
    expect(await page.getByText(/choose who can see the TikTok post/).count()).toBe(0);

    const submit = page.getByRole('button', { name: 'Create post' });
    await expect.poll(() => submit.isDisabled()).toBe(false);
    await checkScreen(page, 'compose-tiktok-inbox-only', [
      'Posting to Drafty Creator',
      'Send to my TikTok inbox as a draft',
      'connect the account again',
    ]);

    const sent = new Promise<Json>((resolve) =>
      page.route('**/api/v1/posts', async (route) => {
        if (route.request().method() === 'POST') resolve(route.request().postDataJSON() as Json);
        await route.continue();
      }),
    );
    await submit.click();
    const body = await sent;
    expect(body.targets).toEqual([
      { type: 'tiktok', key: `tiktok-${uploadOnlyId.slice(0, 8)}`, connectionId: uploadOnlyId, mode: 'inbox' },
    ]);
    await page.waitForURL(/\/posts\/[0-9a-f-]{36}$/, { timeout: 20_000 });
    const postId = page.url().split('/').pop()!;
    const done = await waitForPost(user.api, postId, (p) => p.status === 'published', 90_000);
    expect((done.targets as Json[])[0]).toMatchObject({ status: 'published' });
    const drafts = (await published(tiktok.url)).filter((p) => p.params.mode === 'inbox');
    expect(drafts).toHaveLength(1);
    expect(await violations(tiktok.url)).toEqual([]);
    expect(consoleErrors.join('\n')).toBe('');
  });
});
