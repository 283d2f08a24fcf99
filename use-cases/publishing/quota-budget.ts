import { and, asc, eq, gte, inArray, isNull, like, lt, or, sql } from 'drizzle-orm';
import type { Database } from '../../db/client.js';
import { publications, publishingUsage, renditions } from '../../db/schema.js';
import {
  facebookReelSlot,
  instagramSlot,
  movingWindow,
  type QuotaSettings,
  quotaDayStart,
  type Spend,
  tiktokSlot,
  type Verdict,
  youtubeUploadSlot,
} from '../../domain/quotas.js';
import type { Platform } from '../../platforms/connector.js';
import { EXTRA_CONTAINERS, plannedContainers } from '../../platforms/instagram/container-plan.js';

/** What one target is about to spend. */
export interface QuotaRequest {
  platform: Platform;
  /** The platform's account id (budgets per creator, Instagram account, Page). */
  accountId: string;
  postId: string;
  targetKey: string;
  /** TikTok Direct Post (counts against the creator's daily cap) rather than an inbox draft. */
  direct?: boolean;
  /** Facebook: a Reel (the only Facebook budget). */
  reel?: boolean;
  /** YouTube: a custom thumbnail costs units too. */
  thumbnail?: boolean;
}

const DAY_MS = 86_400_000;

/** A TikTok creator's daily cap this request counts against: Direct Posts, or drafts sent to the inbox. */
const tiktokDailyBudget = (request: QuotaRequest) =>
  `${request.direct ? 'tiktok-post' : 'tiktok-inbox'}:${request.accountId}`;

/** The budgets a request spends from, and how much of each. */
function spendsOf(
  request: QuotaRequest,
  settings: QuotaSettings,
  containers: number,
): { budget: string; amount: number }[] {
  const a = request.accountId;
  switch (request.platform) {
    case 'youtube':
      return [
        {
          budget: 'youtube:units',
          amount: settings.YOUTUBE_INSERT_UNITS + (request.thumbnail ? settings.YOUTUBE_THUMBNAIL_UNITS : 0) + 2,
        },
        { budget: 'youtube:inserts', amount: 1 },
      ];
    case 'instagram':
      return [
        { budget: `instagram:${a}`, amount: 1 },
        { budget: instagramContainerBudget(a), amount: containers },
      ];
    case 'tiktok':
      return [
        { budget: `tiktok-init:${a}`, amount: 1 },
        { budget: tiktokDailyBudget(request), amount: 1 },
      ];
    case 'facebook':
      return request.reel ? [{ budget: `facebook-reels:${a}`, amount: 1 }] : [];
  }
}

const instagramContainerBudget = (accountId: string) => `instagram-containers:${accountId}`;

/**
 * The containers an Instagram target makes: its renditions in the shape its publisher gives them
 * (a carousel of 10 is 11), plus any its journal says were made again since.
 */
async function instagramContainers(db: Database, postId: string, targetKey: string): Promise<number> {
  const rows = await db
    .select({
      options: publications.options,
      journal: publications.journal,
      position: renditions.position,
      placement: renditions.placement,
    })
    .from(publications)
    .leftJoin(
      renditions,
      and(eq(renditions.postId, publications.postId), eq(renditions.targetKey, publications.targetKey)),
    )
    .where(and(eq(publications.postId, postId), eq(publications.targetKey, targetKey)))
    .orderBy(asc(renditions.position));
  const first = rows[0];
  if (!first) return 1;
  const files = rows.filter((r) => r.position !== null).length;
  const chosen = first.options?.placement;
  const placement = typeof chosen === 'string' ? chosen : first.placement;
  const extra = Number(first.journal?.[EXTRA_CONTAINERS] ?? 0);
  return plannedContainers(files, placement) + (Number.isFinite(extra) && extra > 0 ? extra : 0);
}

/** Containers: the whole post's count must fit, said in words with when it will. */
function instagramContainerSlot(spends: Spend[], settings: QuotaSettings, now: Date, amount: number): Verdict {
  const limit = settings.INSTAGRAM_CONTAINERS_PER_DAY;
  const verdict = movingWindow(spends, limit, DAY_MS, now, amount, 'Instagram containers');
  if (verdict.ok || amount > limit) return verdict;
  const used = spends
    .filter((s) => s.at.getTime() > now.getTime() - DAY_MS && s.at.getTime() <= now.getTime())
    .reduce((n, s) => n + s.amount, 0);
  return {
    ...verdict,
    reason: `Instagram containers: this post needs ${amount} and ${used} of the account's ${limit} per 24 hours are in use; it fits at ${verdict.at.toISOString()}`,
  };
}

const later = (a: Verdict, b: Verdict): Verdict => (a.ok ? b : b.ok ? a : a.at >= b.at ? a : b);

/**
 * Reserves this target's share of every budget it spends from, or says when it fits. Budgets are
 * locked (transaction-scoped advisory locks, in a fixed order) while they are read and spent, so
 * two workers can never both take the last unit. A retried attempt finds its own spend and goes on:
 * one row per (post, target, budget). A spend that has left the window no longer covers the target:
 * a person's retry days later calls the platform again, so it is spent again, in place of the old row.
 */
export async function reserveQuota(
  db: Database,
  settings: QuotaSettings,
  request: QuotaRequest,
  now = new Date(),
): Promise<Verdict> {
  const containers =
    request.platform === 'instagram' ? await instagramContainers(db, request.postId, request.targetKey) : 0;
  const wanted = spendsOf(request, settings, containers);
  if (wanted.length === 0) return { ok: true };
  const budgets = wanted.map((w) => w.budget).sort();
  return db.transaction(async (tx) => {
    for (const budget of budgets) await tx.execute(sql`select pg_advisory_xact_lock(hashtext(${budget}))`);
    const since = new Date(Math.min(quotaDayStart(now).getTime(), now.getTime() - DAY_MS));
    const rows = await tx
      .select()
      .from(publishingUsage)
      .where(and(inArray(publishingUsage.budget, budgets), gte(publishingUsage.at, since)));
    const mine = rows.filter((r) => r.postId === request.postId && r.targetKey === request.targetKey);
    // Covered when every budget holds at least what is wanted now: a container made again wants more.
    const covered = wanted.every((w) => mine.some((r) => r.budget === w.budget && r.amount >= w.amount));
    if (covered) return { ok: true } as Verdict;
    const others = rows.filter((r) => !(r.postId === request.postId && r.targetKey === request.targetKey));
    const spends = (budget: string): Spend[] =>
      others.filter((r) => r.budget === budget).map((r) => ({ at: r.at, amount: r.amount }));
    const dates = (budget: string) => spends(budget).map((s) => s.at);
    const a = request.accountId;
    const verdict: Verdict =
      request.platform === 'youtube'
        ? youtubeUploadSlot(
            { units: spends('youtube:units'), inserts: dates('youtube:inserts') },
            settings,
            now,
            request.thumbnail === true,
          )
        : request.platform === 'instagram'
          ? later(
              instagramSlot(dates(`instagram:${a}`), settings, now),
              instagramContainerSlot(spends(instagramContainerBudget(a)), settings, now, containers),
            )
          : request.platform === 'tiktok'
            ? tiktokSlot(
                dates(`tiktok-init:${a}`),
                dates(tiktokDailyBudget(request)),
                settings,
                now,
                request.direct === true,
              )
            : facebookReelSlot(dates(`facebook-reels:${a}`), settings, now);
    if (!verdict.ok) return verdict;
    await tx
      .insert(publishingUsage)
      .values(wanted.map((w) => ({ ...w, at: now, postId: request.postId, targetKey: request.targetKey })))
      .onConflictDoUpdate({
        target: [publishingUsage.postId, publishingUsage.targetKey, publishingUsage.budget],
        set: { at: now, amount: sql`excluded.amount` },
        // A spend the window no longer sees, or one that holds less than is wanted now (containers
        // made again); any other inside it is this target's and still counts as it is.
        setWhere: or(lt(publishingUsage.at, since), lt(publishingUsage.amount, sql`excluded.amount`)),
      });
    return verdict;
  });
}

/**
 * Gives back what a target the platform refused had reserved from a budget the platform counts
 * only when it publishes: Instagram's limit is enforced on media_publish, so a refusal before that
 * call (a container Instagram would not make or process) cost nothing there. Without this, a batch
 * of refused posts would hold a day's budget that the account's next posts wait for. Instagram's
 * containers count when they are made, so their share is given back only when the journal shows
 * none was. Budgets counted per request, or where the platform does not say what a refusal costs,
 * stay spent: YouTube's units, TikTok's starts and daily posts, Facebook's Reel starts.
 */
export async function releaseUnpublished(
  db: Database,
  target: { platform: Platform; postId: string; targetKey: string; journal: Record<string, unknown> | null },
): Promise<void> {
  const journal = target.journal;
  if (target.platform !== 'instagram' || journal?.publishSent) return;
  const madeContainers =
    Boolean(journal?.containerId) ||
    (Array.isArray(journal?.childIds) && journal.childIds.length > 0) ||
    Number(journal?.[EXTRA_CONTAINERS] ?? 0) > 0;
  await db
    .delete(publishingUsage)
    .where(
      and(
        eq(publishingUsage.postId, target.postId),
        eq(publishingUsage.targetKey, target.targetKey),
        madeContainers
          ? like(publishingUsage.budget, 'instagram:%')
          : or(like(publishingUsage.budget, 'instagram:%'), like(publishingUsage.budget, 'instagram-containers:%')),
      ),
    );
  // The journal is about to start afresh: the containers made stay spent, but no longer as this target's.
  if (madeContainers) await keepContainersSpent(db, target);
}

/**
 * Detaches a target's container spend from the target, still counted in the account's window.
 * Called when its journal starts afresh (after a refusal, or a person's retry after an unknown
 * outcome): the next attempt makes containers anew, and a spend still attached to the target would
 * count as already covering them.
 */
export async function keepContainersSpent(db: Database, target: { postId: string; targetKey: string }): Promise<void> {
  await db
    .update(publishingUsage)
    .set({ targetKey: sql`${publishingUsage.targetKey} || '#spent-' || ${publishingUsage.id}::text` })
    .where(
      and(
        eq(publishingUsage.postId, target.postId),
        eq(publishingUsage.targetKey, target.targetKey),
        like(publishingUsage.budget, 'instagram-containers:%'),
      ),
    );
}

/**
 * The window paced calls are counted over: a second more than the platform's minute, because a
 * request reaches the platform a little after it is counted here.
 */
export const CALL_WINDOW_MS = 61_000;

/**
 * One call to an endpoint a platform limits per token over a sliding window (TikTok's inits and
 * status fetches): recorded when it fits (`takenAt`), or else the time it will fit (`fitsAt`). Every worker, and the
 * worker that replaces a killed one, reads the same record: counted per process, a replacement
 * started from nothing and went past TikTok's limits (the kill drill, seed 972075).
 */
export async function takeCallSlot(
  db: Database,
  budget: string,
  limit: number,
  windowMs: number,
  at?: Date,
): Promise<{ takenAt: Date } | { fitsAt: Date }> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(hashtext(${budget}))`);
    // Read after the lock: a time taken before it could be older than a call granted meanwhile,
    // which the window would then not see.
    const now = at ?? new Date();
    const since = new Date(now.getTime() - windowMs);
    const calls = and(eq(publishingUsage.budget, budget), isNull(publishingUsage.postId));
    // Calls that left the window count for nothing any more.
    await tx.delete(publishingUsage).where(and(calls, lt(publishingUsage.at, since)));
    const recent = await tx.select({ at: publishingUsage.at }).from(publishingUsage).where(calls);
    const verdict = movingWindow(
      // Another worker's clock a little ahead still counts its call as made now.
      recent.map((r) => ({ at: new Date(Math.min(r.at.getTime(), now.getTime())), amount: 1 })),
      limit,
      windowMs,
      now,
    );
    if (!verdict.ok) return { fitsAt: verdict.at };
    await tx.insert(publishingUsage).values({ budget, amount: 1, at: now, postId: null, targetKey: 'call' });
    return { takenAt: now };
  });
}
