import { and, eq, ne } from 'drizzle-orm';
import { postSteps, posts, publications } from '../db/schema.js';
import { finalStatus, type PostStatus, type TargetOutcome } from '../domain/pipeline.js';
import type { ActivityDeps } from './deps.js';

/** Writes the pipeline's end state: the post's status, each step's, and each failed target's error. */
export function createRecordResults(deps: ActivityDeps) {
  const { db, logger } = deps;

  return async function recordResults({
    postId,
    outcomes,
    renderError,
    generateError,
  }: {
    postId: string;
    outcomes: TargetOutcome[];
    renderError?: string;
    /** Drafting failed for good: nothing was rendered or published. */
    generateError?: string;
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

    await db.transaction(async (tx) => {
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
    });
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
