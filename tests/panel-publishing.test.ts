import { mkdir } from 'node:fs/promises';
import { workflowMetadataQuery } from '@temporalio/workflow';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FacebookEmulator, startFacebookEmulator } from '../emulators/facebook.js';
import { ensureWebBuilt } from '../scripts/build-web.mjs';
import { call, type Json, postJson, signUp, type TestUser, uploadPhoto } from './helpers/api.js';
import { checkScreen as checkPanelScreen, DESKTOP, launchBrowser, PANEL_ARTIFACTS } from './helpers/browser.js';
import { connectAccount } from './helpers/connect.js';
import { startTestApp, type TestApp } from './helpers/harness.js';
import { fault, published } from './helpers/publishing.js';

// The post page's way out of "outcome unknown", in Debian's Chromium against the running system:
// a Facebook photo post whose answer the emulated Graph API drops is really unknown, and the
// person confirms it (with or without its address) or sends it again from the panel.

const ARTIFACTS = PANEL_ARTIFACTS;

let app: TestApp;
let facebook: FacebookEmulator;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let user: TestUser;
let pageId: string;
let photoId: string;
const consoleErrors: string[] = [];

beforeAll(async () => {
  await ensureWebBuilt();
  facebook = await startFacebookEmulator();
  app = await startTestApp({ env: { ...facebook.env, PUBLISH_POLL_INTERVAL_MS: '50' } });
  user = await signUp(app.baseUrl, 'Uma Unknown');
  pageId = (await connectAccount(user, 'facebook', {}, 1))[0]!;
  photoId = await uploadPhoto(user.api, 1080, 1080);

  await mkdir(ARTIFACTS, { recursive: true });
  browser = await launchBrowser();
  context = await browser.newContext({ viewport: DESKTOP });
  await context.addCookies(
    user.browser.headers.cookie!.split('; ').map((c) => {
      const [name, ...rest] = c.split('=');
      return { name: name!, value: rest.join('='), url: app.baseUrl };
    }),
  );
  page = await context.newPage();
  page.on('console', (msg) => {
    // A refused address is answered 422 on purpose; the panel shows it in words.
    if (msg.type() === 'error' && !/status of 422/.test(msg.text())) consoleErrors.push(msg.text());
  });
  page.on('pageerror', (err) => consoleErrors.push(err.message));
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await app?.stop();
  await facebook?.stop();
});

const checkScreen = (name: string, mustSee: (string | RegExp)[]) => checkPanelScreen(page, name, mustSee);

/** A photo post to the Page whose answer Facebook drops: it may or may not be on the Page. */
async function lostAnswer(caption: string): Promise<string> {
  await fault(facebook.url, [{ kind: 'drop', on: 'photos' }]);
  const created = await postJson(user.api, '/api/v1/posts', {
    caption,
    mediaIds: [photoId],
    targets: [{ type: 'facebook', connectionId: pageId }],
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return created.body.id as string;
}

const facebookTarget = async (id: string) =>
  ((await call(user.api, `/api/v1/posts/${id}`)).body.targets as Json[]).find((t) => t.type === 'facebook')!;

/**
 * The workflow takes confirm and retry once the result is recorded and its retry window opens (a
 * moment after the post shows as failed); the post view does not say when, the workflow's details do.
 */
async function retryWindowOpen(id: string) {
  await expect
    .poll(
      async () =>
        (await app.temporal.workflow.getHandle(`post-${id}`).query(workflowMetadataQuery)).currentDetails ?? '',
      { timeout: 30_000, interval: 100 },
    )
    .toMatch(/retries possible until/);
}

/** The post page with its Facebook target shown as "outcome unknown". */
async function openUnknown(id: string) {
  await page.goto(`${app.baseUrl}/posts/${id}`);
  const row = page.locator('li.target', { hasText: 'Facebook' });
  await expect.poll(() => row.locator('.badge').textContent(), { timeout: 60_000 }).toBe('Outcome unknown');
  const target = await facebookTarget(id);
  expect(target.status).toBe('unknown');
  expect(target.outcomeUnknown.reason).toMatch(/check the account/);
  await expect
    .poll(() => row.locator('.unknown-outcome p').first().textContent())
    .toBe(`What happened: ${target.outcomeUnknown.reason}`);
  expect(await row.getByText('Outcome unknown: check the account.').isVisible()).toBe(true);
  await retryWindowOpen(id);
  return row;
}

describe('the post page when a platform may or may not have published', () => {
  it('shows the reason and records it as published with the address the person found', async () => {
    const id = await lostAnswer('Lost answer at the hut');
    const row = await openUnknown(id);
    expect(await row.getByRole('button', { name: 'It is there — confirm' }).isVisible()).toBe(true);
    expect(await row.getByRole('button', { name: 'Send again' }).isVisible()).toBe(true);
    expect(await row.getByRole('link', { name: /^Open on/ }).count()).toBe(0);
    await checkScreen('post-unknown', [
      'Outcome unknown: check the account.',
      'What happened:',
      'Address of the post on Facebook, if you found it (optional)',
      'It is there — confirm',
      'Send again',
    ]);
    const before = (await published(facebook.url)).length;

    // Not an address: refused in words naming the field, and nothing changes.
    const address = row.getByLabel('Address of the post on Facebook, if you found it (optional)');
    await address.fill('on the Page, second from the top');
    await row.getByRole('button', { name: 'It is there — confirm' }).click();
    await expect.poll(() => row.getByRole('alert').textContent(), { timeout: 20_000 }).toMatch(/url/);
    expect(await row.getByRole('alert').textContent()).toMatch(/http\(s\) address/);
    expect((await facebookTarget(id)).status).toBe('unknown');

    const found = 'https://www.facebook.com/100200300/posts/400500600';
    await address.fill(found);
    await row.getByRole('button', { name: 'It is there — confirm' }).click();
    await expect
      .poll(() => row.getByText('Recorded as published on Facebook; it will not be sent again.').isVisible(), {
        timeout: 20_000,
      })
      .toBe(true);
    await expect.poll(() => row.locator('.badge').textContent(), { timeout: 30_000 }).toBe('Published');
    const link = row.getByRole('link', { name: 'Open on Facebook' });
    await expect.poll(() => link.getAttribute('href')).toBe(found);
    expect((await facebookTarget(id)).url).toBe(found);
    expect(await row.getByText(/\(confirmed by you\)$/).isVisible()).toBe(true);
    expect(await row.getByRole('button', { name: 'Send again' }).count()).toBe(0);
    await expect.poll(() => page.locator('.summary .badge').textContent(), { timeout: 30_000 }).toBe('Published');
    // Taken at the person's word: nothing went to Facebook again.
    expect((await published(facebook.url)).length).toBe(before);
    await checkScreen('post-confirmed', ['Open on Facebook', 'confirmed by you', found]);
  }, 180_000);

  it('confirms without an address and says that none was given', async () => {
    const id = await lostAnswer('Lost answer, no address');
    const row = await openUnknown(id);
    const before = (await published(facebook.url)).length;
    await row.getByRole('button', { name: 'It is there — confirm' }).click();
    await expect.poll(() => row.locator('.badge').textContent(), { timeout: 30_000 }).toBe('Published');
    await expect
      .poll(() => row.getByText('No address was given when it was confirmed.').isVisible(), { timeout: 10_000 })
      .toBe(true);
    expect(await row.getByRole('link', { name: 'Open on Facebook' }).count()).toBe(0);
    const target = await facebookTarget(id);
    expect(target).toMatchObject({ status: 'published', url: null });
    expect((await published(facebook.url)).length).toBe(before);
  }, 120_000);

  it('sends it again on request and links to the post Facebook made', async () => {
    const id = await lostAnswer('Lost answer, sent again');
    const row = await openUnknown(id);
    const before = await published(facebook.url);
    await row.getByRole('button', { name: 'Send again' }).click();
    await expect.poll(() => row.getByText('Sending it to Facebook again.').isVisible(), { timeout: 20_000 }).toBe(true);
    await expect.poll(() => row.locator('.badge').textContent(), { timeout: 60_000 }).toBe('Published');
    const target = await facebookTarget(id);
    const link = row.getByRole('link', { name: 'Open on Facebook' });
    await expect.poll(() => link.getAttribute('href')).toBe(target.url);
    // The second send is a new photo post on the Page, and the link is that post's address.
    const after = await published(facebook.url);
    expect(after).toHaveLength(before.length + 1);
    const item = after.at(-1)!;
    expect(item.kind).toBe('photo');
    expect(target.platformPostId).toBe(item.id);
    expect(target.url).toBe(`https://www.facebook.com/${item.id}`);
    expect(item.params.caption).toBe('Lost answer, sent again');
    expect(await row.getByText(/\(confirmed by you\)/).count()).toBe(0);
    await checkScreen('post-sent-again', ['Open on Facebook', target.url as string]);
    expect(consoleErrors.join('\n')).toBe('');
  }, 180_000);
});
