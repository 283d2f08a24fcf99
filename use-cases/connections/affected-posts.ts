import { and, eq, inArray, ne, or } from 'drizzle-orm';
import type { Database } from '../../db/client.js';
import { posts, publications } from '../../db/schema.js';
import type { PostStatus } from '../../domain/pipeline.js';
import { retryablePost, unfinishedPost } from '../posts/retry-window.js';

/**
 * Posts nothing more is published for, whatever happens to their accounts. A failed or partly
 * published post is not among them: its failed targets may be retried while its window is open.
 */
export const ENDED_FOR_GOOD: readonly PostStatus[] = ['published', 'cancelled'];

/**
 * The longest retry window RETRY_WINDOW_DAYS allows: with no window given, a failed post older than
 * this can no longer be retried whatever the settings were.
 */
export const LONGEST_RETRY_WINDOW_DAYS = 90;

/**
 * Posts that publish to any of these connections and may still do so: those not finished, and
 * failed or partly published ones whose target through the connection is not published, updated
 * within the retry window (its workflow alone knows whether the window is still open; this may name
 * one whose window was closed early). They lose (or wait for) that target.
 */
export async function postsTargeting(
  db: Database,
  ownerId: string,
  connectionIds: string[],
  retryWindowDays = LONGEST_RETRY_WINDOW_DAYS,
): Promise<string[]> {
  if (connectionIds.length === 0) return [];
  const retryable = retryablePost(retryWindowDays);
  const rows = await db
    .selectDistinct({ id: posts.id })
    .from(publications)
    .innerJoin(posts, eq(posts.id, publications.postId))
    .where(
      and(
        eq(posts.ownerId, ownerId),
        inArray(publications.connectionId, connectionIds),
        // A retryable post only where this target is among the failed ones.
        retryable ? or(unfinishedPost(), and(retryable, ne(publications.status, 'published'))) : unfinishedPost(),
      ),
    );
  return rows.map((r) => r.id);
}
