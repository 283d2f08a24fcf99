import { and, eq, inArray, notInArray, or, type SQL } from 'drizzle-orm';
import { posts } from '../db/schema.js';
import { FINAL_STATUSES } from '../domain/pipeline.js';

/**
 * Rows of a post that has not ended. Every status write from an activity goes through this, so
 * one that runs late (after a cancel, or in a run started again for a finished post) can never
 * move a post out of a final status.
 */
export function livePost(postId: string): SQL {
  return and(eq(posts.id, postId), notInArray(posts.status, [...FINAL_STATUSES]))!;
}

/**
 * Like livePost, and also a post published in part, or not at all, whose retry window is open:
 * only the workflow knows the window is open, and says so (`retry`).
 */
export function livePostOrRetrying(postId: string, retry: boolean | undefined): SQL {
  if (!retry) return livePost(postId);
  return and(
    eq(posts.id, postId),
    or(notInArray(posts.status, [...FINAL_STATUSES]), inArray(posts.status, ['partially_published', 'failed'])),
  )!;
}
