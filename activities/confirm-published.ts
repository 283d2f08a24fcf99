import { and, eq, ne } from 'drizzle-orm';
import { publications } from '../db/schema.js';
import type { ActivityDeps } from './deps.js';

/** A person found the post on the platform: the target is published, by their word, and never sent again. */
export function createConfirmPublished(deps: ActivityDeps) {
  return async function confirmPublished({
    postId,
    targetKey,
    url,
  }: {
    postId: string;
    targetKey: string;
    url?: string;
  }): Promise<void> {
    const now = new Date();
    await deps.db
      .update(publications)
      .set({
        status: 'published',
        result: { location: url ?? '', url: url ?? null, platformPostId: null, confirmedByPerson: true },
        lastError: null,
        publishedAt: now,
        updatedAt: now,
      })
      .where(
        and(
          eq(publications.postId, postId),
          eq(publications.targetKey, targetKey),
          ne(publications.status, 'published'),
        ),
      );
  };
}
