import { randomUUID } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { and, eq, sql } from 'drizzle-orm';
import { attempts, postSteps, publications } from '../db/schema.js';
import type { StepName } from '../domain/pipeline.js';
import { safeError } from '../runtime/errors.js';
import type { ActivityDeps } from './deps.js';

export function errorInWords(err: unknown): string {
  const safe = safeError(err);
  return safe.message || safe.name;
}

/**
 * Runs one attempt of a pipeline step and writes it down: an attempt row with its outcome and
 * error, and the step's (or target's) running status, so a person sees every try as it happens.
 */
export async function trackAttempt<T>(
  deps: ActivityDeps,
  where: { postId: string; step: StepName; targetKey?: string },
  work: () => Promise<T>,
): Promise<T> {
  const { db, logger } = deps;
  const attempt = Context.current().info.attempt;
  const id = randomUUID();
  const startedAt = new Date();
  const log = logger.child({ postId: where.postId, step: where.step, targetKey: where.targetKey, attempt });
  log.info('step attempt started');

  await db.insert(attempts).values({
    id,
    postId: where.postId,
    step: where.step,
    targetKey: where.targetKey ?? null,
    attempt,
    outcome: 'running',
    startedAt,
  });
  await db
    .update(postSteps)
    .set({
      status: 'running',
      // Counted, not copied from Temporal's attempt number, which restarts for a retried target.
      attempts: sql`${postSteps.attempts} + 1`,
      startedAt: sql`coalesce(${postSteps.startedAt}, now())`,
    })
    .where(and(eq(postSteps.postId, where.postId), eq(postSteps.step, where.step)));
  if (where.targetKey) {
    await db
      .update(publications)
      .set({ status: 'publishing', attempts: sql`${publications.attempts} + 1`, updatedAt: new Date() })
      .where(and(eq(publications.postId, where.postId), eq(publications.targetKey, where.targetKey)));
  }

  try {
    const result = await work();
    await db.update(attempts).set({ outcome: 'succeeded', finishedAt: new Date() }).where(eq(attempts.id, id));
    log.info({ ms: Date.now() - startedAt.getTime() }, 'step attempt succeeded');
    return result;
  } catch (err) {
    const message = errorInWords(err);
    const final = err instanceof ApplicationFailure && err.nonRetryable;
    await db
      .update(attempts)
      .set({ outcome: 'failed', error: message, finishedAt: new Date() })
      .where(eq(attempts.id, id));
    await db
      .update(postSteps)
      .set({ status: final ? 'failed' : 'retrying', lastError: message })
      .where(and(eq(postSteps.postId, where.postId), eq(postSteps.step, where.step)));
    if (where.targetKey) {
      await db
        .update(publications)
        .set({ status: final ? 'failed' : 'retrying', lastError: message, updatedAt: new Date() })
        .where(and(eq(publications.postId, where.postId), eq(publications.targetKey, where.targetKey)));
    }
    log.warn({ err: message, final }, 'step attempt failed');
    // What Temporal records (and the post shows) must not carry SQL parameters either.
    throw err instanceof ApplicationFailure ? err : safeError(err);
  }
}
