import { and, desc, eq, lt, or } from 'drizzle-orm';
import type { Database } from '../../db/client.js';
import { posts } from '../../db/schema.js';
import type { PostStatus } from '../../domain/pipeline.js';
import { postSummary } from './view-post.js';

/** Where the previous page ended: keyset paging on (created_at, id), newest first. */
export interface PageKey {
  createdAt: Date;
  id: string;
}

/** The caller's posts, newest first, optionally of one status. */
export async function listPosts(
  db: Database,
  ownerId: string,
  query: { limit: number; after?: PageKey | undefined; status?: PostStatus | undefined },
): Promise<{ items: ReturnType<typeof postSummary>[]; next: PageKey | null }> {
  const { limit, after, status } = query;
  const rows = await db
    .select()
    .from(posts)
    .where(
      and(
        eq(posts.ownerId, ownerId),
        status ? eq(posts.status, status) : undefined,
        after
          ? or(lt(posts.createdAt, after.createdAt), and(eq(posts.createdAt, after.createdAt), lt(posts.id, after.id)))
          : undefined,
      ),
    )
    .orderBy(desc(posts.createdAt), desc(posts.id))
    .limit(limit + 1);
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return {
    items: page.map(postSummary),
    next: rows.length > limit && last ? { createdAt: last.createdAt, id: last.id } : null,
  };
}
