import { randomUUID } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { eq, type SQL, sql } from 'drizzle-orm';
import { attempts, postSteps, posts, publications } from '../db/schema.js';
import type { StepName } from '../domain/pipeline.js';
import { safeError } from '../runtime/errors.js';
import type { ActivityDeps } from './deps.js';

const notCancelled = (postId: SQL) =>
  sql`not exists (select 1 from ${posts} where ${posts.id} = ${postId} and ${posts.status} = 'cancelled')`;

export function errorInWords(err: unknown): string {
  const safe = safeError(err);
  return safe.message || safe.name;
}

/**
 * Runs one attempt of a pipeline step and writes it down: an attempt row with its outcome and
 * error, and the step's (or target's) running status, so a person sees every try as it happens.
 *
 * The start and a failure are each one statement (data-modifying CTEs): this runs for every
 * activity attempt of every post, and the round trips, not the rows, were the cost (BENCHMARKS.md).
 * Without a target the publications update matches no row (`target_key = null` is never true).
 *
 * Neither the start nor a failure takes back an end already written. An attempt dispatched before
 * the post was cancelled may start, and one stopped by the cancellation learns of it, after
 * `recordCancellation` wrote the post's end: a cancelled post's steps and targets stay as it left
 * them (a cancelled post has nothing to retry: cancel is refused once publishing began). An attempt
 * that timed out may still fail after its successor succeeded or published.
 */
export async function trackAttempt<T>(
  deps: ActivityDeps,
  where: { postId: string; step: StepName; targetKey?: string },
  work: () => Promise<T>,
  options: {
    /** A write that belongs to the attempt's success, made in the same statement as its finish. */
    onSuccess?: (result: T) => SQL;
  } = {},
): Promise<T> {
  const { db, logger } = deps;
  const attempt = Context.current().info.attempt;
  const id = randomUUID();
  const startedAt = new Date();
  const postId = sql`${where.postId}::uuid`;
  const targetKey = where.targetKey ?? null;
  const log = logger.child({ postId: where.postId, step: where.step, targetKey: where.targetKey, attempt });
  log.info('step attempt started');

  // Step attempts are counted, not copied from Temporal's attempt number, which restarts for a retried target.
  await db.execute(sql`
    with started as (
      insert into ${attempts} (id, post_id, step, target_key, attempt, outcome, started_at)
      values (${id}::uuid, ${postId}, ${where.step}, ${targetKey}, ${attempt}::int, 'running', ${startedAt.toISOString()}::timestamptz)
    ), step as (
      update ${postSteps}
      set status = 'running', attempts = attempts + 1, started_at = coalesce(started_at, now())
      where post_id = ${postId} and step = ${where.step} and ${notCancelled(postId)}
    )
    update ${publications}
    set status = 'publishing', attempts = attempts + 1, updated_at = ${startedAt.toISOString()}::timestamptz
    where post_id = ${postId} and target_key = ${targetKey} and status <> 'published' and ${notCancelled(postId)}`);

  try {
    const result = await work();
    const finish = db.update(attempts).set({ outcome: 'succeeded', finishedAt: new Date() }).where(eq(attempts.id, id));
    if (options.onSuccess) await db.execute(sql`with also as (${options.onSuccess(result)}) ${finish.getSQL()}`);
    else await finish;
    log.info({ ms: Date.now() - startedAt.getTime() }, 'step attempt succeeded');
    return result;
  } catch (err) {
    const message = errorInWords(err);
    const final = err instanceof ApplicationFailure && err.nonRetryable;
    const status = final ? 'failed' : 'retrying';
    const now = new Date().toISOString();
    await db.execute(sql`
      with finished as (
        update ${attempts} set outcome = 'failed', error = ${message}, finished_at = ${now}::timestamptz
        where id = ${id}::uuid
      ), step as (
        update ${postSteps} set status = ${status}, last_error = ${message}
        where post_id = ${postId} and step = ${where.step} and status not in ('succeeded', 'skipped') and ${notCancelled(postId)}
      )
      update ${publications} set status = ${status}, last_error = ${message}, updated_at = ${now}::timestamptz
      where post_id = ${postId} and target_key = ${targetKey} and status <> 'published' and ${notCancelled(postId)}`);
    log.warn({ err: message, final }, 'step attempt failed');
    // What Temporal records (and the post shows) must not carry SQL parameters either.
    throw err instanceof ApplicationFailure ? err : safeError(err);
  }
}
