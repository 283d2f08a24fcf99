import { and, asc, eq, isNull, lt, notInArray, sql } from 'drizzle-orm';
import { posts } from '../../db/schema.js';
import { FINAL_STATUSES, SLOT_KEY_PREFIX } from '../../domain/pipeline.js';
import { type CreatePostDeps, savedPipeline } from './create-post.js';
import { launchPipeline, markPipelineStarted, type StartPipelineDeps, UNCONFIRMED } from './start-pipeline.js';

export type StartUnconfirmedDeps = StartPipelineDeps & Pick<CreatePostDeps, 'retryWindowDays' | 'uploadTaskQueue'>;

export interface StartUnconfirmedOptions {
  /** Only posts saved at least this long ago: a younger one may still be in its create request. */
  olderThanMs: number;
  /** At most this many per sweep, oldest first; the next sweep takes the rest. */
  limit?: number;
}

/**
 * Starts the pipelines of posts whose start Temporal never confirmed (it did not answer the
 * create in time), so a post saved during an outage is never left waiting for a repeat its client
 * may never send. Starting is idempotent (same workflow id; a running or ended pipeline is found,
 * never run twice), so two API processes sweeping at once do no harm. A campaign's posts are left to
 * their campaign, which starts them as its children. Stops at the first start Temporal does not
 * answer: the next sweep tries again.
 */
export async function startUnconfirmedPipelines(
  deps: StartUnconfirmedDeps,
  options: StartUnconfirmedOptions,
): Promise<{ started: string[]; unanswered: boolean }> {
  const waiting = await deps.db
    .select()
    .from(posts)
    .where(
      and(
        isNull(posts.pipelineStartedAt),
        // Only posts whose owner was told they start by themselves.
        eq(posts.error, UNCONFIRMED),
        notInArray(posts.status, [...FINAL_STATUSES]),
        lt(posts.createdAt, new Date(Date.now() - options.olderThanMs)),
        // A slot's post is its campaign's to start.
        sql`(${posts.idempotencyKey} is null or ${posts.idempotencyKey} not like ${`${SLOT_KEY_PREFIX}%`})`,
      ),
    )
    .orderBy(asc(posts.createdAt))
    .limit(options.limit ?? 50);
  const started: string[] = [];
  for (const post of waiting) {
    try {
      await launchPipeline(deps, await savedPipeline(deps, post));
    } catch {
      return { started, unanswered: true };
    }
    await markPipelineStarted(deps.db, post.id);
    started.push(post.id);
  }
  return { started, unanswered: false };
}
