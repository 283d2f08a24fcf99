import { and, eq, ne } from 'drizzle-orm';
import { postSteps, posts, publications } from '../db/schema.js';
import { finalStatus, type PostStatus, type TargetOutcome } from '../domain/pipeline.js';
import type { ActivityDeps } from './deps.js';
import { livePostOrRetrying } from './live-post.js';

/** Writes the pipeline's end state: the post's status, each step's, and each failed target's error. */
export function createRecordResults(deps: ActivityDeps) {
  const { db, logger } = deps;

  return async function recordResults({
    postId,
    outcomes,
    renderError,
    generateError,
    retry,
  }: {
    postId: string;
    outcomes: TargetOutcome[];
    renderError?: string;
    /** Drafting failed for good: nothing was rendered or published. */
    generateError?: string;
    /** After a retry in the post's open retry window, where `partially_published` is not final yet. */
    retry?: boolean;
  }): Promise<PostStatus> {
    const status = finalStatus(outcomes);
    const failures = outcomes.filter((o) => !o.ok);
    const error = generateError
      ? `Drafting failed: ${generateError}`
      : renderError
        ? `Rendering media failed: ${renderError}`
        : failures.length > 0
          ? failures.map((f) => `${f.key}: ${f.error ?? 'failed'}`).join('; ')
          : null;
    const now = new Date();

    const ended = await db.transaction(async (tx) => {
      const [live] = await tx
        .select({ id: posts.id })
        .from(posts)
        .where(livePostOrRetrying(postId, retry))
        .for('update');
      if (!live) {
        // The post has ended already: it keeps its recorded end, whatever this run says.
        const [row] = await tx.select({ status: posts.status }).from(posts).where(eq(posts.id, postId));
        return row?.status ?? status;
      }
      for (const failure of failures) {
        await tx
          .update(publications)
          .set({ status: 'failed', lastError: failure.error ?? renderError ?? 'failed', updatedAt: now })
          .where(
            and(
              eq(publications.postId, postId),
              eq(publications.targetKey, failure.key),
              ne(publications.status, 'published'),
            ),
          );
      }
      if (generateError) {
        await setStep(tx, postId, 'generate', 'failed', now, generateError);
        for (const step of ['review', 'schedule', 'render', 'publish'] as const)
          await setStep(tx, postId, step, 'skipped', now);
      } else if (renderError) {
        await setStep(tx, postId, 'render', 'failed', now, renderError);
        await setStep(tx, postId, 'publish', 'skipped', now);
      } else {
        await setStep(tx, postId, 'publish', status === 'failed' ? 'failed' : 'succeeded', now, error);
      }
      await setStep(tx, postId, 'record', 'succeeded', now);
      await tx.update(posts).set({ status, error, updatedAt: now }).where(eq(posts.id, postId));
      return undefined;
    });
    if (ended) {
      logger.warn({ postId, status: ended, ignored: status }, 'results for a post that has ended were not recorded');
      return ended;
    }
    logger.info({ postId, status }, 'pipeline finished');
    return status;
  };
}

async function setStep(
  tx: Parameters<Parameters<ActivityDeps['db']['transaction']>[0]>[0],
  postId: string,
  step: 'generate' | 'review' | 'schedule' | 'render' | 'publish' | 'record',
  status: 'succeeded' | 'failed' | 'skipped',
  now: Date,
  lastError?: string | null,
) {
  await tx
    .update(postSteps)
    .set({ status, finishedAt: now, ...(lastError !== undefined ? { lastError } : {}) })
    .where(and(eq(postSteps.postId, postId), eq(postSteps.step, step)));
}
