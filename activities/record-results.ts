import { and, eq, ne, sql } from 'drizzle-orm';
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

    // The post's own update comes first: it takes the row's lock and, guarded by
    // livePostOrRetrying, says whether the post has ended already (then nothing is written).
    const ended = await db.transaction(async (tx) => {
      const [live] = await tx
        .update(posts)
        .set({ status, error, updatedAt: now })
        .where(livePostOrRetrying(postId, retry))
        .returning({ id: posts.id });
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
              // "Outcome unknown" stays until a person confirms or retries it.
              ne(publications.status, 'unknown'),
            ),
          );
      }
      const record: StepChange = { step: 'record', status: 'succeeded' };
      if (generateError) {
        await setSteps(tx, postId, now, [
          { step: 'generate', status: 'failed', lastError: generateError },
          ...(['review', 'schedule', 'render', 'publish'] as const).map(
            (step): StepChange => ({ step, status: 'skipped' }),
          ),
          record,
        ]);
      } else if (renderError) {
        await setSteps(tx, postId, now, [
          { step: 'render', status: 'failed', lastError: renderError },
          { step: 'publish', status: 'skipped' },
          record,
        ]);
      } else {
        await setSteps(tx, postId, now, [
          { step: 'publish', status: status === 'failed' ? 'failed' : 'succeeded', lastError: error },
          record,
        ]);
      }
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

interface StepChange {
  step: 'generate' | 'review' | 'schedule' | 'render' | 'publish' | 'record';
  status: 'succeeded' | 'failed' | 'skipped';
  /** Left as it is when not given. */
  lastError?: string | null;
}

/** Ends several steps of the post in one statement (one round trip, not one per step). */
async function setSteps(
  tx: Parameters<Parameters<ActivityDeps['db']['transaction']>[0]>[0],
  postId: string,
  now: Date,
  changes: StepChange[],
) {
  const statusCase = sql.join(
    changes.map((c) => sql`when ${c.step}::text then ${c.status}::text`),
    sql` `,
  );
  const errorCase = sql.join(
    changes.map((c) =>
      c.lastError !== undefined
        ? sql`when ${c.step}::text then ${c.lastError}::text`
        : sql`when ${c.step}::text then last_error`,
    ),
    sql` `,
  );
  const steps = sql.join(
    changes.map((c) => sql`${c.step}::text`),
    sql`, `,
  );
  await tx.execute(sql`
    update ${postSteps}
    set status = case step ${statusCase} end,
        finished_at = ${now.toISOString()}::timestamptz,
        last_error = case step ${errorCase} end
    where post_id = ${postId}::uuid and step in (${steps})`);
}
