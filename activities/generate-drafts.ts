import { randomUUID } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { and, asc, eq, inArray, sql } from 'drizzle-orm';
import { aiDraftSchemaFor } from '../ai/draft-schemas.js';
import { AiRequestError, MalformedAiOutput } from '../ai/openai-generator.js';
import { generations, media, postMedia, postSteps, posts, publications } from '../db/schema.js';
import {
  AI_OUTAGE_MIN_RIDE_OUT_MS,
  AI_OUTAGE_RIDE_OUT_MS,
  DRAFTING_MAX_ATTEMPTS,
  DRAFTING_RETRY,
  type Draft,
  describeDraftProblem,
  MALFORMED_OUTPUT_TRIES,
  type ReviewPolicy,
} from '../domain/drafts.js';
import { ValidationError } from '../domain/errors.js';
import { ingestMediaBytes, type MediaRow, UnsupportedMediaError } from '../use-cases/media/ingest-media.js';
import type { ActivityDeps } from './deps.js';
import { checkDrafts, saveDrafts } from './draft-store.js';
import { livePost } from './live-post.js';
import { errorInWords, trackAttempt } from './track-attempt.js';

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
    const startedHere = Date.now();
    /** When the post must have its drafts, once its row is read (a reschedule moves it for the next try). */
    let dueBy: DueBy | undefined;
    // Heartbeats for the whole attempt, the image included: a cancellation reaches it, and an
    // attempt that dies is retried within the heartbeat timeout, never silently cut short.
    return whileHeartbeating(() =>
      trackAttempt(deps, { postId, step: 'generate' }, () =>
        draftOnce().catch((err: unknown) => {
          // Decided inside the attempt, so its record says "failed" (not "retrying") on the last one.
          throw withRetryBound(err, startedHere, dueBy);
        }),
      ),
    );

    async function draftOnce(): Promise<GenerateDraftsResult> {
      const [post] = await db.select().from(posts).where(eq(posts.id, postId));
      if (!post) throw ApplicationFailure.nonRetryable(`Post ${postId} no longer exists`, 'PostMissing');
      if (!post.brief) throw ApplicationFailure.nonRetryable('This post has no brief to draft from', 'NoBrief');
      dueBy = dueByOf(post);
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
    }
  };
}

/** The time a post must have its drafts by, and what that time is. */
interface DueBy {
  atMs: number;
  /** "its publish time (2025-05-01T09:00:00.000Z)" */
  what: string;
}

/**
 * A review deadline that cancels the post when it passes, or else the publish time. A deadline that
 * approves does not count: drafts that arrive after it are still approved and published.
 */
function dueByOf(post: { publishAt: Date | null; reviewPolicy: ReviewPolicy }): DueBy | undefined {
  const review = post.reviewPolicy;
  const deadline =
    review.mode === 'manual' && review.onExpiry === 'cancel' && review.deadline ? Date.parse(review.deadline) : NaN;
  const publishAt = post.publishAt?.getTime() ?? NaN;
  const at = (ms: number) => new Date(ms).toISOString();
  if (Number.isFinite(deadline) && !(publishAt < deadline)) {
    return { atMs: deadline, what: `its review deadline (${at(deadline)})` };
  }
  return Number.isFinite(publishAt) ? { atMs: publishAt, what: `its publish time (${at(publishAt)})` } : undefined;
}

/** Why drafting tried again after a failure, as far as the retry bound is concerned. */
export type DraftingFailureKind = 'malformed' | 'unavailable';

/** Try again after `delayMs`, or stop, saying why. */
export type DraftingRetry = { retry: true; delayMs: number } | { retry: false; why: string };

/**
 * Whether a failed drafting attempt is tried again. Malformed answers get MALFORMED_OUTPUT_TRIES
 * in all. Anything else that may pass (the endpoint down or erroring, a database restart) is tried
 * again until the ride-out ends: AI_OUTAGE_RIDE_OUT_MS after the step's first try, or sooner when
 * the post is due sooner, though never sooner than AI_OUTAGE_MIN_RIDE_OUT_MS. The next wait is the
 * backoff's, or longer when the endpoint asked (Retry-After); a try that would start after the
 * ride-out is not made.
 */
export function nextDraftingTry(failure: {
  kind: DraftingFailureKind;
  /** Temporal's attempt number of the one that failed, from 1. */
  attempt: number;
  firstTryMs: number;
  nowMs: number;
  retryAfterMs?: number | undefined;
  dueBy?: DueBy | undefined;
}): DraftingRetry {
  const { kind, attempt, firstTryMs, nowMs, dueBy } = failure;
  const tries = `Gave up after ${attempt} ${attempt === 1 ? 'try' : 'tries'} over ${duration(nowMs - firstTryMs)}`;
  if (kind === 'malformed' && attempt >= MALFORMED_OUTPUT_TRIES) {
    return {
      retry: false,
      why: `${tries}: an unusable answer is tried again only within the first ${MALFORMED_OUTPUT_TRIES} tries`,
    };
  }
  if (attempt >= DRAFTING_MAX_ATTEMPTS) return { retry: false, why: `${tries}: the most drafting makes for one round` };
  const backoff = backoffMs(attempt);
  const delayMs = Math.max(backoff, failure.retryAfterMs ?? 0);
  if (kind === 'malformed') return { retry: true, delayMs };
  const rideOutEnd = firstTryMs + AI_OUTAGE_RIDE_OUT_MS;
  const due = dueBy && Math.max(dueBy.atMs, firstTryMs + AI_OUTAGE_MIN_RIDE_OUT_MS);
  if (nowMs + delayMs <= Math.min(rideOutEnd, due ?? rideOutEnd)) return { retry: true, delayMs };
  const asked =
    failure.retryAfterMs && failure.retryAfterMs > backoff
      ? `, and the endpoint asked to wait ${duration(failure.retryAfterMs)}`
      : '';
  const limit =
    dueBy && due !== undefined && due < rideOutEnd
      ? `the post cannot wait longer for its drafts: ${dueBy.what} ${dueBy.atMs > nowMs ? 'comes first' : 'has passed'}`
      : `drafting waits out endpoint failures for at most ${duration(AI_OUTAGE_RIDE_OUT_MS)}`;
  return { retry: false, why: `${tries}${asked}; ${limit}` };
}

/** The retry policy's wait after attempt `attempt` fails. */
const backoffMs = (attempt: number) =>
  Math.min(
    DRAFTING_RETRY.initialIntervalMs * DRAFTING_RETRY.backoffCoefficient ** (attempt - 1),
    DRAFTING_RETRY.maximumIntervalMs,
  );

const duration = (ms: number) =>
  ms < 120_000 ? `${Math.max(0, Math.round(ms / 1000))} s` : `${Math.round(ms / 60_000)} min`;

/**
 * An attempt's error, final when no further try is due (nextDraftingTry), with the reason it stopped
 * added to the endpoint's own words; when one is due, with its wait.
 */
function withRetryBound(err: unknown, startedHere: number, dueBy: DueBy | undefined): unknown {
  const context = Context.current();
  if (!(err instanceof Error) || err instanceof CancelledFailure || context.cancellationSignal.aborted) return err;
  if (err instanceof ApplicationFailure && err.nonRetryable) return err;
  const { info } = context;
  // By Temporal's clock, which the time-skipping test server runs ahead of this one: the time from
  // the first try's schedule to this one's, but no less than the waits made since (the test server
  // gives a retry's schedule as the time it was decided, a wait before it was due), and this try's
  // own time. A wait for a free worker is not counted here; the step's schedule-to-close timeout counts it.
  let waited = 0;
  for (let earlier = 1; earlier < info.attempt; earlier++) waited += backoffMs(earlier);
  const sinceFirst =
    Math.max(info.currentAttemptScheduledTimestampMs - info.scheduledTimestampMs, waited) + (Date.now() - startedHere);
  const nowMs = info.scheduledTimestampMs + sinceFirst;
  const asked = err instanceof ApplicationFailure ? err.nextRetryDelay : undefined;
  const next = nextDraftingTry({
    kind: err instanceof ApplicationFailure && err.type === 'MalformedAiOutput' ? 'malformed' : 'unavailable',
    attempt: info.attempt,
    firstTryMs: info.scheduledTimestampMs,
    nowMs,
    retryAfterMs: typeof asked === 'number' ? asked : undefined,
    dueBy,
  });
  const type = (err instanceof ApplicationFailure ? err.type : undefined) ?? err.name;
  if (!next.retry) {
    // In words without a database error's parameters, as trackAttempt would record it.
    const words = errorInWords(err);
    const message = `${words}${/[.!?]$/.test(words) ? '' : '.'} ${next.why}`;
    return ApplicationFailure.create({ message, type, nonRetryable: true });
  }
  // Not an ApplicationFailure (a database error): Temporal's own backoff, which is the same wait.
  if (!(err instanceof ApplicationFailure)) return err;
  return ApplicationFailure.create({ message: err.message, type, nextRetryDelay: next.delayMs });
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
