import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { zonedTimeToInstant } from '../domain/zoned-time.js';
import { ensureWebBuilt } from '../scripts/build-web.mjs';
import { movedBy, movedStep, movedTo, shownDay } from '../web/src/calendar-move.js';
import { call, postJson, signUp, type TestUser, waitForPost } from './helpers/api.js';
import { DESKTOP, launchBrowser } from './helpers/browser.js';
import { startTestApp, type TestApp } from './helpers/harness.js';

// The calendar's days are the browser's days, and a post keeps its wall-clock time in the zone it
// was planned in. A move onto a day has to land on that day in the browser even where the two
// zones change their clocks on different dates: in 2027 New York moves its clocks forward on
// 14 March and Berlin on 28 March, so for those two weeks Berlin is 5 hours ahead instead of 6,
// and 05:00-06:00 in Berlin is just after midnight in New York instead of just before.

const NEW_YORK = 'America/New_York';
const BERLIN = 'Europe/Berlin';
const inBerlin = (local: string) => ({ at: zonedTimeToInstant(local, BERLIN).toISOString(), timeZone: BERLIN });

describe('a calendar day means the browser day, at the time the post keeps in its own zone', () => {
  it('shows a post on the day of its instant in the browser', () => {
    expect(shownDay(inBerlin('2027-03-15T05:30'), NEW_YORK)).toBe('2027-03-15'); // 00:30 EDT
    expect(shownDay(inBerlin('2027-03-13T05:30'), NEW_YORK)).toBe('2027-03-12'); // 23:30 EST
  });

  it('lands on the day it is moved to where counting days in one zone and adding them in the other would not', () => {
    // Fri Mar 12 23:30 here to Tue Mar 16: four days here are three in Berlin.
    const early = inBerlin('2027-03-13T05:30');
    expect(movedBy(early, 4, NEW_YORK).local).toBe('2027-03-17T05:30');
    expect(movedTo(early, '2027-03-16', NEW_YORK)).toEqual({ local: '2027-03-16T05:30', timeZone: BERLIN });
    // Sat Mar 27 00:30 here to Sun Mar 28: Berlin's Mar 28 05:30 is still Mar 27 here.
    const late = inBerlin('2027-03-27T05:30');
    expect(movedTo(late, '2027-03-28', NEW_YORK)).toEqual({ local: '2027-03-29T05:30', timeZone: BERLIN });
    expect(movedTo(late, '2027-03-26', NEW_YORK)).toEqual({ local: '2027-03-26T05:30', timeZone: BERLIN });
  });

  it('answers null for a day on which the time never falls here', () => {
    // Berlin's Mar 14 05:30 is Mar 13 23:30 here, its Mar 15 05:30 is Mar 15 00:30: no Mar 14.
    expect(movedTo(inBerlin('2027-03-15T05:30'), '2027-03-14', NEW_YORK)).toBeNull();
    // Autumn: Berlin goes back on 31 October 2027, New York on 7 November; no Oct 30 here.
    expect(movedTo(inBerlin('2027-10-29T05:30'), '2027-10-30', NEW_YORK)).toBeNull();
    expect(movedTo(inBerlin('2027-10-29T05:30'), '2027-10-31', NEW_YORK)).toEqual({
      local: '2027-10-31T05:30',
      timeZone: BERLIN,
    });
  });

  it('moves a day earlier or later onto the neighbouring day, or past it when the time cannot fall on it', () => {
    expect(movedStep(inBerlin('2027-03-27T05:30'), 1, NEW_YORK)).toEqual({
      day: '2027-03-28',
      publishAt: { local: '2027-03-29T05:30', timeZone: BERLIN },
      skipped: null,
    });
    expect(movedStep(inBerlin('2027-03-15T05:30'), -1, NEW_YORK)).toEqual({
      day: '2027-03-13',
      publishAt: { local: '2027-03-14T05:30', timeZone: BERLIN },
      skipped: '2027-03-14',
    });
  });

  it('is a plain count of days when both zones keep the same offset to each other', () => {
    const tokyo = { at: zonedTimeToInstant('2031-03-01T09:00', 'Asia/Tokyo').toISOString(), timeZone: 'Asia/Tokyo' };
    expect(movedTo(tokyo, '2031-03-03', 'Asia/Seoul')).toEqual({ local: '2031-03-03T09:00', timeZone: 'Asia/Tokyo' });
    // A post planned without a zone keeps the browser's: a plain count, across its change of clocks too.
    const unzoned = { at: '2027-03-13T10:30:00.000Z', timeZone: null }; // 05:30 EST
    expect(movedTo(unzoned, '2027-03-15', NEW_YORK)).toEqual({ local: '2027-03-15T05:30', timeZone: NEW_YORK });
  });
});

let app: TestApp;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let user: TestUser;

beforeAll(async () => {
  await ensureWebBuilt();
  app = await startTestApp();
  user = await signUp(app.baseUrl, 'Zelda Zones');
  browser = await launchBrowser();
  context = await browser.newContext({ viewport: DESKTOP, timezoneId: NEW_YORK, locale: 'en-US' });
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

/** A post planned in Berlin, waiting for its time. */
async function berlinPost(local: string): Promise<string> {
  const created = await postJson(user.api, '/api/v1/posts', {
    caption: `Berlin ${local}`,
    targets: [{ type: 'local_export', key: 'generic', platform: 'generic' }],
    publishAt: { local, timeZone: BERLIN },
    review: { mode: 'auto' },
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const id = created.body.id as string;
  await waitForPost(user.api, id, (p) => p.status === 'scheduled');
  return id;
}

const planned = async (id: string) => {
  const post = (await call(user.api, `/api/v1/posts/${id}`)).body;
  return { publishAt: post.publishAt as string, timeZone: post.timeZone as string };
};
const berlin = (local: string) => ({ publishAt: zonedTimeToInstant(local, BERLIN).toISOString(), timeZone: BERLIN });
/** The cell of one day, by the label it shows ("Sun, Mar 14"). */
const cell = (label: string) => page.locator('li.day', { has: page.locator('p.day-label', { hasText: label }) });
const event = (id: string) => page.locator('li.event', { has: page.locator(`a[href="/posts/${id}"]`) });
/** The label of the cell the post is shown in. */
const cellOf = (id: string) =>
  page
    .locator('li.day', { has: event(id) })
    .locator('p.day-label')
    .textContent({ timeout: 2000 });
const status = (text: string) => page.getByRole('status').filter({ hasText: text });

async function showMonth(title: string) {
  await page.goto(`${app.baseUrl}/calendar`);
  for (let i = 0; i < 24 && !(await page.getByText(title, { exact: true }).isVisible()); i++) {
    await page.getByRole('button', { name: 'Next month' }).click();
  }
  await expect.poll(() => page.getByText(title, { exact: true }).isVisible()).toBe(true);
}

/** From the month view of March 2027 to the week of Mon Mar 22 to Sun Mar 28. */
async function showWeekOfMarch22() {
  await page.getByRole('button', { name: 'Week', exact: true }).click();
  for (let i = 0; i < 8 && !(await page.getByText('Week of March 22, 2027').isVisible()); i++) {
    await page.getByRole('button', { name: 'Next week' }).click();
  }
  await expect.poll(() => page.getByText('Week of March 22, 2027').isVisible()).toBe(true);
}

async function drag(item: Locator, to: Locator) {
  await expect.poll(() => item.isVisible(), { timeout: 15_000 }).toBe(true);
  await item.dragTo(to);
}

describe('the calendar in New York, for posts planned in Berlin', () => {
  it('a drop lands the post on the day it was dropped on, in the month and the week view', async () => {
    const early = await berlinPost('2027-03-13T05:30'); // Fri Mar 12 23:30 here
    const late = await berlinPost('2027-03-22T05:50'); // Mon Mar 22 00:50 here
    await showMonth('March 2027');
    await expect.poll(() => cellOf(early), { timeout: 15_000 }).toBe('Fri, Mar 12');

    await drag(event(early), cell('Tue, Mar 16'));
    await expect.poll(() => status('Moved to 2027-03-16 at 05:30 (Europe/Berlin).').isVisible()).toBe(true);
    expect(await planned(early)).toEqual(berlin('2027-03-16T05:30'));
    await expect.poll(() => cellOf(early)).toBe('Tue, Mar 16');

    await showWeekOfMarch22();
    await drag(event(late), cell('Sun, Mar 28'));
    await expect.poll(() => status('Moved to 2027-03-29 at 05:50 (Europe/Berlin).').isVisible()).toBe(true);
    expect(await planned(late)).toEqual(berlin('2027-03-29T05:50'));
    await expect.poll(() => cellOf(late)).toBe('Sun, Mar 28');
  });

  it('the earlier/later buttons go to the next day, or past a day on which the time cannot fall, and say so', async () => {
    const post = await berlinPost('2027-03-27T05:30'); // Sat Mar 27 00:30 here
    await showMonth('March 2027');
    await showWeekOfMarch22();
    const later = event(post).getByRole('button', { name: /one day later/ });
    await expect.poll(() => later.isVisible(), { timeout: 15_000 }).toBe(true);
    await later.focus();
    await page.keyboard.press('Enter');
    await expect.poll(() => status('Moved to 2027-03-29 at 05:30 (Europe/Berlin).').isVisible()).toBe(true);
    expect(await planned(post)).toEqual(berlin('2027-03-29T05:30'));
    await expect.poll(() => cellOf(post)).toBe('Sun, Mar 28');

    const other = await berlinPost('2027-03-15T05:30'); // Mon Mar 15 00:30 here
    await showMonth('March 2027');
    const earlier = event(other).getByRole('button', { name: /one day earlier/ });
    await expect.poll(() => earlier.isVisible(), { timeout: 15_000 }).toBe(true);
    await earlier.click();
    await expect
      .poll(() =>
        status(
          'Moved to 2027-03-14 at 05:30 (Europe/Berlin). 05:30 (Europe/Berlin) never falls on Sun, Mar 14 here',
        ).isVisible(),
      )
      .toBe(true);
    expect(await planned(other)).toEqual(berlin('2027-03-14T05:30'));
    await expect.poll(() => cellOf(other)).toBe('Sat, Mar 13');
  });

  it('a drop on a day on which the time cannot fall here moves nothing and says why', async () => {
    const post = await berlinPost('2027-03-15T05:15'); // Mon Mar 15 00:15 here
    await showMonth('March 2027');
    await drag(event(post), cell('Sun, Mar 14'));
    await expect
      .poll(() =>
        page
          .getByRole('alert')
          .filter({ hasText: 'Not moved: 05:15 (Europe/Berlin) never falls on Sun, Mar 14 here' })
          .isVisible(),
      )
      .toBe(true);
    expect(await planned(post)).toEqual(berlin('2027-03-15T05:15'));
    expect(await cellOf(post)).toBe('Mon, Mar 15');
  });
});
