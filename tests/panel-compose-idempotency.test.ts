import { and, eq } from 'drizzle-orm';
import type { Browser, BrowserContext, Page, Request, Route } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { posts } from '../db/schema.js';
import { ensureWebBuilt } from '../scripts/build-web.mjs';
import { type Json, signUp, type TestUser } from './helpers/api.js';
import { DESKTOP, launchBrowser } from './helpers/browser.js';
import { startTestApp, type TestApp } from './helpers/harness.js';

// The compose screen creates each post once: a create whose answer was lost, sent again, gets the
// post the server already made (same Idempotency-Key for the same body); a changed form after a
// failure is a new post (a new key, so no 422); a double submission sends one request. In Debian's
// Chromium against the running system.

let app: TestApp;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let user: TestUser;

beforeAll(async () => {
  await ensureWebBuilt();
  app = await startTestApp();
  user = await signUp(app.baseUrl, 'Ida Idempotent');
  browser = await launchBrowser();
  context = await browser.newContext({ viewport: DESKTOP });
  const cookies = user.browser.headers.cookie!.split('; ').map((c) => {
    const [name, ...rest] = c.split('=');
    return { name: name!, value: rest.join('='), url: app.baseUrl };
  });
  await context.addCookies(cookies);
  page = await context.newPage();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await app?.stop();
});

const POSTS = '**/api/v1/posts';
const isCreate = (request: Request) => request.method() === 'POST';
const keyOf = (request: Request) => request.headerValue('idempotency-key');
const postsWith = (caption: string) =>
  app.db
    .select({ id: posts.id, idempotencyKey: posts.idempotencyKey })
    .from(posts)
    .where(and(eq(posts.ownerId, user.id), eq(posts.caption, caption)));

/** The first create reaches the server and is saved there; its answer never reaches the browser. */
async function loseFirstAnswer(): Promise<{ created: Promise<{ status: number; body: Json; key: string | null }> }> {
  let resolve!: (v: { status: number; body: Json; key: string | null }) => void;
  const created = new Promise<{ status: number; body: Json; key: string | null }>((r) => {
    resolve = r;
  });
  let first = true;
  await page.route(POSTS, async (route: Route) => {
    if (!isCreate(route.request()) || !first) return route.continue();
    first = false;
    const response = await route.fetch();
    const body = (await response.json()) as Json;
    resolve({ status: response.status(), body, key: await keyOf(route.request()) });
    await route.abort('connectionreset');
  });
  return { created };
}

async function openCompose(caption: string) {
  await page.goto(`${app.baseUrl}/compose`);
  await expect.poll(() => page.getByRole('heading', { level: 1, name: 'Compose' }).isVisible()).toBe(true);
  await page.getByLabel('Caption').fill(caption);
  const submit = page.getByRole('button', { name: 'Create post' });
  await expect.poll(() => submit.isDisabled()).toBe(false);
  return submit;
}

const postIdInUrl = () => /\/posts\/([0-9a-f-]{36})$/.exec(page.url())?.[1];

describe('the compose screen creates a post once', () => {
  it('a create whose answer was lost, sent again, opens the post the server made, and there is one', async () => {
    const caption = `Lost answer ${Date.now()}: the ferry leaves at nine`;
    const submit = await openCompose(caption);
    const sent: (string | null)[] = [];
    const record = (r: Request) => {
      if (r.url().endsWith('/api/v1/posts') && isCreate(r)) void keyOf(r).then((k) => sent.push(k));
    };
    page.on('request', record);
    const { created } = await loseFirstAnswer();

    await submit.click();
    const first = await created;
    expect(first.status, JSON.stringify(first.body)).toBe(201);
    await expect
      .poll(() => page.getByRole('alert').filter({ hasText: 'The server could not be reached' }).isVisible())
      .toBe(true);
    expect(postIdInUrl()).toBeUndefined();

    // The person clicks again; this time the answer arrives.
    await page.unroute(POSTS);
    await submit.click();
    await page.waitForURL(/\/posts\/[0-9a-f-]{36}$/);
    page.off('request', record);

    const rows = await postsWith(caption);
    expect(
      rows.map((r) => r.id),
      'posts with the caption',
    ).toEqual([first.body.id]);
    expect(postIdInUrl()).toBe(first.body.id);
    // Both requests carried the same key, a UUID the server stored with the post.
    expect(sent).toHaveLength(2);
    expect(sent[0]).toMatch(/^[0-9a-f-]{36}$/);
    expect(sent[1]).toBe(sent[0]);
    expect(rows[0]!.idempotencyKey).toBe(sent[0]);
  });

  it('a changed form after a lost answer is a new post under a new key, not a 422', async () => {
    const stamp = Date.now();
    const before = `Changed form ${stamp}: the hut opens on Friday`;
    const after = `Changed form ${stamp}: the hut opens on Saturday`;
    const submit = await openCompose(before);
    const { created } = await loseFirstAnswer();
    await submit.click();
    const first = await created;
    expect(first.status, JSON.stringify(first.body)).toBe(201);
    await expect.poll(() => page.getByRole('alert').isVisible()).toBe(true);
    await page.unroute(POSTS);

    await page.getByLabel('Caption').fill(after);
    const second = page.waitForResponse((r) => r.url().endsWith('/api/v1/posts') && isCreate(r.request()));
    await submit.click();
    const answer = await second;
    expect(answer.status(), await answer.text()).toBe(201);
    const secondKey = await keyOf(answer.request());
    expect(secondKey).toMatch(/^[0-9a-f-]{36}$/);
    expect(secondKey).not.toBe(first.key);
    await page.waitForURL(/\/posts\/[0-9a-f-]{36}$/);
    const made = await postsWith(after);
    expect(made.map((r) => r.id)).toEqual([postIdInUrl()]);
    expect((await postsWith(before)).map((r) => r.id)).toEqual([first.body.id]);
  });

  it('two clicks before the screen redraws send one request', async () => {
    const caption = `Double click ${Date.now()}: trail closed after the storm`;
    await openCompose(caption);
    let requests = 0;
    await page.route(POSTS, async (route) => {
      if (isCreate(route.request())) requests++;
      await route.continue();
    });
    // Both clicks in one task, before Preact can redraw the button as disabled.
    // A script string: the test's own TypeScript has no DOM types.
    await page.evaluate(`(() => {
      const button = [...document.querySelectorAll('button[type="submit"]')].find(
        (b) => b.textContent === 'Create post',
      );
      button.click();
      button.click();
    })()`);
    await page.waitForURL(/\/posts\/[0-9a-f-]{36}$/);
    await page.unroute(POSTS);
    expect(requests).toBe(1);
    expect((await postsWith(caption)).map((r) => r.id)).toEqual([postIdInUrl()]);
  });
  it('makes its key without crypto.randomUUID, as over plain HTTP on a LAN address', async () => {
    // crypto.randomUUID exists only in secure contexts; the test's 127.0.0.1 is one, so take it away.
    await page.close();
    page = await context.newPage();
    await page.addInitScript({ content: 'delete Crypto.prototype.randomUUID;' });
    const caption = `No randomUUID ${Date.now()}: the pass is open again`;
    const submit = await openCompose(caption);
    expect(await page.evaluate(() => typeof crypto.randomUUID)).toBe('undefined');
    const { created } = await loseFirstAnswer();
    await submit.click();
    const first = await created;
    expect(first.status, JSON.stringify(first.body)).toBe(201);
    expect(first.key).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    await expect.poll(() => page.getByRole('alert').isVisible()).toBe(true);
    await page.unroute(POSTS);
    await submit.click();
    await page.waitForURL(/\/posts\/[0-9a-f-]{36}$/);
    expect((await postsWith(caption)).map((r) => r.id)).toEqual([first.body.id]);
    expect(postIdInUrl()).toBe(first.body.id);
  });
});
