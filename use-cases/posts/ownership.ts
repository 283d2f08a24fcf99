import { and, eq } from 'drizzle-orm';
import type { Database } from '../../db/client.js';
import { posts } from '../../db/schema.js';
import { NotFoundError } from '../../domain/errors.js';
import { isUuid } from '../../domain/ids.js';

export type PostRow = typeof posts.$inferSelect;

/**
 * The one ownership check: the caller's post, or NotFound. Another user's post is reported exactly
 * like one that does not exist, so ids reveal nothing.
 */
export async function ownPost(db: Database, ownerId: string, postId: string): Promise<PostRow> {
  const [post] = isUuid(postId)
    ? await db
        .select()
        .from(posts)
        .where(and(eq(posts.id, postId), eq(posts.ownerId, ownerId)))
    : [];
  if (!post) throw new NotFoundError(`Post ${postId}`);
  return post;
}
