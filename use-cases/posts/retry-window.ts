import { and, gt, inArray, notInArray, or, type SQL } from 'drizzle-orm';
import { posts } from '../../db/schema.js';
import { FINAL_STATUSES, type PostStatus } from '../../domain/pipeline.js';

// Whether a post may still publish, as the database can tell: its pipeline alone knows whether a
// failed post's retry window is still open, so the window is reckoned from the post's last update.

const DAY_MS = 24 * 3600_000;
/**
 * The pipeline opens its retry window a moment after it records the post's end (updated_at), later
 * still when its worker was away then: the window is taken as that much longer, never shorter.
 */
const WINDOW_SLACK_MS = 3600_000;
const RETRYABLE: readonly PostStatus[] = ['failed', 'partially_published'];

/** Until when a post that ended failed (in part or whole) at `updatedAt` may still be retried. */
export function retryableUntil(updatedAt: Date, retryWindowDays: number): Date {
  return new Date(updatedAt.getTime() + retryWindowDays * DAY_MS + WINDOW_SLACK_MS);
}

/** A post that ended failed in part or whole and may still be retried (never, with no window). */
export function retryablePost(retryWindowDays: number, now = Date.now()): SQL | undefined {
  if (retryWindowDays <= 0) return undefined;
  return and(
    inArray(posts.status, [...RETRYABLE]),
    gt(posts.updatedAt, new Date(now - retryWindowDays * DAY_MS - WINDOW_SLACK_MS)),
  );
}

/** A post that has not ended. */
export const unfinishedPost = (): SQL => notInArray(posts.status, [...FINAL_STATUSES]);

/** A post that has not ended, or has ended failed and may still be retried. */
export function mayStillPublish(retryWindowDays: number, now = Date.now()): SQL {
  const retryable = retryablePost(retryWindowDays, now);
  return retryable ? or(unfinishedPost(), retryable)! : unfinishedPost();
}
