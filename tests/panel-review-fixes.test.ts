import { join } from 'node:path';
import { and, eq } from 'drizzle-orm';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { campaigns, posts } from '../db/schema.js';
import { localTimeOf } from '../domain/campaign-schedule.js';
import { zonedTimeToInstant } from '../domain/zoned-time.js';
import { type GoogleEmulator, startGoogleEmulator } from '../emulators/google.js';
import { ensureWebBuilt } from '../scripts/build-web.mjs';
import { call, type Json, postJson, signUp, type TestUser, waitForPost } from './helpers/api.js';
import { DESKTOP, launchBrowser } from './helpers/browser.js';
import { startTestApp, type TestApp } from './helpers/harness.js';
import { makeVideo, tempDir } from './helpers/media-files.js';

// Panel defects from a review, in Debian's Chromium against the running system: a session that
// changed or ended while the panel was open, times shown and moved in the post's own zone, several
// uploads at once, AI-drafted posts named by their topic, campaign creation sent once, and the
// review deadline and media check of the compose screen.

let app: TestApp;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let user: TestUser;
let google: GoogleEmulator;
let landscapeClip: string;
let cleanupClip: () => Promise<void>;

beforeAll(async () => {
  await ensureWebBuilt();
  google = await startGoogleEmulator();
  app = await startTestApp({ env: google.env });
  user = await signUp(app.baseUrl, 'Rita Review');
  await connectYouTube();
  const dir = await tempDir('panel-review-');
  cleanupClip = dir.cleanup;
  landscapeClip = await makeVideo(join(dir.dir, 'pier.mp4'), { width: 320, height: 180, seconds: 2 });
  browser = await launchBrowser();
  // A zone of its own, so a time shown in the browser's zone cannot pass for the post's.
  context = await browser.newContext({ viewport: DESKTOP, timezoneId: 'America/New_York', locale: 'en-US' });
  await useCookiesOf(user);
  page = await context.newPage();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await app?.stop();
  await google?.stop();
  await cleanupClip?.();
});

/** Like a browser: authorize, the emulated consent (approved at once), back to the callback. */
async function connectYouTube() {
  const start = await postJson(user.browser, '/api/v1/connections/youtube/authorize', {});
  expect(start.status, JSON.stringify(start.body)).toBe(200);
  const consent = await fetch(start.body.authorizeUrl as string, { redirect: 'manual' });
  const back = await fetch(consent.headers.get('location')!, {
    redirect: 'manual',
    headers: { cookie: user.browser.headers.cookie ?? '' },
  });
  const result = new URL(back.headers.get('location')!).searchParams;
  expect(result.get('status'), result.get('reason') ?? '').toBe('connected');
}

async function useCookiesOf(who: TestUser) {
  const cookies = who.browser.headers.cookie!.split('; ').map((c) => {
    const [name, ...rest] = c.split('=');
    return { name: name!, value: rest.join('='), url: app.baseUrl };
  });
  await context.addCookies(cookies);
}

/** Another tab of the same browser: it shares the cookies, so what it does changes them for this one. */
const otherTab = {
  async signOut() {
    const csrf = (await context.cookies(app.baseUrl)).find((c) => c.name === 'app_csrf')?.value ?? '';
    const res = await context.request.post(`${app.baseUrl}/api/v1/auth/sign-out`, {
      headers: { 'x-csrf-token': decodeURIComponent(csrf) },
    });
    expect(res.status(), await res.text()).toBe(204);
  },
  async signIn(who: TestUser) {
    const res = await context.request.post(`${app.baseUrl}/api/v1/auth/sign-in`, {
      data: { email: who.email, password: who.password },
    });
    expect(res.status(), await res.text()).toBe(200);
  },
};

const heading = (name: string) => page.getByRole('heading', { level: 1, name });
const postIdInUrl = () => /\/posts\/([0-9a-f-]{36})$/.exec(page.url())?.[1];
const postsWith = (caption: string) =>
  app.db
    .select({ id: posts.id })
    .from(posts)
    .where(and(eq(posts.ownerId, user.id), eq(posts.caption, caption)));

/** A check whose failure is reported while the test goes on, so each defect it covers shows on its own. */
async function softly(what: string, check: () => Promise<unknown>) {
  let failure: unknown;
  await check().catch((err: unknown) => {
    failure = err instanceof Error ? err.message : err;
  });
  expect.soft(failure, what).toBeUndefined();
}

async function openCompose(caption: string) {
  await page.goto(`${app.baseUrl}/compose`);
  await expect.poll(() => heading('Compose').isVisible()).toBe(true);
  await page.getByLabel('Caption').fill(caption);
  const submit = page.getByRole('button', { name: 'Create post' });
  await expect.poll(() => submit.isDisabled()).toBe(false);
  return submit;
}

describe('a session that changed or ended while the panel was open', () => {
  it('after signing out and in again in another tab, the open screen still saves (the new CSRF token)', async () => {
    const caption = `New session ${Date.now()}: the lifts open at eight`;
    const submit = await openCompose(caption);
    await otherTab.signOut();
    await otherTab.signIn(user);

    await submit.click();
    await page.waitForURL(/\/posts\/[0-9a-f-]{36}$/);
    expect((await postsWith(caption)).map((p) => p.id)).toEqual([postIdInUrl()]);
  });

  it('a session that ended asks for the password over the screen, keeps what was typed and carries on', async () => {
    const caption = `Ended session ${Date.now()}: the bakery sells out by ten`;
    const submit = await openCompose(caption);
    await otherTab.signOut();

    await submit.click();
    const dialog = page.getByRole('dialog', { name: 'Sign in again' });
    await expect.poll(() => dialog.isVisible()).toBe(true);
    // The compose screen is still there underneath, with the caption as typed.
    expect(await page.getByLabel('Caption').inputValue()).toBe(caption);
    expect(await dialog.getByLabel('Email').inputValue()).toBe(user.email);
    await dialog.getByLabel('Password').fill(user.password);
    await dialog.getByRole('button', { name: 'Sign in' }).click();

    // The refused create goes through once signed in, without typing it again.
    await page.waitForURL(/\/posts\/[0-9a-f-]{36}$/);
    expect(await dialog.isVisible()).toBe(false);
    expect((await postsWith(caption)).map((p) => p.id)).toEqual([postIdInUrl()]);
  });
});

const TOKYO = 'Asia/Tokyo';

/** A post planned for 09:00 in Tokyo one or two days from now, waiting for its time. */
async function tokyoPost(caption: string): Promise<{ id: string; day: string }> {
  const day = localTimeOf(Date.now() + 2 * 86_400_000, TOKYO).slice(0, 10);
  const created = await postJson(user.api, '/api/v1/posts', {
    caption,
    targets: [{ type: 'local_export', key: 'generic', platform: 'generic' }],
    publishAt: { local: `${day}T09:00`, timeZone: TOKYO },
    review: { mode: 'auto' },
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const id = created.body.id as string;
  await waitForPost(user.api, id, (p) => p.status === 'scheduled');
  return { id, day };
}

describe("a post's own time zone", () => {
  it('the post page shows the planned time in the zone it names; a calendar move keeps that zone and time', async () => {
    const { id, day } = await tokyoPost(`Tokyo ${Date.now()}: the market opens at nine`);

    // 09:00 in Tokyo is 19:00 or 20:00 the evening before in New York, where the browser is.
    await page.goto(`${app.baseUrl}/posts/${id}`);
    const summary = page.locator('p.summary');
    await softly('the planned time in Tokyo', () =>
      expect.poll(() => summary.textContent()).toMatch(/Planned for .*\b9:00\sAM \(Asia\/Tokyo\)/),
    );

    // The calendar answers each post's own zone beside the local time in the zone asked for.
    const range = `from=${encodeURIComponent(new Date().toISOString())}&to=${encodeURIComponent(new Date(Date.now() + 5 * 86_400_000).toISOString())}`;
    const listed = await call(user.api, `/api/v1/calendar?${range}&timeZone=America%2FNew_York`);
    expect(listed.status, JSON.stringify(listed.body)).toBe(200);
    const item = (listed.body.items as Json[]).find((i) => i.postId === id);
    expect(item).toMatchObject({
      kind: 'post',
      timeZone: TOKYO,
      local: localTimeOf(Date.parse(item!.at), 'America/New_York'),
    });

    await page.goto(`${app.baseUrl}/calendar`);
    await expect.poll(() => heading('Calendar').isVisible()).toBe(true);
    const event = page.locator('li.event', { has: page.locator(`a[href="/posts/${id}"]`) });
    await event.getByRole('button', { name: /one day later/ }).click();
    await expect.poll(() => page.getByRole('status').filter({ hasText: 'Moved to' }).isVisible()).toBe(true);

    const next = localTimeOf(Date.parse(`${day}T12:00Z`) + 86_400_000, 'UTC').slice(0, 10);
    const moved = await waitForPost(
      user.api,
      id,
      (p) => p.publishAt !== null && Date.parse(p.publishAt) !== Date.parse(item!.at),
    );
    expect(moved.timeZone).toBe(TOKYO);
    expect(moved.publishAt).toBe(zonedTimeToInstant(`${next}T09:00`, TOKYO).toISOString());
  });
});

describe('the compose screen', () => {
  it('several files chosen at once each keep their own row, progress and error', async () => {
    await openCompose(`Uploads ${Date.now()}`);
    const photo = await sharp({ create: { width: 320, height: 240, channels: 3, background: '#3a7d44' } })
      .jpeg()
      .toBuffer();
    await page.getByLabel('Choose photos or videos to upload').setInputFiles([
      { name: 'harbour.jpg', mimeType: 'image/jpeg', buffer: photo },
      { name: 'notes.jpg', mimeType: 'image/jpeg', buffer: Buffer.from('not a picture at all, just words') },
      { name: 'harbour.jpg', mimeType: 'image/jpeg', buffer: photo },
    ]);
    const rows = page.locator('div.upload');
    await expect.poll(() => rows.count()).toBe(3);
    const broken = rows.filter({ hasText: 'notes.jpg' });
    await expect.poll(() => broken.getByRole('alert').textContent()).toMatch(/^notes\.jpg: /);
    // Both pictures of the same name finish in their own rows, with no error in either.
    const good = rows.filter({ hasText: 'harbour.jpg' });
    await expect.poll(() => good.locator('progress[value="100"]').count()).toBe(2);
    expect(await good.getByRole('alert').count()).toBe(0);
    // Each finished upload joins the chosen media when its answer is read, a moment after its bar is full.
    await expect
      .poll(() => page.getByRole('list', { name: 'Chosen media' }).getByRole('listitem').count(), { timeout: 15_000 })
      .toBe(2);
  });

  it("reads the review deadline in the post's chosen zone and says which", async () => {
    const caption = `Deadline ${Date.now()}: the pier reopens`;
    await openCompose(caption);
    await page.getByRole('radio', { name: 'At a time I choose' }).check();
    await page.getByLabel('Date and time').fill('2031-03-02T09:00');
    await page.getByLabel('Time zone').selectOption(TOKYO);
    await page.getByRole('radio', { name: 'I review the drafts first' }).check();
    const deadline = page.getByLabel(/Review deadline/);
    await deadline.fill('2031-03-01T18:00');
    expect.soft(await page.getByText(/Review deadline in Asia\/Tokyo/).count(), 'the label names the zone').toBe(1);
    await page.getByRole('button', { name: 'Schedule post' }).click();
    await page.waitForURL(/\/posts\/[0-9a-f-]{36}$/);
    const post = await call(user.api, `/api/v1/posts/${postIdInUrl()}`);
    expect(post.body.timeZone).toBe(TOKYO);
    expect(post.body.publishAt).toBe(zonedTimeToInstant('2031-03-02T09:00', TOKYO).toISOString());
    expect(post.body.review.deadline).toBe(zonedTimeToInstant('2031-03-01T18:00', TOKYO).toISOString());
  });

  it('checks the media again when a placement changes, and says why when the check is refused', async () => {
    await openCompose(`Media check ${Date.now()}`);
    await page.getByLabel('Choose photos or videos to upload').setInputFiles(landscapeClip);
    const chosen = page.getByRole('list', { name: 'Chosen media' }).getByRole('listitem');
    // A video is probed before it is listed: seconds on a busy machine.
    await expect.poll(() => chosen.count(), { timeout: 20_000 }).toBe(1);
    await page.getByRole('checkbox', { name: /on YouTube$/ }).check();
    const suits = page.getByText('The media suits every chosen platform.');
    await expect.poll(() => suits.isVisible()).toBe(true);

    // A landscape video is no Short: choosing that placement brings the problem up.
    await page.getByLabel('Post as').selectOption('short');
    const youtubeProblems = page.locator('.problems').filter({ hasText: /^YouTube/ });
    await softly('checked again for the placement', () => expect.poll(() => youtubeProblems.isVisible()).toBe(true));

    // The media is gone from the library meanwhile: the next check is refused, and the panel says why.
    const mediaId = /\/api\/v1\/media\/([0-9a-f-]{36})\//.exec(
      (await chosen.locator('img').getAttribute('src')) ?? '',
    )?.[1];
    const removed = await call(user.api, `/api/v1/media/${mediaId}`, { method: 'DELETE' });
    expect(removed.status, JSON.stringify(removed.body)).toBeLessThan(300);
    await page.getByRole('checkbox', { name: 'Generic', exact: true }).uncheck();
    await expect
      .poll(() => page.getByRole('alert').filter({ hasText: 'The media could not be checked' }).textContent())
      .toMatch(/no media with id/);
    expect(await youtubeProblems.count()).toBe(0);
  });
});

describe('posts drafted from a brief', () => {
  it('are listed by their topic once drafted, in the API summary and the panel', async () => {
    const topic = `Brief ${Date.now()}: autumn opening hours of the ferry`;
    const created = await postJson(user.api, '/api/v1/posts', {
      brief: { topic },
      targets: [{ type: 'local_export', key: 'generic', platform: 'generic' }],
      review: { mode: 'manual' },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id = created.body.id as string;
    await waitForPost(user.api, id, (p) => p.status === 'awaiting_review');

    const list = await call(user.api, '/api/v1/posts?limit=50');
    expect(list.status, JSON.stringify(list.body)).toBe(200);
    expect.soft((list.body.items as Json[]).find((p) => p.id === id)).toMatchObject({ caption: null, topic });

    await page.goto(`${app.baseUrl}/`);
    await expect.poll(() => page.locator(`a[href="/posts/${id}"]`).textContent()).toBe(topic);
  });
});

describe('creating a campaign', () => {
  it('a create whose answer was lost, sent again, makes one campaign: the same key for the same body', async () => {
    const name = `Lost campaign ${Date.now()}`;
    await page.goto(`${app.baseUrl}/campaigns`);
    await expect.poll(() => heading('Campaigns').isVisible()).toBe(true);
    await page.getByLabel('Campaign name', { exact: true }).fill(name);
    await page.getByLabel('Brief for every post', { exact: true }).fill('Weekly notes from the harbour');
    const keys: (string | null)[] = [];
    let first: number | null = null;
    await page.route('**/api/v1/campaigns', async (route) => {
      if (route.request().method() !== 'POST') return route.continue();
      keys.push(await route.request().headerValue('idempotency-key'));
      if (first !== null) return route.continue();
      // Made on the server; the answer never reaches the browser.
      first = (await route.fetch()).status();
      await route.abort('connectionreset');
    });
    const submit = page.getByRole('button', { name: 'Create campaign' });
    await submit.click();
    await expect
      .poll(() => page.getByRole('alert').filter({ hasText: 'The server could not be reached' }).isVisible())
      .toBe(true);
    expect(first).toBe(201);

    await submit.click();
    // Made: the form is cleared for the next one.
    await expect.poll(() => page.getByLabel('Campaign name', { exact: true }).inputValue()).toBe('');
    await page.unroute('**/api/v1/campaigns');
    expect(keys).toHaveLength(2);
    expect(keys[0]).toMatch(/^[0-9a-f-]{36}$/);
    expect(keys[1]).toBe(keys[0]);
    const rows = await app.db
      .select({ id: campaigns.id })
      .from(campaigns)
      .where(and(eq(campaigns.ownerId, user.id), eq(campaigns.name, name)));
    expect(rows).toHaveLength(1);
    // Cancelled again so its workflow makes no posts while the other checks run.
    const cancel = await postJson(user.api, `/api/v1/campaigns/${rows[0]!.id}/cancel`, {});
    expect(cancel.status, JSON.stringify(cancel.body)).toBe(200);
  });
});
