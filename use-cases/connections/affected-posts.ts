import { and, eq, inArray, notInArray } from 'drizzle-orm';
import type { Database } from '../../db/client.js';
import { posts, publications } from '../../db/schema.js';
import { FINAL_STATUSES, type TargetType } from '../../domain/pipeline.js';

/**
 * Target types that publish through a connected account, and the target key that names the
 * connection. None yet: today's only target is the local export, so no post can target a
 * connection and every answer is empty. Issue 11 adds its platform targets here.
 */
export const CONNECTION_TARGET_TYPES: readonly TargetType[] = [];
export const connectionTargetKey = (connectionId: string) => `connection:${connectionId}`;

/** Posts not yet finished that publish to any of these connections: they lose (or wait for) that target. */
export async function scheduledPostsTargeting(
  db: Database,
  ownerId: string,
  connectionIds: string[],
): Promise<string[]> {
  if (connectionIds.length === 0 || CONNECTION_TARGET_TYPES.length === 0) return [];
  const rows = await db
    .selectDistinct({ id: posts.id })
    .from(publications)
    .innerJoin(posts, eq(posts.id, publications.postId))
    .where(
      and(
        eq(posts.ownerId, ownerId),
        notInArray(posts.status, [...FINAL_STATUSES]),
        inArray(publications.targetType, [...CONNECTION_TARGET_TYPES]),
        inArray(publications.targetKey, connectionIds.map(connectionTargetKey)),
      ),
    );
  return rows.map((r) => r.id);
}
