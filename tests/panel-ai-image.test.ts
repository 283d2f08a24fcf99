import { mkdir } from 'node:fs/promises';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EMULATOR_MODEL, type OpenAiEmulator, startOpenAiEmulator } from '../emulators/openai.js';
import { ensureWebBuilt } from '../scripts/build-web.mjs';
import { call, isFinished, type Json, signUp, type TestUser, uploadPhoto, waitForPost } from './helpers/api.js';
import { checkScreen, DESKTOP, launchBrowser, PANEL_ARTIFACTS } from './helpers/browser.js';
import { startTestApp, type TestApp } from './helpers/harness.js';

// Asking the AI for a post's picture from the panel: the compose screen's and the campaign form's
// "Also make a picture with AI", what the live media check makes of it, and an installation without
// an AI endpoint, where no picture can be made. Debian's Chromium against the running system, with
// the emulated OpenAI endpoint.

const NO_AI = 'No AI endpoint is configured, so drafts are written from the brief and no picture can be made.';
const INSTAGRAM_NEEDS = 'Instagram needs an image or a video; this post has none.';
const YOUTUBE_NEEDS = 'YouTube needs a video; this post has none.';

let openai: OpenAiEmulator;
let app: TestApp;
let user: TestUser;
let browser: Browser;
const contexts: BrowserContext[] = [];
const consoleErrors: string[] = [];

beforeAll(async () => {
  await ensureWebBuilt();
  openai = await startOpenAiEmulator();
  app = await startTestApp({
    env: { OPENAI_BASE_URL: openai.url, OPENAI_API_KEY: 'sk-test-ai-image', OPENAI_MODEL: EMULATOR_MODEL },
  });
  user = await signUp(app.baseUrl, 'Pia Picture');
  await mkdir(PANEL_ARTIFACTS, { recursive: true });
  browser = await launchBrowser();
}, 120_000);

afterAll(async () => {
  for (const context of contexts) await context.close().catch(() => {});
  await browser?.close();
  await app?.stop();
  await openai?.stop();
});

/** A browser tab signed in as `who`, on the app at `baseUrl`. */
async function pageFor(baseUrl: string, who: TestUser): Promise<Page> {
  const context = await browser.newContext({ viewport: DESKTOP });
  contexts.push(context);
  // A control that is not there fails the step within the test's time, saying which.
  context.setDefaultTimeout(15_000);
  await context.addCookies(
    who.browser.headers.cookie!.split('; ').map((c) => {
      const [name, ...rest] = c.split('=');
      return { name: name!, value: rest.join('='), url: baseUrl };
    }),
  );
  const page = await context.newPage();
  page.on('console', (msg) => {
    if (msg.type() === 'error') consoleErrors.push(msg.text());
  });
  page.on('pageerror', (err) => consoleErrors.push(err.message));
  return page;
}

/** The JSON body of the next `method` request the page sends to `path`. */
function nextBody(page: Page, method: string, path: string | RegExp): Promise<Json> {
  return new Promise<Json>((resolve) => {
    void page.route(path, async (route) => {
      if (route.request().method() === method) resolve(route.request().postDataJSON() as Json);
      await route.continue();
    });
  });
}

describe('asking the AI for a picture from the panel', () => {
  it('GET /api/v1/me says what AI can do here, never its key or address', async () => {
    const me = await call(user.browser, '/api/v1/me');
    expect(me.status, JSON.stringify(me.body)).toBe(200);
    expect(me.body).toMatchObject({ id: user.id, name: 'Pia Picture', ai: { drafting: 'ai', images: true } });
    expect(JSON.stringify(me.body)).not.toContain('sk-test-ai-image');
    expect(JSON.stringify(me.body)).not.toContain(openai.url);
    // The OpenAPI document describes the answer.
    const doc = await call(app.baseUrl, '/api/v1/openapi.json');
    const schema = doc.body.paths['/api/v1/me'].get.responses['200'].content['application/json'].schema;
    const ai = schema.properties?.ai ?? doc.body.components?.schemas?.[schema.$ref?.split('/').pop()]?.properties?.ai;
    expect(Object.keys(ai.properties)).toEqual(['drafting', 'images']);
  });

  it('compose: the live check counts the picture, and the post is published with it', async () => {
    const page = await pageFor(app.baseUrl, user);
    await uploadPhoto(user.api, 800, 600);
    await page.goto(`${app.baseUrl}/compose`);
    await expect.poll(() => page.getByRole('heading', { level: 1, name: 'Compose' }).isVisible()).toBe(true);
    await page.getByRole('checkbox', { name: 'Instagram', exact: true }).check();
    await page.getByRole('checkbox', { name: 'YouTube', exact: true }).check();
    await page.getByRole('radio', { name: 'Draft with AI from a brief' }).check();
    await page.getByLabel('Brief: what is the post about?').fill('First snow on the Zugspitze');
    const picture = page.getByRole('checkbox', { name: 'Also make a picture with AI' });
    await expect.poll(() => picture.count(), { timeout: 10_000 }).toBe(1);
    await expect.poll(() => picture.isEnabled()).toBe(true);
    expect(await picture.isChecked()).toBe(false);

    // Without the picture, the live check says what creation would: Instagram needs one.
    await expect.poll(() => page.getByText(INSTAGRAM_NEEDS).isVisible()).toBe(true);
    expect(await page.getByText(YOUTUBE_NEEDS).isVisible()).toBe(true);

    // With it, Instagram is content; YouTube still needs a video.
    await picture.check();
    await expect.poll(() => page.getByText(INSTAGRAM_NEEDS).count()).toBe(0);
    expect(await page.getByText(YOUTUBE_NEEDS).isVisible()).toBe(true);
    await checkScreen(page, 'compose-ai-picture', ['Also make a picture with AI', YOUTUBE_NEEDS]);

    // A post with media of its own gets no AI picture: the box is off and says why.
    await page.getByRole('button', { name: 'Pick from library' }).click();
    await page.getByRole('button', { name: 'photo.jpg', exact: true }).click();
    const why = 'The AI makes a picture only for a post without media of its own';
    await expect.poll(() => picture.isDisabled()).toBe(true);
    expect(await picture.isChecked()).toBe(false);
    expect(await page.getByText(why).isVisible()).toBe(true);
    expect(await picture.getAttribute('aria-describedby')).toBe(await page.getByText(why).getAttribute('id'));
    await page.getByRole('button', { name: 'Remove photo.jpg' }).click();
    await expect.poll(() => picture.isChecked()).toBe(true);
    expect(await page.getByText(why).count()).toBe(0);

    await page.getByRole('checkbox', { name: 'YouTube', exact: true }).uncheck();
    await expect
      .poll(() => page.getByText('The picture the AI will make suits every chosen platform.').isVisible())
      .toBe(true);
    // The preview shows the picture to come, and says the drafts go out unseen when that is chosen.
    expect(await page.getByText('The picture the AI will make', { exact: true }).count()).toBeGreaterThan(0);
    await page.getByRole('radio', { name: 'Publish without review' }).check();
    await expect
      .poll(() => page.getByText('it is published without review, as chosen.', { exact: false }).first().isVisible())
      .toBe(true);
    const sent = nextBody(page, 'POST', '**/api/v1/posts');
    await page.getByRole('button', { name: 'Draft with AI' }).click();
    const body = await sent;
    expect(body.brief).toEqual({ topic: 'First snow on the Zugspitze', generateImage: true });
    expect(body.mediaIds).toEqual([]);
    await page.waitForURL(/\/posts\/[0-9a-f-]{36}$/);
    const id = page.url().split('/').pop()!;

    const post = await waitForPost(user.api, id, isFinished, 60_000);
    expect(post.status, JSON.stringify(post.error)).toBe('published');
    expect(post.brief).toMatchObject({ topic: 'First snow on the Zugspitze', generateImage: true });
    expect(post.media).toHaveLength(1);
    expect(post.media[0]).toMatchObject({ mimeType: 'image/png', width: 1024, height: 1024 });
    expect(openai.requests.some((r) => r.path === '/v1/images/generations')).toBe(true);
  });

  it('campaign form: the picture is saved in the brief on create, and an edit sends only what changed', async () => {
    const page = await pageFor(app.baseUrl, user);
    await page.goto(`${app.baseUrl}/campaigns`);
    await expect.poll(() => page.getByText('No campaigns yet').isVisible()).toBe(true);
    await page.getByLabel('Campaign name').fill('Snow pictures');
    await page.getByLabel('Brief for every post').fill('The view from the summit this week');
    // Instagram needs a picture: the one the AI makes for each post.
    await page.getByRole('checkbox', { name: 'Instagram', exact: true }).check();
    const picture = page.getByRole('checkbox', { name: 'Also make a picture with AI for each post' });
    await expect.poll(() => picture.count(), { timeout: 10_000 }).toBe(1);
    await expect.poll(() => picture.isEnabled()).toBe(true);
    await picture.check();
    const created = nextBody(page, 'POST', '**/api/v1/campaigns');
    await page.getByRole('button', { name: 'Create campaign' }).click();
    expect((await created).brief).toEqual({ topic: 'The view from the summit this week', generateImage: true });
    const row = page.locator('li.campaign', { hasText: 'Snow pictures' });
    await expect.poll(() => row.locator('.badge').textContent(), { timeout: 20_000 }).toBe('Active');
    // The form is ready for the next campaign.
    expect(await picture.isChecked()).toBe(false);

    const list = await call(user.api, '/api/v1/campaigns');
    const id = (list.body.items as Json[]).find((c) => c.name === 'Snow pictures')!.id as string;
    const view = async () => (await call(user.api, `/api/v1/campaigns/${id}`)).body;
    expect((await view()).settings.brief).toMatchObject({
      topic: 'The view from the summit this week',
      generateImage: true,
    });

    // Editing shows the saved choice; turning it off (and Instagram with it) sends just those.
    await row.getByRole('button', { name: 'Edit Snow pictures' }).click();
    const edit = row.getByRole('checkbox', { name: 'Snow pictures: Also make a picture with AI for each post' });
    await expect.poll(() => edit.isChecked()).toBe(true);
    await expect.poll(() => edit.isEnabled()).toBe(true);
    await edit.uncheck();
    await row.getByRole('checkbox', { name: 'Instagram', exact: true }).uncheck();
    const patched = nextBody(page, 'PATCH', /\/api\/v1\/campaigns\/[0-9a-f-]{36}$/);
    await row.getByRole('button', { name: 'Save changes' }).click();
    const patch = await patched;
    expect(Object.keys(patch).sort()).toEqual(['brief', 'targets']);
    expect(patch.brief).toMatchObject({ topic: 'The view from the summit this week', generateImage: false });
    await expect.poll(async () => (await view()).settings.brief.generateImage, { timeout: 20_000 }).toBe(false);
  });

  it('without an AI endpoint the box is off and says why, in compose and in the campaign form', async () => {
    const offline = await startTestApp();
    let page: Page | undefined;
    try {
      const someone = await signUp(offline.baseUrl, 'Otto Offline');
      const me = await call(someone.browser, '/api/v1/me');
      expect(me.status, JSON.stringify(me.body)).toBe(200);
      expect(me.body.ai).toEqual({ drafting: 'offline', images: false });

      const tab = await pageFor(offline.baseUrl, someone);
      page = tab;
      await tab.goto(`${offline.baseUrl}/compose`);
      await expect.poll(() => tab.getByRole('heading', { level: 1, name: 'Compose' }).isVisible()).toBe(true);
      await tab.getByRole('checkbox', { name: 'Instagram', exact: true }).check();
      await tab.getByRole('radio', { name: 'Draft with AI from a brief' }).check();
      await tab.getByLabel('Brief: what is the post about?').fill('Fresh bread every morning');
      const picture = tab.getByRole('checkbox', { name: 'Also make a picture with AI' });
      await expect.poll(() => tab.getByText(NO_AI).isVisible()).toBe(true);
      expect(await picture.isDisabled()).toBe(true);
      expect(await picture.isChecked()).toBe(false);
      expect(await picture.getAttribute('aria-describedby')).toBe(await tab.getByText(NO_AI).getAttribute('id'));
      // No picture will come, so Instagram still needs one, as creation would say.
      await expect.poll(() => tab.getByText(INSTAGRAM_NEEDS).isVisible()).toBe(true);
      await checkScreen(tab, 'compose-ai-offline', ['Also make a picture with AI', NO_AI, INSTAGRAM_NEEDS]);

      await tab.goto(`${offline.baseUrl}/campaigns`);
      const campaignPicture = tab.getByRole('checkbox', { name: 'Also make a picture with AI for each post' });
      await expect.poll(() => tab.getByText(NO_AI).isVisible()).toBe(true);
      expect(await campaignPicture.isDisabled()).toBe(true);
      expect(await campaignPicture.getAttribute('aria-describedby')).toBe(
        await tab.getByText(NO_AI).getAttribute('id'),
      );
    } finally {
      // Closed before its server stops, so its polling does not end in refused connections.
      await page?.context().close();
      await offline.stop();
    }
    expect(consoleErrors.filter((e) => !/status of 4\d\d/.test(e)).join('\n')).toBe('');
  });
});
