import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { and, eq } from 'drizzle-orm';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { posts, publications } from '../db/schema.js';
import { type GoogleEmulator, startGoogleEmulator } from '../emulators/google.js';
import { startTikTokEmulator, type TikTokEmulator } from '../emulators/tiktok.js';
import { ensureWebBuilt } from '../scripts/build-web.mjs';
import { call, type Json, postJson, signUp, type TestUser, waitForPost } from './helpers/api.js';
import { checkScreen as checkPanelScreen, DESKTOP, launchBrowser, PANEL_ARTIFACTS } from './helpers/browser.js';
import { startTestApp, type TestApp } from './helpers/harness.js';
import { makeVideo, tempDir } from './helpers/media-files.js';
import { fault, switches } from './helpers/publishing.js';

// The panel's TikTok posting screen, per-platform previews, the calendar's week view, campaign
// editing with one slot skipped and one moved, and the "outcome unknown" notice, in Debian's
// Chromium against the running system with emulated TikTok and Google/YouTube.

const ARTIFACTS = PANEL_ARTIFACTS;

let app: TestApp;
let tiktok: TikTokEmulator;
let google: GoogleEmulator;
let api: { url: string };
let browser: Browser;
let context: BrowserContext;
let page: Page;
let clip: string;
let cleanupClip: () => Promise<void>;
let user: TestUser;
let tiktokId: string;
let youtubeId: string;
const consoleErrors: string[] = [];

beforeAll(async () => {
  await ensureWebBuilt();
  [tiktok, google] = await Promise.all([startTikTokEmulator(), startGoogleEmulator()]);
  app = await startTestApp({ env: { ...tiktok.env, ...google.env } });
  api = { url: app.baseUrl };
  // Redirect URIs and the consent flow go through the harness's API; sessions are rows, shared by both.
  user = await signUp(app.baseUrl, 'Cleo Compose');
  tiktokId = await connectOne('tiktok');
  youtubeId = await connectOne('youtube');

  const dir = await tempDir('panel-compose-');
  cleanupClip = dir.cleanup;
  clip = await makeVideo(join(dir.dir, 'larches.mp4'), { width: 180, height: 320, seconds: 2 });
  await mkdir(ARTIFACTS, { recursive: true });
  browser = await launchBrowser();
  context = await browser.newContext({ viewport: DESKTOP });
  const avatar = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#7a3d5a' } })
    .png()
    .toBuffer();
  await context.route(/^https:\/\/[^/]+\.example\//, (route) =>
    route.fulfill({ status: 200, contentType: 'image/png', body: avatar }),
  );
  const cookies = user.browser.headers.cookie!.split('; ').map((c) => {
    const [name, ...rest] = c.split('=');
    return { name: name!, value: rest.join('='), url: api.url };
  });
  await context.addCookies(cookies);
  page = await context.newPage();
  page.on('console', (msg) => {
    if (msg.type() === 'error') consoleErrors.push(msg.text());
  });
  page.on('pageerror', (err) => consoleErrors.push(err.message));
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await app?.stop();
  await Promise.all([tiktok?.stop(), google?.stop()]);
  await cleanupClip?.();
});

/** Like a browser: authorize, the emulated consent (approved at once), back to the callback with the cookie. */
async function connectOne(platform: string): Promise<string> {
  const start = await postJson(user.browser, `/api/v1/connections/${platform}/authorize`, {});
  expect(start.status, JSON.stringify(start.body)).toBe(200);
  const consent = await fetch(start.body.authorizeUrl as string, { redirect: 'manual' });
  const back = await fetch(consent.headers.get('location')!, {
    redirect: 'manual',
    headers: { cookie: user.browser.headers.cookie ?? '' },
  });
  const result = new URL(back.headers.get('location')!).searchParams;
  expect(result.get('status'), result.get('reason') ?? '').toBe('connected');
  return result.get('connections')!;
}

const as = (who: TestUser) => ({ url: api.url, headers: who.api.headers });
const creatorInfo = (who: TestUser, id: string) => call(as(who), `/api/v1/connections/${id}/tiktok/creator-info`);
const heading = (name: string) => page.getByRole('heading', { level: 1, name });
const nav = (name: string | RegExp) => page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name });
const day = (d: Date) =>
  `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;

const checkScreen = (name: string, mustSee: (string | RegExp)[]) => checkPanelScreen(page, name, mustSee);

describe('TikTok creator info', () => {
  it("answers the creator's current options, 404 for another user's connection, 409 for a YouTube one", async () => {
    const info = await creatorInfo(user, tiktokId);
    expect(info.status, JSON.stringify(info.body)).toBe(200);
    expect(info.body).toMatchObject({
      connectionId: tiktokId,
      nickname: 'Emulated Creator',
      username: 'emulated.creator',
      privacyLevelOptions: ['PUBLIC_TO_EVERYONE', 'MUTUAL_FOLLOW_FRIENDS', 'SELF_ONLY'],
      commentDisabled: false,
      duetDisabled: false,
      stitchDisabled: true,
      maxVideoPostDurationSec: 300,
      canPost: true,
    });
    expect(info.headers.get('cache-control')).toBe('no-store');

    // A private account: its own options, duet and stitch forced off.
    await switches(tiktok.url, { privateAccount: true });
    const priv = await creatorInfo(user, tiktokId);
    expect(priv.body.privacyLevelOptions).toEqual(['FOLLOWER_OF_CREATOR', 'MUTUAL_FOLLOW_FRIENDS', 'SELF_ONLY']);
    expect(priv.body).toMatchObject({ duetDisabled: true, stitchDisabled: true });
    await switches(tiktok.url, { privateAccount: false });

    const other = await signUp(app.baseUrl, 'Other Person');
    const foreign = await creatorInfo(other, tiktokId);
    expect(foreign.status).toBe(404);
    expect(foreign.headers.get('content-type')).toMatch(/problem\+json/);

    const youtube = await creatorInfo(user, youtubeId);
    expect(youtube.status).toBe(409);
    expect(youtube.headers.get('content-type')).toMatch(/problem\+json/);
    expect(youtube.body.detail).toMatch(
      /^connectionId: .* is a YouTube account; creator info exists only for TikTok\.$/,
    );

    // The token TikTok stops accepting is renewed through the connection's owner, and the answer still comes.
    await fault(tiktok.url, { kind: 'token_expired', on: 'creator_info' });
    const renewed = await creatorInfo(user, tiktokId);
    expect(renewed.status, JSON.stringify(renewed.body)).toBe(200);
    expect(renewed.body.nickname).toBe('Emulated Creator');

    // Throttled by TikTok: 503 with the wait.
    await fault(tiktok.url, { kind: 'rate_limit', on: 'creator_info', retryAfterSeconds: 30 });
    const throttled = await creatorInfo(user, tiktokId);
    expect(throttled.status).toBe(503);
    expect(throttled.headers.get('retry-after')).toBe('30');
    expect(throttled.body.detail).toMatch(/TikTok creator info/);
  });
});

describe('the compose screen for TikTok, previews, week view, campaign editing, unknown outcomes', () => {
  it("shows TikTok's required posting screen and sends the target the API takes", async () => {
    await page.goto(`${api.url}/compose`);
    await expect.poll(() => heading('Compose').isVisible()).toBe(true);
    await page.getByLabel('Choose photos or videos to upload').setInputFiles(clip);
    await expect
      .poll(() => page.getByRole('button', { name: 'Remove larches.mp4' }).isVisible(), { timeout: 20_000 })
      .toBe(true);
    await page.getByRole('checkbox', { name: 'Generic', exact: true }).uncheck();
    await page.getByRole('checkbox', { name: 'Emulated Creator on TikTok' }).check();

    const tt = page.getByRole('group', { name: 'TikTok: Emulated Creator' });
    await expect.poll(() => tt.getByText('Posting to Emulated Creator @emulated.creator').isVisible()).toBe(true);
    // Privacy: the creator's options only, and nothing chosen until the person chooses.
    const privacy = tt.getByLabel('Who can see this video');
    expect(await privacy.inputValue()).toBe('');
    expect(await privacy.locator('option:not([disabled])').allTextContents()).toEqual([
      'Everyone',
      'Friends (followers you follow back)',
      'Only me',
    ]);
    // Interactions off by default; Stitch greyed because the creator turned it off.
    for (const name of ['Comment', 'Duet', 'Stitch'])
      expect(await tt.getByRole('checkbox', { name, exact: true }).isChecked(), name).toBe(false);
    expect(await tt.getByRole('checkbox', { name: 'Stitch', exact: true }).isDisabled()).toBe(true);
    expect(await tt.getByRole('checkbox', { name: 'Duet', exact: true }).isDisabled()).toBe(false);
    expect(await tt.getByText('Videos up to 5 min on this account.').isVisible()).toBe(true);
    await expect.poll(() => tt.getByText(/takes a few minutes to process/).isVisible()).toBe(true);

    await page.getByRole('radio', { name: 'Write it myself' }).check();
    const caption =
      'Golden larches above the lake\nThe cable car runs until six; the ridge path takes two hours and the light is best just before sunset. #autumn #hiking';
    await page.getByLabel('Caption').fill(caption);

    // Nothing can be sent before a privacy level is chosen; the consent text stands before the button.
    const submit = page.getByRole('button', { name: 'Create post' });
    expect(await submit.isDisabled()).toBe(true);
    await expect
      .poll(() => page.getByText('Emulated Creator: choose who can see the TikTok post.').isVisible())
      .toBe(true);
    const consent = page.locator('p.consent');
    expect(await consent.textContent()).toBe("By posting, you agree to TikTok's Music Usage Confirmation.");
    expect(await consent.getByRole('link', { name: 'Music Usage Confirmation' }).getAttribute('href')).toBe(
      'https://www.tiktok.com/legal/page/global/music-usage-confirmation/en',
    );
    await privacy.selectOption({ label: 'Everyone' });
    await expect.poll(() => submit.isDisabled()).toBe(false);

    // Commercial content: off by default; turned on it needs a choice, each choice says its label.
    const disclose = tt.getByRole('checkbox', { name: 'This video promotes a brand, product or service' });
    expect(await disclose.isChecked()).toBe(false);
    await disclose.check();
    await expect
      .poll(() =>
        page
          .getByText(
            'Emulated Creator: you need to indicate if your content promotes yourself, a third party, or both.',
          )
          .isVisible(),
      )
      .toBe(true);
    expect(await submit.isDisabled()).toBe(true);
    await tt.getByRole('checkbox', { name: /^Your brand/ }).check();
    await expect
      .poll(() => tt.getByText('Your video will be labeled as “Promotional content”.').isVisible())
      .toBe(true);
    await tt.getByRole('checkbox', { name: /^Branded content/ }).check();
    await expect.poll(() => tt.getByText('Your video will be labeled as “Paid partnership”.').isVisible()).toBe(true);
    expect(await consent.textContent()).toBe(
      "By posting, you agree to TikTok's Branded Content Policy and Music Usage Confirmation.",
    );
    // Branded content cannot be private.
    expect(await privacy.locator('option', { hasText: 'Only me' }).isDisabled()).toBe(true);

    // Previews: TikTok as the creator, the YouTube account's title, an Instagram export's reel frame.
    await page.getByRole('checkbox', { name: /on YouTube$/ }).check();
    await page.getByRole('checkbox', { name: 'Instagram', exact: true }).check();
    const ttPreview = page.getByRole('region', { name: 'Preview on TikTok (Emulated Creator)' });
    await expect.poll(() => ttPreview.getByText('Video post, 9:16').isVisible()).toBe(true);
    expect(await ttPreview.locator('.preview-text').textContent()).toBe(
      'Golden larches above the lake\nThe cable car runs until six; the ridge path takes… more',
    );
    const ytPreview = page.getByRole('region', { name: /^Preview on YouTube/ });
    expect(await ytPreview.locator('.preview-title').textContent()).toBe('Golden larches above the lake');
    const igPreview = page.getByRole('region', { name: 'Preview on Instagram (your account)' });
    await expect.poll(() => igPreview.getByText('Reel, 9:16').isVisible()).toBe(true);
    await expect.poll(() => page.getByText(/Instagram: \d+ \/ 2200 characters/).isVisible()).toBe(true);
    // YouTube counts its title (the first line) on its own.
    expect(await page.getByText('YouTube: 29 / 100 characters (title)').isVisible()).toBe(true);
    await checkScreen('compose-tiktok', [
      'Posting to Emulated Creator',
      'Who can see this video',
      'Content disclosure',
      'Branded Content Policy',
      'Preview',
    ]);

    // What the panel sends: the API's target shape, the person's own choices and nothing defaulted.
    const sent = new Promise<Json>((resolve) =>
      page.route('**/api/v1/posts', async (route) => {
        if (route.request().method() === 'POST') resolve(route.request().postDataJSON() as Json);
        await route.continue();
      }),
    );
    await submit.click();
    const body = await sent;
    const tiktokTarget = body.targets.find((t: Json) => t.type === 'tiktok');
    expect(tiktokTarget).toEqual({
      type: 'tiktok',
      key: `tiktok-${tiktokId.slice(0, 8)}`,
      connectionId: tiktokId,
      mode: 'direct',
      privacyLevel: 'PUBLIC_TO_EVERYONE',
      disableComment: true,
      disableDuet: true,
      disableStitch: true,
      brandContent: true,
      brandOrganic: true,
      aigc: false,
    });
    expect(body.targets.find((t: Json) => t.type === 'youtube')).toMatchObject({
      connectionId: youtubeId,
      privacy: 'public',
      madeForKids: false,
    });
    expect(body.targets.find((t: Json) => t.type === 'local_export')).toEqual({
      type: 'local_export',
      key: 'instagram',
      platform: 'instagram',
    });
    // Whatever the API answers is shown: the post, or its refusal in words.
    await expect
      .poll(async () => /\/posts\/[0-9a-f-]{36}$/.test(page.url()) || (await page.getByRole('alert').count()) > 0)
      .toBe(true);
    await page.unroute('**/api/v1/posts');
  });

  it("follows the creator's TikTok settings: comments off, a private account, the inbox needs no privacy", async () => {
    await switches(tiktok.url, { commentDisabled: true, privateAccount: true });
    await page.goto(`${api.url}/compose`);
    await page.getByRole('checkbox', { name: 'Generic', exact: true }).uncheck();
    await page.getByRole('checkbox', { name: 'Emulated Creator on TikTok' }).check();
    const tt = page.getByRole('group', { name: 'TikTok: Emulated Creator' });
    await expect.poll(() => tt.getByText(/^Posting to Emulated Creator/).isVisible()).toBe(true);
    expect(await tt.getByLabel('Who can see this photo').locator('option:not([disabled])').allTextContents()).toEqual([
      'Followers',
      'Friends (followers you follow back)',
      'Only me',
    ]);
    const comment = tt.getByRole('checkbox', { name: 'Comment', exact: true });
    expect(await comment.isDisabled()).toBe(true);
    expect(await comment.isChecked()).toBe(false);
    expect(await tt.getByText("Greyed out: turned off in this account's TikTok settings.").isVisible()).toBe(true);
    // No media: a photo post, which has no duet or stitch.
    expect(await tt.getByRole('checkbox', { name: 'Duet', exact: true }).count()).toBe(0);
    await tt.getByRole('radio', { name: /^Send to my TikTok inbox/ }).check();
    expect(await tt.getByLabel('Who can see this photo').count()).toBe(0);
    await expect.poll(() => page.getByText('Emulated Creator: choose who can see the TikTok post.').count()).toBe(0);

    // A video longer than the creator may post stops the post before anything is sent.
    await switches(tiktok.url, { maxVideoPostDurationSec: 1 });
    await page.goto(`${api.url}/compose`);
    await page.getByRole('checkbox', { name: 'Emulated Creator on TikTok' }).check();
    await page.getByRole('button', { name: 'Pick from library' }).click();
    await page.getByRole('button', { name: 'larches.mp4' }).click();
    await expect
      .poll(() =>
        page
          .getByText(/^Emulated Creator: the video is \d+ s long; this account may post videos up to 1 s\.$/)
          .isVisible(),
      )
      .toBe(true);
    expect(await page.getByRole('button', { name: 'Create post' }).isDisabled()).toBe(true);
    await switches(tiktok.url, { commentDisabled: false, privateAccount: false, maxVideoPostDurationSec: 300 });
  });

  it('shows a week and moves a post in it by keyboard and by drag and drop', async () => {
    const timeZone = await page.evaluate(() => Intl.DateTimeFormat().resolvedOptions().timeZone);
    // Wednesday of next week: the day before and after are in the same week.
    const now = new Date();
    const monday = new Date(now.getFullYear(), now.getMonth(), now.getDate() - ((now.getDay() + 6) % 7) + 7);
    const wednesday = new Date(monday.getFullYear(), monday.getMonth(), monday.getDate() + 2);
    const thursday = new Date(monday.getFullYear(), monday.getMonth(), monday.getDate() + 3);
    const created = await postJson(user.api, '/api/v1/posts', {
      caption: 'Mid-week hut opening',
      targets: [{ type: 'local_export', key: 'generic' }],
      publishAt: { local: `${day(wednesday)}T09:15`, timeZone },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id = created.body.id as string;
    const planned = async () => new Date((await call(user.api, `/api/v1/posts/${id}`)).body.publishAt).getTime();
    const before = await planned();

    await page.goto(`${api.url}/calendar`);
    await page.getByRole('button', { name: 'Week', exact: true }).click();
    expect(await page.getByRole('button', { name: 'Week', exact: true }).getAttribute('aria-pressed')).toBe('true');
    await page.getByRole('button', { name: 'Next week' }).click();
    const weekTitle = `Week of ${monday.toLocaleDateString('en-US', { day: 'numeric', month: 'long', year: 'numeric' })}`;
    await expect.poll(() => page.getByText(weekTitle).isVisible()).toBe(true);
    expect(await page.locator('ol.calendar > li.day').count()).toBe(7);
    const later = page.getByRole('button', { name: 'Move 09:15 Generic one day later' });
    await expect.poll(() => later.isVisible(), { timeout: 15_000 }).toBe(true);
    await checkScreen('calendar-week', [weekTitle, '09:15 Generic', 'Nothing planned']);

    await later.focus();
    await page.keyboard.press('Enter');
    await expect.poll(() => page.getByText(`Moved to ${day(thursday)} at 09:15.`).isVisible()).toBe(true);
    expect((await planned()) - before).toBe(86_400_000);
    const event = page.locator('li.event', { hasText: '09:15 Generic' });
    const wednesdayCell = page.locator('li.day', {
      hasText: wednesday.toLocaleDateString('en-US', { weekday: 'short', day: 'numeric', month: 'short' }),
    });
    await event.dragTo(wednesdayCell);
    await expect.poll(() => page.getByText(`Moved to ${day(wednesday)} at 09:15.`).isVisible()).toBe(true);
    expect(await planned()).toBe(before);

    // A busy day in the month view lists four items and folds the rest behind "N more".
    for (const time of ['07:00', '11:00', '13:30', '18:45']) {
      const more = await postJson(user.api, '/api/v1/posts', {
        caption: `Hut update ${time}`,
        targets: [{ type: 'local_export', key: 'generic' }],
        publishAt: { local: `${day(wednesday)}T${time}`, timeZone },
      });
      expect(more.status, JSON.stringify(more.body)).toBe(201);
    }
    await page.getByRole('button', { name: 'Month', exact: true }).click();
    await expect.poll(() => page.locator('ol.calendar > li.day').count()).toBe(42);
    if (wednesday.getMonth() !== monday.getMonth()) await page.getByRole('button', { name: 'Next month' }).click();
    const longDay = wednesday.toLocaleDateString('en-US', { day: 'numeric', month: 'long' });
    const unfold = page.getByRole('button', { name: `Show all 5 on ${longDay}` });
    await expect.poll(() => unfold.isVisible(), { timeout: 15_000 }).toBe(true);
    expect(await unfold.textContent()).toBe('1 more');
    expect(await page.getByText('18:45 Generic').count()).toBe(0);
    await unfold.click();
    await expect.poll(() => page.getByText('18:45 Generic').isVisible()).toBe(true);
  });

  it('edits a campaign, skips one coming slot and moves another', async () => {
    const start = new Date(Date.now() + 8 * 86_400_000);
    const created = await postJson(user.api, '/api/v1/campaigns', {
      name: 'Hut news',
      brief: { topic: 'What is new at the hut this week' },
      targets: [{ type: 'local_export' }],
      cadence: { kind: 'weekly', slots: [{ day: 'tue', time: '08:00' }] },
      timeZone: 'Europe/Vienna',
      startDate: day(start),
      end: { count: 6 },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id = created.body.id as string;
    const view = async () => (await call(user.api, `/api/v1/campaigns/${id}`)).body;

    await page.goto(`${api.url}/campaigns`);
    const row = page.locator('li.campaign', { hasText: 'Hut news' });
    await expect.poll(() => row.locator('.badge').textContent(), { timeout: 20_000 }).toBe('Active');
    await row.getByRole('button', { name: 'Edit Hut news' }).click();
    await row.getByLabel('Hut news: Campaign name').fill('Hut news weekly');
    await row.getByLabel('Hut news: Time 1').fill('07:30');
    await expect.poll(() => row.getByText(/Next posts \(Europe\/Vienna\): .* at 07:30/).isVisible()).toBe(true);
    await row.getByRole('button', { name: 'Save changes' }).click();
    const edited = page.locator('li.campaign', { hasText: 'Hut news weekly' });
    await expect.poll(() => edited.getByText(/^Next: .* at 07:30/).isVisible(), { timeout: 20_000 }).toBe(true);
    await expect.poll(async () => (await view()).settings.cadence.slots[0].time).toBe('07:30');
    expect((await view()).settings.name).toBe('Hut news weekly');

    const [first, second] = (await view()).nextSlots as { slot: string; local: string }[];
    const words = (local: string) => local.replace('T', ' at ');
    await edited.getByText('Coming posts of Hut news weekly').click();
    await edited.getByRole('button', { name: `Skip ${words(first!.local)}` }).click();
    await expect.poll(() => edited.getByText(`Skipped ${words(first!.local)}.`).isVisible()).toBe(true);
    await expect
      .poll(async () => ((await view()).nextSlots as { slot: string }[]).some((s) => s.slot === first!.slot))
      .toBe(false);

    const to = `${second!.local.slice(0, 10)}T12:45`;
    await edited.getByRole('button', { name: `Move ${words(second!.local)}` }).click();
    await edited.getByLabel(`Move the post of ${words(second!.local)} to`).fill(to);
    await edited.getByRole('button', { name: 'Move', exact: true }).click();
    await expect
      .poll(() => edited.getByText(`Moved ${words(second!.local)} to ${words(to)}.`).isVisible(), { timeout: 20_000 })
      .toBe(true);
    await expect
      .poll(
        async () =>
          ((await view()).nextSlots as { slot: string; local: string }[]).find((s) => s.slot === second!.slot)?.local,
      )
      .toBe(to);
    await expect.poll(() => edited.getByText(`(moved from ${words(second!.slot)})`).isVisible()).toBe(true);
    expect(await edited.getByLabel(/^Move the post of/).count()).toBe(0);
    await checkScreen('campaign-edit', ['Hut news weekly', 'Coming posts of Hut news weekly', 'moved from']);
  });

  it('says "Outcome unknown: check the account" for such a target and links to the post', async () => {
    const created = await postJson(user.api, '/api/v1/posts', {
      caption: 'Snow report for the weekend',
      targets: [{ type: 'local_export' }, { type: 'local_export', key: 'facebook', platform: 'facebook' }],
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id = created.body.id as string;
    const done = await waitForPost(user.api, id, (p) => p.status === 'published', 60_000);
    expect(done.status).toBe('published');
    // What publishing records when Facebook's answer to a post was lost (another engineer's
    // publishers write it): the target's outcome unknown, the post partly published.
    await app.db
      .update(publications)
      .set({ status: 'unknown', lastError: 'Facebook did not answer; whether the post exists is unknown' })
      .where(and(eq(publications.postId, id), eq(publications.targetKey, 'facebook')));
    await app.db.update(posts).set({ status: 'partially_published', updatedAt: new Date() }).where(eq(posts.id, id));

    await page.goto(`${api.url}/`);
    await nav(/^Notifications/).click();
    const notice = page.locator('li', { hasText: 'Outcome unknown: check the account.' });
    await expect.poll(() => notice.isVisible(), { timeout: 20_000 }).toBe(true);
    expect(await notice.textContent()).toContain('“Snow report for the weekend” may or may not be on Facebook');
    // The post is not also called failed or partly published: its only trouble is the unknown outcome.
    expect(await page.getByText('“Snow report for the weekend” was only partly published.').count()).toBe(0);
    await checkScreen('notifications-unknown', ['Outcome unknown: check the account.', 'Open the post']);
    await notice.getByRole('link', { name: 'Open the post' }).click();
    await page.waitForURL(new RegExp(`/posts/${id}$`));
    const target = page.locator('li.target', { hasText: 'Outcome unknown: check the account.' });
    await expect.poll(() => target.isVisible()).toBe(true);
    expect(await target.locator('.badge').textContent()).toBe('Outcome unknown');
    expect(await target.locator('.row-title').textContent()).toBe('Facebook');
  });

  it('a TikTok connection TikTok no longer accepts answers 409, and the panel says to reconnect', async () => {
    for (const token of tiktok.kit.tokens.values()) token.state = 'revoked';
    const dead = await creatorInfo(user, tiktokId);
    expect(dead.status, JSON.stringify(dead.body)).toBe(409);
    expect(dead.headers.get('content-type')).toMatch(/problem\+json/);
    expect(dead.body.detail).toMatch(/^connectionId: .*connect the account again/i);
    expect(consoleErrors.filter((e) => !/status of (409|4\d\d)/.test(e)).join('\n')).toBe('');
  });
});
