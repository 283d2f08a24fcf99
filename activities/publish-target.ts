import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { and, asc, eq } from 'drizzle-orm';
import { draftText } from '../ai/draft-schemas.js';
import { postSteps, posts, publications, renditions } from '../db/schema.js';
import { PermanentPublishError, type PublishReceipt } from '../platforms/publisher.js';
import type { ActivityDeps } from './deps.js';
import { livePost, livePostOrRetrying } from './live-post.js';
import { trackAttempt } from './track-attempt.js';

/**
 * Publishes the post to one target. The publication row is the exactly-once record: once it says
 * `published`, a retried or replayed call returns that receipt instead of posting again.
 */
export function createPublishTarget(deps: ActivityDeps) {
  const { db, store, publishers } = deps;

  return async function publishTarget({
    postId,
    targetKey,
    retry,
  }: {
    postId: string;
    targetKey: string;
    /** A retry of a failed target in the post's open retry window. */
    retry?: boolean;
  }): Promise<PublishReceipt> {
    const [publication] = await db
      .select()
      .from(publications)
      .where(and(eq(publications.postId, postId), eq(publications.targetKey, targetKey)));
    if (!publication) {
      throw ApplicationFailure.nonRetryable(`Post ${postId} has no target "${targetKey}"`, 'TargetMissing');
    }
    if (publication.status === 'published' && publication.result) return publication.result as PublishReceipt;
    const [live] = await db.select({ id: posts.id }).from(posts).where(livePostOrRetrying(postId, retry));
    if (!live) {
      // A late run for a post that was cancelled or has ended: publishing now would contradict it.
      throw ApplicationFailure.nonRetryable(`Post ${postId} has ended; nothing more is published`, 'PostEnded');
    }

    return trackAttempt(deps, { postId, step: 'publish', targetKey }, async () => {
      const [post] = await db.select().from(posts).where(eq(posts.id, postId));
      if (!post) throw ApplicationFailure.nonRetryable(`Post ${postId} no longer exists`, 'PostMissing');
      if (post.status !== 'publishing') {
        await db.update(posts).set({ status: 'publishing', updatedAt: new Date() }).where(livePost(postId));
        // The wait for publishAt, if there was one, is over.
        await db
          .update(postSteps)
          .set({ status: 'succeeded', finishedAt: new Date() })
          .where(and(eq(postSteps.postId, postId), eq(postSteps.step, 'schedule'), eq(postSteps.status, 'running')));
      }
      await db
        .update(postSteps)
        .set({ status: 'running' })
        .where(and(eq(postSteps.postId, postId), eq(postSteps.step, 'publish')));

      const files = await db
        .select()
        .from(renditions)
        .where(and(eq(renditions.postId, postId), eq(renditions.targetKey, targetKey)))
        .orderBy(asc(renditions.position));
      const publishedAt = new Date();
      let receipt: PublishReceipt;
      const context = Context.current();
      const heartbeat = setInterval(() => context.heartbeat({ targetKey }), 10_000);
      try {
        receipt = await publishers[publication.targetType].publish({
          postId,
          targetKey,
          format: publication.format,
          caption: publication.draft ? draftText(publication.draft) : (post.caption ?? ''),
          draft: (publication.draft as Record<string, unknown> | null) ?? null,
          publishedAt,
          renditions: files.map((r) => ({
            position: r.position,
            path: store.pathOf(r.storageKey),
            mimeType: r.mimeType,
            width: r.width,
            height: r.height,
          })),
        });
      } catch (err) {
        if (err instanceof PermanentPublishError) {
          throw ApplicationFailure.nonRetryable(err.message, 'PublishRefused');
        }
        throw err;
      } finally {
        clearInterval(heartbeat);
      }
      await db
        .update(publications)
        .set({ status: 'published', result: receipt, lastError: null, publishedAt, updatedAt: new Date() })
        .where(and(eq(publications.postId, postId), eq(publications.targetKey, targetKey)));
      return receipt;
    });
  };
}
