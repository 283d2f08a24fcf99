import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ensureWebBuilt } from '../scripts/build-web.mjs';
import { signUp, type TestUser } from './helpers/api.js';
import { checkScreen, DESKTOP, launchBrowser } from './helpers/browser.js';
import { startTestApp, type TestApp } from './helpers/harness.js';

// The page a connection attempt ends on, in Debian's Chromium: the reason its link carries is shown
// only when this installation wrote it, so a link someone made up cannot put their words (a phone
// number to call, a site to visit) on the app's own page.

let app: TestApp;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let user: TestUser;

beforeAll(async () => {
  await ensureWebBuilt();
  // No TikTok app configured: connecting it fails, in the installation's own words.
  app = await startTestApp();
  user = await signUp(app.baseUrl, 'Rhea Result');
  browser = await launchBrowser();
  context = await browser.newContext({ viewport: DESKTOP });
  await context.addCookies(
    user.browser.headers.cookie!.split('; ').map((c) => {
      const [name, ...rest] = c.split('=');
      return { name: name!, value: rest.join('='), url: app.baseUrl };
    }),
  );
  page = await context.newPage();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await app?.stop();
});

it("shows the installation's reason, and not the words of a link someone made up", async () => {
  const back = await fetch(`${app.baseUrl}/api/v1/connections/tiktok/callback?state=s&code=c`, {
    redirect: 'manual',
    headers: { cookie: user.browser.headers.cookie ?? '' },
  });
  expect(back.status).toBe(302);
  const ours = new URL(back.headers.get('location')!);
  const reason = ours.searchParams.get('reason')!;
  expect(reason).toMatch(/TikTok/);

  await page.goto(ours.href);
  await checkScreen(page, 'connection-result-error', ['Connecting TikTok did not work', reason]);

  const madeUp = new URL(ours);
  madeUp.searchParams.set('reason', 'Your account is locked: call +1 555 0100 now');
  await page.goto(madeUp.href);
  await expect
    .poll(() => page.getByText('Start connecting again from the accounts page').first().isVisible())
    .toBe(true);
  expect(await page.textContent('body')).not.toContain('555');
});
