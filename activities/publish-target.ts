import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { and, asc, eq, sql } from 'drizzle-orm';
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

  /**
   * The post starts publishing, and the wait for publishAt, if there was one, is over. The four
   * targets publish in parallel and each may get here; the status condition lets one of them do
   * it, in one statement, and never moves a post out of a final status (livePost).
   */
  async function startPublishing(postId: string): Promise<void> {
    const now = new Date().toISOString();
    await db.execute(sql`
      with post as (
        update ${posts} set status = 'publishing', updated_at = ${now}::timestamptz
        where ${livePost(postId)} and ${posts.status} <> 'publishing'
        returning ${posts.id}
      )
      update ${postSteps} set status = 'succeeded', finished_at = ${now}::timestamptz
      where post_id = ${postId}::uuid and step = 'schedule' and status = 'running' and exists (select 1 from post)`);
  }

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
    // One read for the target, the post and whether it may still publish (three before).
    const [row] = await db
      .select({
        publication: publications,
        caption: posts.caption,
        status: posts.status,
        live: sql<boolean>`${livePostOrRetrying(postId, retry)}`,
      })
      .from(publications)
      .innerJoin(posts, eq(posts.id, publications.postId))
      .where(and(eq(publications.postId, postId), eq(publications.targetKey, targetKey)));
    if (!row) {
      throw ApplicationFailure.nonRetryable(`Post ${postId} has no target "${targetKey}"`, 'TargetMissing');
    }
    const { publication } = row;
    if (publication.status === 'published' && publication.result) return publication.result as PublishReceipt;
    if (!row.live) {
      // A late run for a post that was cancelled or has ended: publishing now would contradict it.
      throw ApplicationFailure.nonRetryable(`Post ${postId} has ended; nothing more is published`, 'PostEnded');
    }

    // trackAttempt marks the publish step running; this adds the post's own transition.
    return trackAttempt(
      deps,
      { postId, step: 'publish', targetKey },
      async () => {
        const [files] = await Promise.all([
          db
            .select()
            .from(renditions)
            .where(and(eq(renditions.postId, postId), eq(renditions.targetKey, targetKey)))
            .orderBy(asc(renditions.position)),
          row.status === 'publishing' ? undefined : startPublishing(postId),
        ]);
        // Taken right before the platform call: it is the time the post went out.
        const publishedAt = new Date();
        let receipt: PublishReceipt;
        const context = Context.current();
        const heartbeat = setInterval(() => context.heartbeat({ targetKey }), 10_000);
        try {
          receipt = await publishers[publication.targetType].publish({
            postId,
            targetKey,
            format: publication.format,
            caption: publication.draft ? draftText(publication.draft) : (row.caption ?? ''),
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
        return { receipt, publishedAt };
      },
      {
        // The exactly-once record, written with the attempt's finish.
        onSuccess: ({ receipt, publishedAt }) =>
          db
            .update(publications)
            .set({ status: 'published', result: receipt, lastError: null, publishedAt, updatedAt: new Date() })
            .where(and(eq(publications.postId, postId), eq(publications.targetKey, targetKey)))
            .getSQL(),
      },
    ).then(({ receipt }) => receipt);
  };
}
