import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localTimeOf } from '../domain/campaign-schedule.js';
import { ensureWebBuilt } from '../scripts/build-web.mjs';
import { call, type Json, postJson, signUp, type TestUser } from './helpers/api.js';
import { DESKTOP, launchBrowser } from './helpers/browser.js';
import { startTestApp, type TestApp } from './helpers/harness.js';

// The campaign form in a browser whose zone is not the campaign's. UTC-12 and UTC+14 are 26 hours
// apart, so their dates differ whenever the test runs: the first day a campaign can start in one
// is never today in the other.

const WEST = 'Etc/GMT+12';
const EAST = 'Pacific/Kiritimati';
const todayIn = (timeZone: string) => localTimeOf(Date.now(), timeZone).slice(0, 10);
const dayAfter = (date: string, days: number) =>
  new Date(Date.parse(`${date}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);

let app: TestApp;
let browser: Browser;
let user: TestUser;
const contexts: BrowserContext[] = [];
/** Campaigns this file made: cancelled in afterAll, so no workflow is left waiting for slots. */
const made: string[] = [];

beforeAll(async () => {
  await ensureWebBuilt();
  app = await startTestApp();
  user = await signUp(app.baseUrl, 'Carla Campaigns');
  browser = await launchBrowser();
}, 120_000);

afterAll(async () => {
  for (const id of made) await postJson(user?.api, `/api/v1/campaigns/${id}/cancel`, {}).catch(() => {});
  for (const context of contexts) await context.close().catch(() => {});
  await browser?.close();
  await app?.stop();
});

/** The campaigns screen, signed in, in a browser whose zone is `timezoneId`. */
async function campaignsIn(timezoneId: string): Promise<Page> {
  const context = await browser.newContext({ viewport: DESKTOP, timezoneId, locale: 'en-US' });
  contexts.push(context);
  await context.addCookies(
    user.browser.headers.cookie!.split('; ').map((c) => {
      const [name, ...rest] = c.split('=');
      return { name: name!, value: rest.join('='), url: app.baseUrl };
    }),
  );
  const page = await context.newPage();
  await page.goto(`${app.baseUrl}/campaigns`);
  await expect.poll(() => page.getByRole('heading', { name: 'New campaign' }).isVisible()).toBe(true);
  return page;
}

const zoneField = (page: Page) => page.getByLabel('Time zone', { exact: true });
const firstDay = (page: Page) => page.getByLabel('First day', { exact: true });

async function campaignNamed(name: string): Promise<Json> {
  const list = await call(user.api, '/api/v1/campaigns');
  const id = (list.body.items as Json[]).find((c) => c.name === name)?.id as string | undefined;
  expect(id, `campaign ${name}`).toBeDefined();
  made.push(id!);
  return (await call(user.api, `/api/v1/campaigns/${id}`)).body;
}

describe("the new-campaign form's first day", () => {
  it("is today in the zone chosen, so a zone ahead of the browser's saves instead of being refused", async () => {
    const page = await campaignsIn(WEST);
    await expect.poll(() => zoneField(page).inputValue()).toBe(WEST);
    await expect.poll(() => firstDay(page).inputValue()).toBe(todayIn(WEST));

    await zoneField(page).fill(EAST);
    await expect.poll(() => firstDay(page).inputValue()).toBe(todayIn(EAST));
    await page.getByLabel('Campaign name', { exact: true }).fill('Island mornings');
    await page.getByLabel('Brief for every post', { exact: true }).fill('A tip for the day');
    await expect.poll(() => page.getByText(`Next posts (${EAST})`).isVisible()).toBe(true);
    await page.getByRole('button', { name: 'Create campaign' }).click();
    const row = page.locator('li.campaign', { hasText: 'Island mornings' });
    await expect.poll(() => row.isVisible(), { timeout: 20_000 }).toBe(true);

    const campaign = await campaignNamed('Island mornings');
    expect(campaign.settings).toMatchObject({ timeZone: EAST, startDate: todayIn(EAST) });
  });

  it("is today in a zone behind the browser's, not the browser's later date", async () => {
    const page = await campaignsIn(EAST);
    await expect.poll(() => firstDay(page).inputValue()).toBe(todayIn(EAST));
    await zoneField(page).fill(WEST);
    await expect.poll(() => firstDay(page).inputValue()).toBe(todayIn(WEST));
    // Back again: it still follows the zone while the person has not set the day.
    await zoneField(page).fill('UTC');
    await expect.poll(() => firstDay(page).inputValue()).toBe(todayIn('UTC'));
  });

  it('keeps a day the person set, whatever zone is chosen after it', async () => {
    const page = await campaignsIn(WEST);
    const chosen = dayAfter(todayIn(EAST), 5);
    await firstDay(page).fill(chosen);
    await expect.poll(() => firstDay(page).inputValue()).toBe(chosen);
    await zoneField(page).fill(EAST);
    await expect.poll(() => page.getByText(`Next posts (${EAST})`).isVisible()).toBe(true);
    expect(await firstDay(page).inputValue()).toBe(chosen);
    await zoneField(page).fill('Asia/Tokyo');
    await expect.poll(() => page.getByText('Next posts (Asia/Tokyo)').isVisible()).toBe(true);
    expect(await firstDay(page).inputValue()).toBe(chosen);
  });
});

describe("a campaign's row", () => {
  it('names a moved slot by the time it moved to in its "Next:" line, as the coming posts do', async () => {
    const first = dayAfter(todayIn('UTC'), 2);
    const created = await postJson(user.api, '/api/v1/campaigns', {
      name: 'Moved evenings',
      brief: { topic: 'An evening tip' },
      targets: [{ type: 'local_export' }],
      cadence: { kind: 'rrule', rule: 'FREQ=DAILY;BYHOUR=18' },
      timeZone: 'UTC',
      startDate: first,
      end: { count: 3 },
      review: { mode: 'auto' },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id = created.body.id as string;
    made.push(id);
    const moved = await postJson(user.api, `/api/v1/campaigns/${id}/move`, {
      slot: `${first}T18:00`,
      to: `${first}T07:15`,
    });
    expect(moved.status, JSON.stringify(moved.body)).toBe(200);
    // The API: the slot keeps its identity and happens at the new time.
    expect(moved.body.nextSlots[0]).toMatchObject({ slot: `${first}T18:00`, local: `${first}T07:15` });

    const page = await campaignsIn('UTC');
    const row = page.locator('li.campaign', { hasText: 'Moved evenings' });
    const next = row.locator('p.muted', { hasText: /^Next: / });
    await expect
      .poll(() => next.textContent(), { timeout: 15_000 })
      .toBe(`Next: ${first} at 07:15; ${dayAfter(first, 1)} at 18:00; ${dayAfter(first, 2)} at 18:00`);
    // The counts in words, not the API's keys.
    expect(await row.locator('p.muted', { hasText: /Awaiting review: 0/ }).textContent()).toBe(
      'Scheduled: 0 · Awaiting review: 0 · Published: 0 · Failed: 0 · Cancelled: 0 · Missed: 0 · Skipped: 0',
    );
    await row.getByText('Coming posts of Moved evenings').click();
    await expect.poll(() => row.getByText(`(moved from ${first} at 18:00)`).isVisible()).toBe(true);
  });
});
