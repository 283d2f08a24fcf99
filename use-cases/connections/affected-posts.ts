import { and, eq, inArray, notInArray } from 'drizzle-orm';
import type { Database } from '../../db/client.js';
import { posts, publications } from '../../db/schema.js';
import { FINAL_STATUSES } from '../../domain/pipeline.js';

/** Posts not yet finished that publish to any of these connections: they lose (or wait for) that target. */
export async function scheduledPostsTargeting(
  db: Database,
  ownerId: string,
  connectionIds: string[],
): Promise<string[]> {
  if (connectionIds.length === 0) return [];
  const rows = await db
    .selectDistinct({ id: posts.id })
    .from(publications)
    .innerJoin(posts, eq(posts.id, publications.postId))
    .where(
      and(
        eq(posts.ownerId, ownerId),
        notInArray(posts.status, [...FINAL_STATUSES]),
        inArray(publications.connectionId, connectionIds),
      ),
    );
  return rows.map((r) => r.id);
}
