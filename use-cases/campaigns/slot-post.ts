import { and, desc, eq, inArray, lt, sql } from 'drizzle-orm';
import type { Database } from '../../db/client.js';
import { campaignSlots, campaigns, connections, posts, publications } from '../../db/schema.js';
import type { CampaignSettings } from '../../domain/campaign-schedule.js';
import { isFinalStatus, SLOT_KEY_PREFIX } from '../../domain/pipeline.js';
import { createPost, type NewPost, savedPipeline } from '../posts/create-post.js';
import { pipelineStartOptions } from '../posts/start-pipeline.js';

export interface SlotPostDeps {
  db: Database;
}

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
): Promise<{ postId: string; pipeline: SlotPipelineOptions | null }> {
  const { db } = deps;
  const { campaignId, ownerId, settings, postDefaults, slot } = request;
  const key = slotIdempotencyKey(campaignId, slot.local);
  const [existing] = await db
    .select()
    .from(posts)
    .where(and(eq(posts.ownerId, ownerId), eq(posts.idempotencyKey, key)));
  if (existing) {
    await recordSlot(db, { campaignId, slotLocal: slot.local, at: slot.at, outcome: 'created', postId: existing.id });
    if (existing.pipelineStartedAt !== null || isFinalStatus(existing.status)) {
      return { postId: existing.id, pipeline: null };
    }
    const pipeline = await savedPipeline({ db, ...postDefaults }, existing);
    return { postId: existing.id, pipeline: pipelineStartOptions(pipeline, postDefaults.searchAttributes) };
  }

  await assertConnectionsUsable(db, ownerId, settings.targets);
  const earlier = await earlierPosts(db, campaignId, slot.at);
  const post: NewPost = {
    brief: { ...settings.brief, ...(earlier.length > 0 ? { earlierInSeries: earlier } : {}) },
    mediaIds: [],
    targets: settings.targets,
    publishAt: slot.at,
    review:
      settings.review.mode === 'auto'
        ? { mode: 'auto' }
        : {
            mode: 'manual',
            // A slot's review is due by the slot: its policy decides what an unreviewed slot does.
            deadline: slot.at,
            onExpiry: settings.review.onExpiry,
            maxRounds: settings.review.maxRounds,
          },
  };
  const result = await createPost(
    {
      db,
      reviewMaxRounds: postDefaults.reviewMaxRounds,
      retryWindowDays: postDefaults.retryWindowDays,
      uploadTaskQueue: postDefaults.uploadTaskQueue,
    },
    { ownerId, post, idempotencyKey: key },
  );
  await recordSlot(db, { campaignId, slotLocal: slot.local, at: slot.at, outcome: 'created', postId: result.post.id });
  return {
    postId: result.post.id,
    pipeline: result.pipeline ? pipelineStartOptions(result.pipeline, postDefaults.searchAttributes) : null,
  };
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
  },
): Promise<void> {
  const insert = db.insert(campaignSlots).values({ ...row, at: new Date(row.at), postId: row.postId ?? null });
  if (row.outcome === 'skipped') {
    await insert.onConflictDoNothing();
    return;
  }
  await insert.onConflictDoUpdate({
    target: [campaignSlots.campaignId, campaignSlots.slotLocal],
    set: { at: new Date(row.at), postId: row.postId ?? null, outcome: row.outcome },
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
