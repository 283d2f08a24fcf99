import { and, eq, notInArray } from 'drizzle-orm';
import { posts } from '../db/schema.js';

/**
 * Rows of a post that has not ended. Status writes from activities go through this, so one that
 * was still running when its post was cancelled (or finished) cannot bring the post back.
 */
export function livePost(postId: string) {
  return and(
    eq(posts.id, postId),
    notInArray(posts.status, ['cancelled', 'published', 'partially_published', 'failed']),
  );
}
