import { ApplicationFailure } from '@temporalio/common';
import { and, eq, inArray, ne, sql } from 'drizzle-orm';
import { draftSchemaFor } from '../ai/draft-schemas.js';
import { postSteps, posts, publications } from '../db/schema.js';
import { describeDraftProblem } from '../domain/drafts.js';
import type { StepName } from '../domain/pipeline.js';
import type { ActivityDeps } from './deps.js';
import { checkDrafts, saveDrafts } from './draft-store.js';
import { livePost } from './live-post.js';

/** The database side of the review step and of scheduling: small writes the workflow orders. */
export function createReviewActivities(deps: ActivityDeps) {
  const { db } = deps;
  const setStep = (postId: string, step: StepName, values: Partial<typeof postSteps.$inferInsert>) =>
    db
      .update(postSteps)
      .set(values)
      .where(and(eq(postSteps.postId, postId), eq(postSteps.step, step)));

  return {
    async markAwaitingReview({ postId, round }: { postId: string; round: number }): Promise<void> {
      await db
        .update(posts)
        .set({ status: 'awaiting_review', reviewRound: round, updatedAt: new Date() })
        .where(livePost(postId));
      await setStep(postId, 'review', { status: 'running', attempts: round + 1, startedAt: new Date() });
      deps.logger.info({ postId, round }, 'waiting for review');
    },

    async recordReviewOutcome({
      postId,
      outcome,
    }: {
      postId: string;
      outcome: 'approved' | 'auto_approved' | 'approved_at_deadline' | 'rejected';
    }): Promise<void> {
      if (outcome === 'rejected') {
        // Back to drafting; the review step goes on with the next round.
        await db.update(posts).set({ status: 'generating', updatedAt: new Date() }).where(livePost(postId));
        deps.logger.info({ postId }, 'drafts sent back for another round');
        return;
      }
      const note = outcome === 'approved_at_deadline' ? 'Approved automatically: the review deadline passed' : null;
      await setStep(postId, 'review', {
        status: outcome === 'auto_approved' ? 'skipped' : 'succeeded',
        lastError: note,
        finishedAt: new Date(),
      });
      await db.update(posts).set({ status: 'queued', updatedAt: new Date() }).where(livePost(postId));
      deps.logger.info({ postId, outcome }, 'review finished');
    },

    /** Replaces drafts with a reviewer's edits, each checked against its platform's limits. */
    async applyDraftEdits({ postId, edits }: { postId: string; edits: Record<string, unknown> }): Promise<void> {
      const targets = await db
        .select()
        .from(publications)
        .where(and(eq(publications.postId, postId), inArray(publications.targetKey, Object.keys(edits))));
      const { accepted, problems } = checkDrafts(targets, edits, draftSchemaFor);
      if (problems.length > 0)
        throw ApplicationFailure.create({
          message: `The edited draft does not fit: ${problems.map(describeDraftProblem).join('; ')}`,
          type: 'InvalidDraft',
          nonRetryable: true,
          // The API names each refused field from these (edits.<target>.<field> or draft.<field>).
          details: [problems],
        });
      await db.transaction((tx) => saveDrafts(tx, postId, accepted));
    },

    /**
     * The post waits for its time. The time itself is written only at creation and by
     * updatePublishAt: a reschedule landing while this runs must not be overwritten with the old one.
     */
    async markScheduled({ postId }: { postId: string; publishAt?: string }): Promise<void> {
      const [live] = await db
        .update(posts)
        .set({ status: 'scheduled', updatedAt: new Date() })
        .where(livePost(postId))
        .returning({ id: posts.id });
      if (live) await setStep(postId, 'schedule', { status: 'running', startedAt: new Date(), finishedAt: null });
    },

    /**
     * A reschedule. While the review is open its deadline moves along (`reviewDeadline`, decided by
     * the workflow), in the same write, so the post's view never shows one without the other.
     */
    async updatePublishAt({
      postId,
      publishAt,
      reviewDeadline,
    }: {
      postId: string;
      publishAt: string;
      reviewDeadline?: string;
    }): Promise<void> {
      await db
        .update(posts)
        .set({
          publishAt: new Date(publishAt),
          ...(reviewDeadline
            ? { reviewPolicy: sql`jsonb_set(${posts.reviewPolicy}, '{deadline}', to_jsonb(${reviewDeadline}::text))` }
            : {}),
          updatedAt: new Date(),
        })
        .where(livePost(postId));
      deps.logger.info({ postId, publishAt, ...(reviewDeadline ? { reviewDeadline } : {}) }, 'post rescheduled');
    },

    async recordCancellation({ postId, reason }: { postId: string; reason: string }): Promise<void> {
      const now = new Date();
      const cancelled = await db.transaction(async (tx) => {
        const [live] = await tx
          .update(posts)
          .set({ status: 'cancelled', error: reason, updatedAt: now })
          .where(livePost(postId))
          .returning({ id: posts.id });
        // Already ended (published, failed, cancelled): nothing to take back.
        if (!live) return false;
        await tx
          .update(postSteps)
          .set({ status: 'skipped', finishedAt: now })
          .where(and(eq(postSteps.postId, postId), inArray(postSteps.status, ['pending', 'running', 'retrying'])));
        await tx
          .update(publications)
          .set({ status: 'cancelled', updatedAt: now })
          .where(and(eq(publications.postId, postId), ne(publications.status, 'published')));
        return true;
      });
      if (cancelled) deps.logger.info({ postId, reason }, 'post cancelled');
    },
  };
}
