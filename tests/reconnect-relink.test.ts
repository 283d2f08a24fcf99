import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publications } from '../db/schema.js';
import { type FacebookEmulator, startFacebookEmulator } from '../emulators/facebook.js';
import {
  call,
  isFinished,
  type Json,
  postJson,
  signUp,
  type TestUser,
  uploadPhoto,
  waitForPost,
} from './helpers/api.js';
import { startTestApp, type TestApp } from './helpers/harness.js';
import { fault, type PublishedView, published, violations } from './helpers/publishing.js';

/**
 * A disconnect deletes the connection row and clears every target's link to it; connecting the same
 * account again makes a row with a new id. The target keeps the account's platform id, and the
 * reconnect links it back, so "connect it again, then retry" publishes, once. Another account under
 * the same Facebook login, or another user's connection of the same Page, links nothing.
 */

let app: TestApp;
let facebook: FacebookEmulator;
let owner: TestUser;

// The emulator's Pages (emulators/facebook.ts defaultFacebookUser): two under one Facebook login.
const BAKERY = '500000000000001';
const BOOKSHOP = '500000000000002';
const BAKERY_INSTAGRAM = '17841400000000001';

beforeAll(async () => {
  facebook = await startFacebookEmulator();
  app = await startTestApp({ env: { ...facebook.env, PUBLISH_POLL_INTERVAL_MS: '50' } });
}, 60_000);

afterAll(async () => {
  await app?.stop();
  await facebook?.stop();
});

/**
 * Facebook Login in a browser, then the pending choice confirmed with exactly these accounts (Pages,
 * or the Instagram accounts behind them with `instagram`).
 */
async function connectPages(who: TestUser, pageIds: string[], platform = 'facebook'): Promise<string[]> {
  const body = platform === 'instagram' ? { via: 'facebook' } : {};
  const start = await postJson(who.browser, `/api/v1/connections/${platform}/authorize`, body);
  expect(start.status, JSON.stringify(start.body)).toBe(200);
  const consent = await fetch(start.body.authorizeUrl as string, { redirect: 'manual' });
  const back = await fetch(consent.headers.get('location')!, {
    redirect: 'manual',
    headers: { cookie: who.browser.headers.cookie ?? '' },
  });
  const result = new URL(back.headers.get('location')!).searchParams;
  expect(result.get('status'), result.get('reason') ?? '').toBe('choose');
  const confirmed = await postJson(who.browser, `/api/v1/connections/pending/${result.get('pendingChoice')}/confirm`, {
    accountIds: pageIds,
  });
  expect(confirmed.status, JSON.stringify(confirmed.body)).toBe(201);
  return (confirmed.body.items as Json[]).map((c) => c.id as string);
}

async function disconnect(who: TestUser, connectionId: string): Promise<Json> {
  const res = await call(who.browser, `/api/v1/connections/${connectionId}`, { method: 'DELETE' });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}

async function createPost(who: TestUser, body: Json): Promise<string> {
  const res = await postJson(who.api, '/api/v1/posts', body);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.id as string;
}

async function approve(who: TestUser, postId: string): Promise<void> {
  await waitForPost(who.api, postId, (p) => p.status === 'awaiting_review');
  const res = await postJson(who.api, `/api/v1/posts/${postId}/review/approve`, {});
  expect(res.status, JSON.stringify(res.body)).toBeLessThan(300);
}

/** The workflow takes retries once its first round has ended, a moment after the post shows it. */
async function retry(who: TestUser, postId: string): Promise<void> {
  const send = () => postJson(who.api, `/api/v1/posts/${postId}/targets/facebook/retry`, {});
  let res = await send();
  for (let i = 0; i < 50 && res.status === 409; i++) {
    await new Promise((r) => setTimeout(r, 100));
    res = await send();
  }
  expect(res.status, JSON.stringify(res.body)).toBe(202);
}

async function row(postId: string, targetKey = 'facebook') {
  const [found] = await app.db
    .select({
      connectionId: publications.connectionId,
      platformAccountId: publications.platformAccountId,
      status: publications.status,
    })
    .from(publications)
    .where(and(eq(publications.postId, postId), eq(publications.targetKey, targetKey)));
  expect(found, `publication of ${postId}`).toBeDefined();
  return found!;
}

const target = (post: Json) => (post.targets as Json[]).find((t) => t.key === 'facebook')!;

/** What the Page received since `before`, by the platform post ids our targets recorded. */
async function receivedFor(before: PublishedView[], ...postIds: string[]) {
  const seen = new Set(before.map((i) => i.id));
  const fresh = (await published(facebook.url)).filter((i) => !seen.has(i.id));
  const ours = [];
  for (const postId of postIds) {
    const res = await call(owner.api, `/api/v1/posts/${postId}`);
    const id = String(target(res.body).platformPostId);
    ours.push(fresh.filter((i) => JSON.stringify(i).includes(id)));
  }
  return { fresh, ours };
}

describe('connecting a disconnected account again', () => {
  it('links its targets back: a failed target retries and publishes once; other accounts and users link nothing', async () => {
    owner = await signUp(app.baseUrl, 'Relink Owner');
    const stranger = await signUp(app.baseUrl, 'Relink Stranger');
    const [first] = await connectPages(owner, [BAKERY]);
    const before = await published(facebook.url);

    // Already published: a disconnect takes nothing from it.
    const done = await createPost(owner, {
      caption: 'Published before the disconnect',
      targets: [{ type: 'facebook', connectionId: first }],
    });
    expect((await waitForPost(owner.api, done, isFinished, 60_000)).status).toBe('published');

    // Refused by Facebook while still connected: failed, with its retry window open.
    await fault(facebook.url, {
      kind: 'answer',
      on: 'feed',
      status: 400,
      body: { error: { message: '(#100) Invalid parameter', type: 'OAuthException', code: 100, fbtrace_id: 'Rl' } },
    });
    const refused = await createPost(owner, {
      caption: 'Refused once',
      targets: [{ type: 'facebook', connectionId: first }],
    });
    expect((await waitForPost(owner.api, refused, isFinished, 60_000)).status).toBe('failed');

    // Waiting for review: it publishes only after the disconnect.
    const waiting = await createPost(owner, {
      caption: 'Approved after the disconnect',
      review: { mode: 'manual' },
      targets: [{ type: 'facebook', connectionId: first }],
    });
    for (const id of [done, refused, waiting]) {
      expect(await row(id)).toMatchObject({ connectionId: first, platformAccountId: BAKERY });
    }

    const gone = await disconnect(owner, first!);
    expect(new Set(gone.affectedPostIds as string[])).toEqual(new Set([refused, waiting]));

    await approve(owner, waiting);
    const failed = await waitForPost(owner.api, waiting, isFinished, 60_000);
    expect(failed.status).toBe('failed');
    expect(target(failed).error).toMatch(
      new RegExp(
        `Facebook account this target publishes through \\(id ${BAKERY}\\) was disconnected; connect this same account again .*then retry this target`,
      ),
    );
    for (const id of [refused, waiting]) {
      expect(await row(id)).toMatchObject({ connectionId: null, platformAccountId: BAKERY });
    }

    // Another user's connection of the very same Page is theirs alone.
    const [strangers] = await connectPages(stranger, [BAKERY]);
    expect(strangers).toBeDefined();
    // Another Page under the same Facebook login is another account.
    const [bookshop] = await connectPages(owner, [BOOKSHOP]);
    expect(bookshop).toBeDefined();
    for (const id of [refused, waiting]) expect((await row(id)).connectionId).toBeNull();

    const [again] = await connectPages(owner, [BAKERY]);
    expect(again).not.toBe(first);
    for (const id of [refused, waiting]) {
      expect(await row(id)).toMatchObject({ connectionId: again, platformAccountId: BAKERY });
    }
    // A published post is left as it ended.
    expect((await row(done)).connectionId).toBeNull();

    await retry(owner, refused);
    await retry(owner, waiting);
    for (const id of [refused, waiting]) {
      const post = await waitForPost(owner.api, id, (p) => p.status === 'published', 60_000);
      expect(target(post)).toMatchObject({ status: 'published', connectionId: again });
    }
    const { fresh, ours } = await receivedFor(before, done, refused, waiting);
    // Exactly three posts reached the Page: one per post, none twice, none through the stranger.
    expect(fresh).toHaveLength(3);
    for (const items of ours) expect(items).toHaveLength(1);
    expect(await violations(facebook.url)).toEqual([]);
  }, 240_000);

  it('a post still waiting for review publishes through the reconnected account without a retry', async () => {
    owner = await signUp(app.baseUrl, 'Relink Waiting');
    const [first] = await connectPages(owner, [BAKERY]);
    const before = await published(facebook.url);
    const waiting = await createPost(owner, {
      caption: 'Waited across a reconnect',
      review: { mode: 'manual' },
      targets: [{ type: 'facebook', connectionId: first }],
    });
    expect((await disconnect(owner, first!)).affectedPostIds).toEqual([waiting]);
    const [again] = await connectPages(owner, [BAKERY]);
    expect(again).not.toBe(first);
    await approve(owner, waiting);
    const post = await waitForPost(owner.api, waiting, isFinished, 60_000);
    expect(post.status, JSON.stringify(target(post))).toBe('published');
    expect(target(post).connectionId).toBe(again);
    const { fresh } = await receivedFor(before, waiting);
    expect(fresh).toHaveLength(1);
  }, 120_000);

  it('Instagram through a Facebook Page: its target follows the Instagram account, not the Page or the login', async () => {
    owner = await signUp(app.baseUrl, 'Relink Instagram');
    const [first] = await connectPages(owner, [BAKERY_INSTAGRAM], 'instagram');
    const photo = await uploadPhoto(owner.api, 1080, 1080);
    const waiting = await createPost(owner, {
      caption: 'A loaf, square',
      mediaIds: [photo],
      review: { mode: 'manual' },
      targets: [{ type: 'instagram', connectionId: first }],
    });
    expect(await row(waiting, 'instagram')).toMatchObject({ connectionId: first, platformAccountId: BAKERY_INSTAGRAM });
    expect((await disconnect(owner, first!)).affectedPostIds).toEqual([waiting]);

    // The Page the Instagram account hangs off, through the same login: another account.
    await connectPages(owner, [BAKERY]);
    expect((await row(waiting, 'instagram')).connectionId).toBeNull();

    const [again] = await connectPages(owner, [BAKERY_INSTAGRAM], 'instagram');
    expect(again).not.toBe(first);
    expect(await row(waiting, 'instagram')).toMatchObject({ connectionId: again, platformAccountId: BAKERY_INSTAGRAM });
  }, 120_000);
});
