import { randomUUID } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type DatabaseHandle, openDatabase } from '../db/client.js';
import { posts, publishingUsage } from '../db/schema.js';
import { QUOTA_DEFAULTS } from '../domain/quotas.js';
import { reserveQuota } from '../use-cases/publishing/quota-budget.js';
import { createTestDatabase } from './helpers/database.js';

// The publishing budgets as the database keeps them (use-cases/publishing/quota-budget.ts): one
// spend per (post, target, budget), read by every worker under an advisory lock.

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

async function post(): Promise<string> {
  const id = randomUUID();
  await handle.db
    .insert(posts)
    .values({ id, status: 'publishing', requestHash: id, workflowId: `post-${id}`, caption: 'budget' });
  return id;
}

const DAY_MS = 86_400_000;
const settings = { ...QUOTA_DEFAULTS, TIKTOK_POSTS_PER_DAY: 2 };
const directPost = (postId: string, at: Date) =>
  reserveQuota(
    handle.db,
    settings,
    { platform: 'tiktok', accountId: 'creator', postId, targetKey: 'tt', direct: true },
    at,
  );

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
