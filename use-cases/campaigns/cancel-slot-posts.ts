import { and, eq, gt, notInArray } from 'drizzle-orm';
import { campaignSlots, posts } from '../../db/schema.js';
import { ConflictError, NotFoundError } from '../../domain/errors.js';
import { FINAL_STATUSES } from '../../domain/pipeline.js';
import { cancelPost } from '../posts/cancel-post.js';
import type { PostActionDeps } from '../posts/send-update.js';

/**
 * Cancels the posts a cancelled campaign made that are still to come (drafted ahead, awaiting
 * review or scheduled): a cancelled campaign's future posts do not publish. Each post is judged by
 * its own time, not its slot's: one rescheduled past the cancel is still to come. Published posts,
 * and posts already publishing (their pipeline refuses: too late), are kept. Idempotent: a post
 * cancelled before is final and no longer selected.
 */
export async function cancelSlotPosts(
  deps: PostActionDeps,
  request: { campaignId: string; ownerId: string; reason: string; now?: number },
): Promise<{ cancelled: string[]; kept: string[] }> {
  const rows = await deps.db
    .select({ postId: posts.id })
    .from(campaignSlots)
    .innerJoin(posts, eq(posts.id, campaignSlots.postId))
    .where(
      and(
        eq(campaignSlots.campaignId, request.campaignId),
        notInArray(posts.status, [...FINAL_STATUSES]),
        // The post's own time: a slot post always has one (a reschedule sets another, never none).
        gt(posts.publishAt, new Date(request.now ?? Date.now())),
      ),
    )
    .orderBy(posts.publishAt);
  const cancelled: string[] = [];
  const kept: string[] = [];
  let unanswered: unknown;
  for (const { postId } of rows) {
    try {
      await cancelPost(deps, { ownerId: request.ownerId, postId }, { reason: request.reason });
      cancelled.push(postId);
    } catch (err) {
      // Publishing has begun (half a publish is worse than none), or the post is gone.
      if (err instanceof ConflictError || err instanceof NotFoundError) kept.push(postId);
      // One pipeline not answering holds back none of the others; the retry asks it again.
      else unanswered ??= err;
    }
  }
  if (unanswered) throw unanswered;
  return { cancelled, kept };
}
