import { randomUUID } from 'node:crypto';
import { and, eq, isNull } from 'drizzle-orm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type DatabaseHandle, openDatabase } from '../db/client.js';
import { posts, publishingUsage } from '../db/schema.js';
import { QUOTA_DEFAULTS } from '../domain/quotas.js';
import { reserveQuota, takeCallSlot } from '../use-cases/publishing/quota-budget.js';
import { createTestDatabase } from './helpers/database.js';

// The publishing budgets as the database keeps them (use-cases/publishing/quota-budget.ts), read
// by every worker under an advisory lock. TikTok limits some endpoints per token per minute
// (platform-apis.md 1.6): that record of calls lives there too, so workers, and a worker that
// replaces a killed one, share it. Spends are one row per (post, target, budget).

let database: Awaited<ReturnType<typeof createTestDatabase>>;
let handle: DatabaseHandle;
beforeAll(async () => {
  database = await createTestDatabase();
  handle = await openDatabase({ url: database.url, dataDir: '/nonexistent' });
  await handle.migrate();
});
afterAll(async () => {
  await handle?.close();
  await database?.drop();
});

const callRows = (budget: string) =>
  handle.db
    .select({ at: publishingUsage.at })
    .from(publishingUsage)
    .where(and(eq(publishingUsage.budget, budget), isNull(publishingUsage.postId)));

it('a call over the limit is told when the oldest leaves the window; calls that left it are dropped', async () => {
  const t0 = Date.parse('2026-11-26T10:00:00Z');
  const take = (ms: number) => takeCallSlot(handle.db, 'tiktok-init-call:a', 3, 1000, new Date(t0 + ms));
  const taken = (ms: number) => ({ takenAt: new Date(t0 + ms) });
  expect(await take(0)).toEqual(taken(0));
  expect(await take(10)).toEqual(taken(10));
  expect(await take(20)).toEqual(taken(20));
  expect(await take(30)).toEqual({ fitsAt: new Date(t0 + 1000) });
  // Another token has a window of its own.
  expect(await takeCallSlot(handle.db, 'tiktok-init-call:b', 3, 1000, new Date(t0 + 30))).toEqual(
    expect.objectContaining({ takenAt: expect.any(Date) }),
  );
  expect(await take(1001)).toEqual(taken(1001));
  expect((await callRows('tiktok-init-call:a')).map((r) => r.at.getTime() - t0)).toEqual([10, 20, 1001]);
});

it('four workers taking calls at once never go past the limit in any window', async () => {
  const budget = 'tiktok-status:shared';
  const limit = 4;
  const windowMs = 600;
  const granted: number[] = [];
  // Each worker paces itself only through the database, as connected-target's `pace` does.
  const worker = async () => {
    for (let calls = 0; calls < 6; ) {
      const slot = await takeCallSlot(handle.db, budget, limit, windowMs);
      if ('takenAt' in slot) {
        granted.push(slot.takenAt.getTime());
        calls++;
      } else {
        await new Promise((resolve) => setTimeout(resolve, Math.max(5, slot.fitsAt.getTime() - Date.now())));
      }
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  expect(granted).toHaveLength(24);
  for (const t of granted) {
    const inWindow = granted.filter((other) => other > t - windowMs && other <= t);
    expect(inWindow.length, `calls in the ${windowMs} ms up to ${t}`).toBeLessThanOrEqual(limit);
  }
  // Twenty-four calls at four per window need at least five windows.
  expect(Math.max(...granted) - Math.min(...granted)).toBeGreaterThanOrEqual(5 * windowMs);
});

async function post(): Promise<string> {
  const id = randomUUID();
  await handle.db
    .insert(posts)
    .values({ id, status: 'publishing', requestHash: id, workflowId: `post-${id}`, caption: 'budget' });
  return id;
}

const DAY_MS = 86_400_000;
const settings = { ...QUOTA_DEFAULTS, TIKTOK_POSTS_PER_DAY: 2 };
const tiktokPost = (postId: string, at: Date, direct = true) =>
  reserveQuota(handle.db, settings, { platform: 'tiktok', accountId: 'creator', postId, targetKey: 'tt', direct }, at);
const directPost = (postId: string, at: Date) => tiktokPost(postId, at);

it('TikTok inbox drafts have a daily budget of their own: 5 pending shares a day (1.4), apart from Direct Posts', async () => {
  const t0 = new Date('2026-11-21T12:00:00Z');
  const minutes = (n: number) => new Date(t0.getTime() + n * 60_000);
  for (let i = 0; i < 5; i++) expect(await tiktokPost(await post(), minutes(i), false)).toEqual({ ok: true });
  expect(await tiktokPost(await post(), minutes(5), false)).toMatchObject({
    ok: false,
    at: new Date(t0.getTime() + DAY_MS),
    reason: expect.stringMatching(/TikTok inbox drafts/),
  });
  // Direct Posts count apart: the creator's inbox being full does not hold them.
  expect(await directPost(await post(), minutes(6))).toEqual({ ok: true });
});

it('a retried attempt keeps its spend; a retry after the window spends again and counts', async () => {
  const t0 = new Date('2026-11-20T12:00:00Z');
  const first = await post();
  expect(await directPost(first, t0)).toEqual({ ok: true });
  // The activity's own retry a minute later finds its spend: it neither waits nor counts twice.
  expect(await directPost(first, new Date(t0.getTime() + 60_000))).toEqual({ ok: true });
  const spends = () =>
    handle.db
      .select({ at: publishingUsage.at })
      .from(publishingUsage)
      .where(and(eq(publishingUsage.postId, first), eq(publishingUsage.budget, 'tiktok-post:creator')));
  expect((await spends()).map((s) => s.at)).toEqual([t0]);

  // Three days later a person retries the failed target: TikTok is asked again, so it counts.
  const later = new Date(t0.getTime() + 3 * DAY_MS);
  expect(await directPost(first, later)).toEqual({ ok: true });
  expect((await spends()).map((s) => s.at)).toEqual([later]);
  expect(await directPost(await post(), new Date(later.getTime() + 60_000))).toEqual({ ok: true });
  // Two Direct Posts in the last 24 hours: the third waits for the retry's spend to leave the window.
  expect(await directPost(await post(), new Date(later.getTime() + 120_000))).toMatchObject({
    ok: false,
    at: new Date(later.getTime() + DAY_MS),
  });
});
