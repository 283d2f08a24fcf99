import { randomUUID } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { and, asc, eq, inArray, sql } from 'drizzle-orm';
import { aiDraftSchemaFor } from '../ai/draft-schemas.js';
import { AiRequestError, MalformedAiOutput } from '../ai/openai-generator.js';
import { generations, media, postMedia, postSteps, posts, publications } from '../db/schema.js';
import { type Draft, describeDraftProblem } from '../domain/drafts.js';
import { ValidationError } from '../domain/errors.js';
import { ingestMediaBytes, type MediaRow, UnsupportedMediaError } from '../use-cases/media/ingest-media.js';
import type { ActivityDeps } from './deps.js';
import { checkDrafts, saveDrafts } from './draft-store.js';
import { livePost } from './live-post.js';
import { trackAttempt } from './track-attempt.js';

export interface GenerateDraftsResult {
  mode: 'ai' | 'offline';
  round: number;
}

/**
 * Drafts every target of a post from its brief (round 0) or revises them with a reviewer's
 * feedback (later rounds). Output is checked against each platform's limits before it is kept.
 */
export function createGenerateDrafts(deps: ActivityDeps) {
  const { db, drafts: generator } = deps;

  return async function generateDrafts({
    postId,
    round,
    feedback,
  }: {
    postId: string;
    round: number;
    feedback?: string;
  }): Promise<GenerateDraftsResult> {
    // Heartbeats for the whole attempt, the image included: a cancellation reaches it, and an
    // attempt that dies is retried within the heartbeat timeout, never silently cut short.
    return whileHeartbeating(() =>
      trackAttempt(deps, { postId, step: 'generate' }, async () => {
        const [post] = await db.select().from(posts).where(eq(posts.id, postId));
        if (!post) throw ApplicationFailure.nonRetryable(`Post ${postId} no longer exists`, 'PostMissing');
        if (!post.brief) throw ApplicationFailure.nonRetryable('This post has no brief to draft from', 'NoBrief');
        const [done] = await db
          .select({ mode: generations.mode })
          .from(generations)
          .where(and(eq(generations.postId, postId), eq(generations.round, round)));
        if (done) {
          // An earlier attempt finished this round; the image may be what it did not get to.
          if (round === 0 && post.brief.generateImage) await addImageIfPossible(deps, post);
          return { mode: done.mode, round };
        }

        await db.update(posts).set({ status: 'generating', updatedAt: new Date() }).where(livePost(postId));
        const targets = await db
          .select()
          .from(publications)
          .where(eq(publications.postId, postId))
          .orderBy(asc(publications.targetKey));
        const sourceIds = post.brief.sourceMediaIds ?? [];
        const sources =
          sourceIds.length > 0
            ? await db
                .select()
                .from(media)
                .where(and(inArray(media.id, sourceIds), eq(media.ownerId, post.ownerId!)))
            : [];

        let result: Awaited<ReturnType<typeof generator.draft>>;
        try {
          result = await generator.draft(
            {
              brief: post.brief,
              targets: targets.map((t) => ({ key: t.targetKey, format: t.format })),
              ...(feedback ? { feedback } : {}),
              previous: Object.fromEntries(targets.filter((t) => t.draft).map((t) => [t.targetKey, t.draft as Draft])),
              sourceMedia: sources.map((m) => `${m.mimeType} ${m.width}x${m.height} "${m.originalName ?? m.id}"`),
            },
            // A cancelled post closes its request: the endpoint stops writing (and billing) for nobody.
            { signal: Context.current().cancellationSignal },
          );
        } catch (err) {
          throw asFailure(err);
        }

        // Every target's draft must fit its platform, or the whole answer is tried again.
        const { accepted, problems } = checkDrafts(
          targets,
          Object.fromEntries(targets.map((t) => [t.targetKey, result.drafts[t.targetKey]])),
          aiDraftSchemaFor,
        );
        if (problems.length > 0) {
          throw ApplicationFailure.retryable(
            `The AI returned drafts that break the platform rules: ${problems.slice(0, 5).map(describeDraftProblem).join('; ')}`,
            'MalformedAiOutput',
          );
        }

        const saved = await db.transaction(async (tx) => {
          // Cancelled while the AI was writing: keep nothing. The post's row is taken first, as a
          // cancellation takes it (then its targets): the other order deadlocks with one.
          const [live] = await tx.select({ id: posts.id }).from(posts).where(livePost(postId)).for('update');
          if (!live) return false;
          await saveDrafts(tx, postId, accepted);
          await tx
            .insert(generations)
            .values({
              id: randomUUID(),
              postId,
              round,
              mode: result.mode,
              model: result.model,
              promptTokens: result.usage?.promptTokens ?? null,
              completionTokens: result.usage?.completionTokens ?? null,
              latencyMs: result.latencyMs,
              feedback: feedback ?? null,
              drafts: accepted,
            })
            .onConflictDoNothing();
          await tx.update(posts).set({ reviewRound: round, updatedAt: new Date() }).where(eq(posts.id, postId));
          await tx
            .update(postSteps)
            // Why the brief's image could not be made (round 0) stays for every round after it: the
            // targets that needed it fail with those words.
            .set({
              status: 'succeeded',
              lastError: sql`case when ${postSteps.lastError} like ${`${IMAGE_NOTE}%`} then ${postSteps.lastError} end`,
              finishedAt: new Date(),
            })
            .where(and(eq(postSteps.postId, postId), eq(postSteps.step, 'generate')));
          return true;
        });
        if (!saved) return { mode: result.mode, round };
        if (round === 0 && post.brief.generateImage) await addImageIfPossible(deps, post);
        deps.logger.info(
          { postId, round, mode: result.mode, model: result.model, latencyMs: result.latencyMs, usage: result.usage },
          'drafts generated',
        );
        return { mode: result.mode, round };
      }),
    );
  };
}

/** How the generate step begins its note of a brief's image that could not be made. */
export const IMAGE_NOTE = 'Drafts ready; no image could be generated: ';

/** Runs `work` with heartbeats at a third of the heartbeat timeout (at most every 10 s). */
async function whileHeartbeating<T>(work: () => Promise<T>): Promise<T> {
  const context = Context.current();
  const timeoutMs = context.info.heartbeatTimeoutMs;
  const everyMs = Math.min(10_000, timeoutMs ? Math.max(100, Math.floor(timeoutMs / 3)) : 10_000);
  context.heartbeat();
  const beating = setInterval(() => context.heartbeat(), everyMs);
  try {
    return await work();
  } finally {
    clearInterval(beating);
  }
}

/**
 * The image is optional: when it cannot be made the drafts still stand, and the generate step
 * says why there is no image.
 */
async function addImageIfPossible(deps: ActivityDeps, post: { id: string; ownerId: string | null; brief: unknown }) {
  try {
    await addGeneratedImage(deps, post);
  } catch (err) {
    // A cancellation ends the attempt as one; it is no reason the image is missing.
    if (Context.current().cancellationSignal.aborted) throw err;
    const reason = asFailure(err).message;
    deps.logger.warn({ postId: post.id, err: reason }, 'image generation failed');
    await deps.db
      .update(postSteps)
      .set({ lastError: `${IMAGE_NOTE}${reason}` })
      .where(and(eq(postSteps.postId, post.id), eq(postSteps.step, 'generate')));
  }
}

/** Asks for one image for the post and stores it as the post's first media, once. */
async function addGeneratedImage(deps: ActivityDeps, post: { id: string; ownerId: string | null; brief: unknown }) {
  const { db, store, drafts: generator } = deps;
  const existing = await db
    .select({ position: postMedia.position })
    .from(postMedia)
    .where(eq(postMedia.postId, post.id));
  if (existing.length > 0) return;
  const brief = post.brief as { topic: string; tone?: string };
  let image: Awaited<ReturnType<typeof generator.image>>;
  try {
    image = await generator.image(
      `An image for a social media post about: ${brief.topic}${brief.tone ? `, ${brief.tone}` : ''}`,
      { signal: Context.current().cancellationSignal },
    );
  } catch (err) {
    throw asFailure(err);
  }
  if (!image) return;
  // The same door as uploads: sniffed, fully decoded, deduplicated and recorded in one place.
  let row: MediaRow;
  try {
    row = await ingestMediaBytes({ db, store }, post.ownerId!, image.bytes, `generated by ${image.model}`);
  } catch (err) {
    if (err instanceof UnsupportedMediaError || err instanceof ValidationError) {
      throw ApplicationFailure.retryable('The image endpoint returned data that is not an image', 'MalformedAiOutput');
    }
    throw err;
  }
  await db.insert(postMedia).values({ postId: post.id, mediaId: row.id, position: 0 }).onConflictDoNothing();
}

/**
 * Temporal's reasons for stopping an attempt, in words for the attempt's record: a post cancelled
 * while drafting usually ends its run before the activity hears of it, and "NOT_FOUND" says nothing.
 */
const STOPPED: Record<string, string> = {
  CANCELLED: 'Stopped: the post was cancelled while the AI was writing; the request to the AI endpoint was closed',
  NOT_FOUND:
    "Stopped: the post's pipeline ended (the post was cancelled) while the AI was writing; the request to the AI endpoint was closed",
  TIMED_OUT: 'Stopped: the attempt ran out of time while the AI was writing',
  WORKER_SHUTDOWN: 'Stopped: the worker shut down while the AI was writing',
};

function asFailure(err: unknown): Error {
  if (err instanceof CancelledFailure && Context.current().cancellationSignal.aborted) {
    // Still a cancellation (Temporal reports the attempt cancelled, not failed), with its reason in words.
    return new CancelledFailure(STOPPED[err.message] ?? 'Stopped while the AI was writing; its request was closed');
  }
  if (err instanceof AiRequestError) {
    return ApplicationFailure.create({
      message: err.message,
      type: 'AiRequestFailed',
      nonRetryable: !err.retryable,
      ...(err.retryAfterMs ? { nextRetryDelay: err.retryAfterMs } : {}),
    });
  }
  if (err instanceof MalformedAiOutput) return ApplicationFailure.retryable(err.message, 'MalformedAiOutput');
  return err instanceof Error ? err : new Error(String(err));
}
