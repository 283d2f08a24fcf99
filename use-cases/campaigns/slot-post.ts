import { and, desc, eq, inArray, lt, sql } from 'drizzle-orm';
import type { Database } from '../../db/client.js';
import { campaignSlots, campaigns, connections, posts, publications } from '../../db/schema.js';
import type { CampaignSettings } from '../../domain/campaign-schedule.js';
import { ValidationError } from '../../domain/errors.js';
import { isFinalStatus, SLOT_KEY_PREFIX } from '../../domain/pipeline.js';
import { zonedTimeToInstant, zoneOffsetMinutes } from '../../domain/zoned-time.js';
import { type CreatePostDeps, createPost, type NewPost, savedPipeline } from '../posts/create-post.js';
import type { PostRow } from '../posts/ownership.js';
import type { PublishAtInput } from '../posts/publish-at.js';
import { pipelineStartOptions } from '../posts/start-pipeline.js';

/** The installation's settings a post is checked against, as the API passes them (TIKTOK_APP_AUDITED, budgets). */
export type SlotPostDeps = Pick<CreatePostDeps, 'db' | 'tiktokAudited' | 'quotas' | 'aiImages'>;

export interface SlotPostRequest {
  campaignId: string;
  ownerId: string;
  settings: CampaignSettings;
  postDefaults: {
    reviewMaxRounds: number;
    retryWindowDays: number;
    searchAttributes: boolean;
    uploadTaskQueue?: string;
  };
  /** The slot's identity (original local time) and when it publishes (after a move, its new time). */
  slot: { local: string; at: string };
}

export type SlotPipelineOptions = ReturnType<typeof pipelineStartOptions>;

/** How many earlier posts the AI sees; enough to vary, small enough for one prompt. */
const EARLIER_POSTS = 5;

/**
 * The least time a reviewer is given. A slot's review is due by the slot, which normally leaves the
 * lead time; a slot reached late (catch-up after downtime or a pause) or with a lead time shorter
 * than this would be due before anyone saw it, so cancelled (or approved) unseen. Such a review is
 * due this long after the post is made instead; the post still publishes at its slot when approved
 * by then, else as soon as it is approved (or at the deadline, if the campaign approves unseen
 * ones). A fixed quarter hour rather than the lead time: a late slot is published late by at most
 * this much more, however long the lead.
 */
const MIN_REVIEW_MS = 15 * 60_000;

/** The key that makes a slot produce at most one post, whatever retries and restarts happen. */
export function slotIdempotencyKey(campaignId: string, slotLocal: string): string {
  return `${SLOT_KEY_PREFIX}${campaignId}:${slotLocal}`;
}

/**
 * Creates a slot's post through the same use case the API uses, and returns the options to start
 * its pipeline with (null when it was started already). A repeat (an activity retry, a replayed
 * run) finds the post by the slot's key and never makes a second one.
 */
export async function createSlotPost(
  deps: SlotPostDeps,
  request: SlotPostRequest,
  /** When the post is made, on the clock the campaign's slots are planned on. */
  now = Date.now(),
): Promise<{ postId: string; pipeline: SlotPipelineOptions | null }> {
  const { db } = deps;
  const { campaignId, ownerId, settings, postDefaults, slot } = request;
  const key = slotIdempotencyKey(campaignId, slot.local);
  const repeat = async (existing: PostRow) => {
    await recordSlot(db, { campaignId, slotLocal: slot.local, at: slot.at, outcome: 'created', postId: existing.id });
    if (existing.pipelineStartedAt !== null || isFinalStatus(existing.status)) {
      return { postId: existing.id, pipeline: null };
    }
    const pipeline = await savedPipeline({ db, ...postDefaults }, existing);
    return { postId: existing.id, pipeline: pipelineStartOptions(pipeline, postDefaults.searchAttributes) };
  };
  const existing = await slotPost(db, ownerId, key);
  if (existing) return repeat(existing);

  await assertConnectionsUsable(db, ownerId, settings.targets);
  const earlier = await earlierPosts(db, campaignId, slot.at);
  const publishAt = Date.parse(slot.at);
  const reviewDue = Math.max(publishAt, Math.ceil((now + MIN_REVIEW_MS) / 1000) * 1000);
  const post: NewPost = {
    brief: { ...settings.brief, ...(earlier.length > 0 ? { earlierInSeries: earlier } : {}) },
    mediaIds: [],
    targets: settings.targets,
    publishAt: inZone(publishAt, settings.timeZone),
    review:
      settings.review.mode === 'auto'
        ? { mode: 'auto' }
        : {
            mode: 'manual',
            // A slot's review is due when it publishes: its policy decides what an unreviewed slot does.
            deadline: new Date(reviewDue).toISOString(),
            onExpiry: settings.review.onExpiry,
            maxRounds: settings.review.maxRounds,
          },
  };
  let result: Awaited<ReturnType<typeof createPost>>;
  try {
    result = await createPost(
      {
        db,
        reviewMaxRounds: postDefaults.reviewMaxRounds,
        retryWindowDays: postDefaults.retryWindowDays,
        uploadTaskQueue: postDefaults.uploadTaskQueue,
        tiktokAudited: deps.tiktokAudited ?? false,
        ...(deps.quotas ? { quotas: deps.quotas } : {}),
        ...(deps.aiImages !== undefined ? { aiImages: deps.aiImages } : {}),
      },
      { ownerId, post, idempotencyKey: key, passedTimeMeansNow: true },
    );
  } catch (err) {
    // An earlier try of this activity, still running when this one began, made the slot's post in
    // the meantime; its deadline, taken from another moment, makes the key look reused. It is the
    // slot's post.
    const made = err instanceof ValidationError ? await slotPost(db, ownerId, key) : undefined;
    if (made) return repeat(made);
    throw err;
  }
  await recordSlot(db, { campaignId, slotLocal: slot.local, at: slot.at, outcome: 'created', postId: result.post.id });
  return {
    postId: result.post.id,
    pipeline: result.pipeline ? pipelineStartOptions(result.pipeline, postDefaults.searchAttributes) : null,
  };
}

async function slotPost(db: Database, ownerId: string, key: string): Promise<PostRow | undefined> {
  const [row] = await db
    .select()
    .from(posts)
    .where(and(eq(posts.ownerId, ownerId), eq(posts.idempotencyKey, key)));
  return row;
}

/**
 * The instant as the campaign's wall-clock time, so the post's view and its workflow's summary
 * read in the campaign's zone. Wall-clock time counts whole seconds: a late slot's instant is
 * rounded up, never to before the slot was reached. The one time this cannot name (the second pass
 * of an hour the clocks go back over, which reads as the first) stays an instant, shown in UTC.
 */
function inZone(at: number, timeZone: string): PublishAtInput {
  const second = Math.ceil(at / 1000) * 1000;
  const local = new Date(second + zoneOffsetMinutes(second, timeZone) * 60_000).toISOString().slice(0, 19);
  return zonedTimeToInstant(local, timeZone).getTime() === second
    ? { local, timeZone }
    : new Date(second).toISOString();
}

/** The texts of the campaign's latest posts before `at`, newest first. */
async function earlierPosts(db: Database, campaignId: string, at: string): Promise<string[]> {
  const rows = await db
    .select({ draft: publications.draft, caption: posts.caption })
    .from(campaignSlots)
    .innerJoin(posts, eq(posts.id, campaignSlots.postId))
    .innerJoin(publications, eq(publications.postId, posts.id))
    .where(and(eq(campaignSlots.campaignId, campaignId), lt(campaignSlots.at, new Date(at))))
    .orderBy(desc(campaignSlots.at), publications.targetKey)
    .limit(EARLIER_POSTS * 4);
  const texts: string[] = [];
  for (const row of rows) {
    const text = row.draft
      ? Object.values(row.draft)
          .filter((v) => typeof v === 'string')
          .join(' ')
      : row.caption;
    if (text && !texts.includes(text)) texts.push(text.slice(0, 500));
    if (texts.length >= EARLIER_POSTS) break;
  }
  return texts;
}

const MAX_REASON_LENGTH = 1000;

/**
 * What became of a slot; the first answer stays (a slot's post is never replaced), except a skip:
 * a slot skipped and brought back by a new schedule is reached after all, and says so.
 */
export async function recordSlot(
  db: Database,
  row: {
    campaignId: string;
    slotLocal: string;
    at: string;
    outcome: 'created' | 'missed' | 'skipped' | 'failed';
    postId?: string | null;
    /** Why a failed slot made no post, in words; kept for failed slots only. */
    reason?: string | null;
  },
): Promise<void> {
  // Bounded: a slot's reason is shown beside it, and a refusal listing many fields could run long.
  const reason = row.outcome === 'failed' && row.reason ? row.reason.slice(0, MAX_REASON_LENGTH) : null;
  const insert = db.insert(campaignSlots).values({ ...row, at: new Date(row.at), postId: row.postId ?? null, reason });
  if (row.outcome === 'skipped') {
    await insert.onConflictDoNothing();
    return;
  }
  await insert.onConflictDoUpdate({
    target: [campaignSlots.campaignId, campaignSlots.slotLocal],
    set: { at: new Date(row.at), postId: row.postId ?? null, outcome: row.outcome, reason },
    setWhere: eq(campaignSlots.outcome, 'skipped'),
  });
}

/** The campaign's row follows its workflow: status, the schedule in effect and per-slot changes. */
export async function saveCampaignState(
  db: Database,
  state: {
    campaignId: string;
    status: 'active' | 'paused' | 'cancelled' | 'completed';
    statusReason: string | null;
    settings?: CampaignSettings;
    overrides: { skipped: string[]; moved: Record<string, string> };
  },
  /**
   * When (epoch ms) the write must be done or abandoned, whatever it waited for (a connection, a
   * lock). An Update waits for this save and is refused as having changed nothing once its try is
   * given up: a write still waiting then would land later and make that untrue.
   */
  doneBy?: number,
): Promise<void> {
  await db.transaction(async (tx) => {
    if (doneBy !== undefined) {
      // Measured here, inside the transaction: the wait for a pooled connection is already spent.
      const left = Math.floor(doneBy - Date.now());
      if (left <= 0) throw new Error('No time left to save the change');
      await tx.execute(sql`select set_config('statement_timeout', ${String(left)}, true)`);
    }
    await tx
      .update(campaigns)
      .set({
        status: state.status,
        statusReason: state.statusReason,
        overrides: state.overrides,
        ...(state.settings ? { settings: state.settings as unknown as Record<string, unknown> } : {}),
        updatedAt: new Date(),
      })
      .where(eq(campaigns.id, state.campaignId));
  });
}

/** A slot's account must be connected again: the campaign waits (paused, with this reason) instead of failing its slots. */
export class SlotConnectionUnusableError extends Error {
  override name = 'SlotConnectionUnusableError';
}

async function assertConnectionsUsable(
  db: Database,
  ownerId: string,
  targets: readonly Record<string, unknown>[],
): Promise<void> {
  const ids = [...new Set(targets.flatMap((t) => (typeof t.connectionId === 'string' ? [t.connectionId] : [])))];
  if (ids.length === 0) return;
  const rows = await db
    .select({
      id: connections.id,
      name: connections.displayName,
      status: connections.status,
      reason: connections.statusReason,
    })
    .from(connections)
    .where(and(inArray(connections.id, ids), eq(connections.ownerId, ownerId)));
  for (const id of ids) {
    const row = rows.find((r) => r.id === id);
    if (!row) {
      throw new SlotConnectionUnusableError(
        `An account this campaign publishes to was disconnected (${id}); connect it again, edit the campaign's targets, then resume`,
      );
    }
    if (row.status === 'needs_reconnect') {
      throw new SlotConnectionUnusableError(
        `${row.name} must be connected again${row.reason ? ` (${row.reason})` : ''}; reconnect it, then resume the campaign`,
      );
    }
  }
}
