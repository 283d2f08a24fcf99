import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { and, asc, eq, sql } from 'drizzle-orm';
import { draftText } from '../ai/draft-schemas.js';
import { postSteps, posts, publications, renditions } from '../db/schema.js';
import { missingMediaInWords } from '../domain/media-rules.js';
import { QUOTA_DEFAULTS } from '../domain/quotas.js';
import { PLATFORM_NAMES, type Platform } from '../platforms/connector.js';
import { PublishError } from '../platforms/publish-errors.js';
import { OutcomeUnknownError, PermanentPublishError, type PublishReceipt } from '../platforms/publisher.js';
import { committedToPlatform } from '../platforms/publishing.js';
import { connectedPlatformOf } from '../platforms/registry.js';
import { connectionById } from '../use-cases/connections/rows.js';
import { releaseUnpublished, reserveQuota } from '../use-cases/publishing/quota-budget.js';
import { claimJournal, connectedTarget, SupersededAttempt } from './connected-target.js';
import type { ActivityDeps } from './deps.js';
import { livePost, livePostOrRetrying } from './live-post.js';
import { missingImageReason } from './missing-media.js';
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
    scheduledFor,
  }: {
    postId: string;
    targetKey: string;
    /** A retry of a failed target in the post's open retry window. */
    retry?: boolean;
    /** Uploaded ahead on the platform's own schedule for this instant (YouTube `scheduleOn: youtube`). */
    scheduledFor?: string;
  }): Promise<PublishReceipt> {
    // One read for the target, the post, whether it may still publish and the target's
    // renditions (one row per rendition, the rest repeated).
    const rows = await db
      .select({
        publication: publications,
        caption: posts.caption,
        status: posts.status,
        live: sql<boolean>`${livePostOrRetrying(postId, retry)}`,
        rendition: renditions,
      })
      .from(publications)
      .innerJoin(posts, eq(posts.id, publications.postId))
      .leftJoin(
        renditions,
        and(eq(renditions.postId, publications.postId), eq(renditions.targetKey, publications.targetKey)),
      )
      .where(and(eq(publications.postId, postId), eq(publications.targetKey, targetKey)))
      .orderBy(asc(renditions.position));
    const row = rows[0];
    if (!row) {
      throw ApplicationFailure.nonRetryable(`Post ${postId} has no target "${targetKey}"`, 'TargetMissing');
    }
    const { publication } = row;
    if (publication.status === 'published' && publication.result) return publication.result as PublishReceipt;
    if (!row.live) {
      // A late run for a post that was cancelled or has ended: publishing now would contradict it.
      throw ApplicationFailure.nonRetryable(`Post ${postId} has ended; nothing more is published`, 'PostEnded');
    }
    const platform = connectedPlatformOf(publication.targetType);
    if (platform && publication.status === 'unknown' && !retry) {
      // Only a person, having looked at the account, may send it again (retryTarget) or confirm it.
      throw ApplicationFailure.nonRetryable(publication.lastError ?? 'the outcome is unknown', 'OutcomeUnknown');
    }

    // trackAttempt marks the publish step running; this adds the post's own transition.
    return trackAttempt(
      deps,
      { postId, step: 'publish', targetKey },
      async () => {
        const files = rows.flatMap((r) => (r.rendition ? [r.rendition] : []));
        const needed = files.length === 0 ? missingMediaInWords(publication.format) : undefined;
        if (needed) {
          // The brief's image could not be made (see missing-media.ts): this target cannot go, the others may.
          throw ApplicationFailure.nonRetryable(`${await missingImageReason(deps, postId)}${needed}`, 'MediaMissing');
        }
        // Uploaded ahead, the post itself is still scheduled: it starts publishing at its time.
        if (row.status !== 'publishing' && !scheduledFor) await startPublishing(postId);
        // Taken right before the platform call: it is the time the post went out.
        const publishedAt = new Date();
        let receipt: PublishReceipt;
        const context = Context.current();
        const heartbeat = setInterval(() => context.heartbeat({ targetKey }), 10_000);
        try {
          const request = {
            postId,
            targetKey,
            format: publication.format,
            caption: publication.draft ? draftText(publication.draft) : (row.caption ?? ''),
            draft: (publication.draft as Record<string, unknown> | null) ?? null,
            publishedAt,
            ...(scheduledFor ? { scheduledFor: new Date(scheduledFor) } : {}),
            renditions: files.map((r) => ({
              position: r.position,
              path: store.pathOf(r.storageKey),
              mimeType: r.mimeType,
              width: r.width,
              height: r.height,
              placement: r.placement,
              durationSec: r.durationSec,
            })),
          };
          if (platform) {
            const connection = publication.connectionId
              ? await connectionById(db, publication.connectionId)
              : undefined;
            if (!connection) {
              throw new PublishError(platform, 'needs_reconnect', disconnectedInWords(platform, publication));
            }
            if (connection.status === 'needs_reconnect') {
              // Said before reserving: a post that cannot go must not hold a budget others wait for.
              throw new PublishError(
                platform,
                'needs_reconnect',
                `the account must be connected again${connection.statusReason ? `: ${connection.statusReason}` : ''}`,
              );
            }
            const fresh = retry === true && publication.status === 'unknown';
            const fence = await claimJournal(deps, publication, { fresh });
            const options = publication.options ?? {};
            // A resume that only asks the platform about the post it already sent spends nothing
            // the budget counts; an afresh start sends everything again, so it reserves.
            const verdict =
              !fresh && onlyVerdictLeft(platform, publication.journal)
                ? ({ ok: true } as const)
                : await reserveQuota(db, deps.quotas ?? QUOTA_DEFAULTS, {
                    platform,
                    accountId: connection.platformAccountId,
                    postId,
                    targetKey,
                    direct: (options.mode ?? 'direct') === 'direct',
                    reel: files.some(
                      (f) => f.mimeType.startsWith('video/') && (options.placement ?? f.placement) === 'reel',
                    ),
                    thumbnail: files.some((f) => !f.mimeType.startsWith('video/')),
                  });
            if (!verdict.ok) {
              const waitMs = verdict.at.getTime() - Date.now();
              if (waitMs > 30 * 86_400_000) throw ApplicationFailure.nonRetryable(verdict.reason, 'QuotaExceeded');
              throw ApplicationFailure.create({
                message: `Waiting for the budget: ${verdict.reason}`,
                type: 'QuotaWait',
                nextRetryDelay: Math.max(waitMs, 1000),
              });
            }
            const target = connectedTarget(
              deps,
              publication,
              platform,
              files,
              fence,
              connection.platformAccountId,
              connection.via,
            );
            receipt = await publishers[publication.targetType].publish({ ...request, connected: target });
          } else {
            receipt = await publishers[publication.targetType].publish(request);
          }
        } catch (err) {
          throw asActivityFailure(err);
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
    ).then(
      ({ receipt }) => receipt,
      async (err: unknown) => {
        const where = and(eq(publications.postId, postId), eq(publications.targetKey, targetKey));
        if (err instanceof ApplicationFailure && err.type === 'OutcomeUnknown') {
          await db.update(publications).set({ status: 'unknown', updatedAt: new Date() }).where(where);
        }
        if (platform && err instanceof ApplicationFailure && err.type === 'PublishRefused') {
          const [refused] = await db.select({ journal: publications.journal }).from(publications).where(where);
          // Refused after the platform took something that may publish (a refused read of its state,
          // say): the journal stays, so a person's retry asks the platform instead of sending a
          // second copy. Otherwise nothing of it is in flight, and a retry (after fixing what was
          // refused) starts afresh. Any other failure keeps the journal too: a retry resumes.
          if (!committedToPlatform(refused?.journal)) {
            await releaseUnpublished(db, { platform, postId, targetKey, journal: refused?.journal ?? null });
            await db.update(publications).set({ journal: null }).where(where);
          }
        }
        throw err;
      },
    );
  };
}

/**
 * Whether this attempt resumes a journal whose post already went out (COMMITTED) and can only read
 * the platform's verdict on it, spending nothing a budget counts. Its spend was reserved before it
 * went out; a person's retry more than a day later no longer finds that spend in the window, and
 * reserving again would make it wait for room it does not use (a whole day for TikTok's cap), or
 * fail past 30 days. A verdict that ends the commitment (FAILED, ERROR, EXPIRED) ends the attempt
 * too, and the next one, no longer committed, reserves before it sends anything new: Instagram's
 * container made again after an ERROR among them (EXTRA_CONTAINERS). Where a committed journal may
 * still start anew within this attempt, it reserves:
 * - TikTok before `uploadDone`: the last chunk went out unanswered, and an upload_url past its hour
 *   with bytes missing is followed by a new init, a new post against the daily cap.
 * - YouTube before `videoId`: an upload session that expired (404) is followed by a new one, a new
 *   insert.
 * Instagram makes no container here and sends media_publish again only for a container still
 * FINISHED: it lives 24 hours from its making, so a day after the send it has published or expired,
 * and before that the commit step reads Instagram's live publishing limit first. Facebook sends a
 * Reel's finish again, never a new start.
 */
function onlyVerdictLeft(platform: Platform, journal: Record<string, unknown> | null): boolean {
  if (!committedToPlatform(journal)) return false;
  switch (platform) {
    case 'tiktok':
      return journal?.uploadDone === true;
    case 'youtube':
      return typeof journal?.videoId === 'string' && journal.videoId !== '';
    case 'instagram':
    case 'facebook':
      return true;
  }
}

/** A publisher's failure as Temporal should treat it: retried (after the wait asked for) or final, in words. */
function asActivityFailure(err: unknown): unknown {
  if (err instanceof ApplicationFailure) return err;
  if (err instanceof PermanentPublishError) return ApplicationFailure.nonRetryable(err.message, 'PublishRefused');
  if (err instanceof OutcomeUnknownError) return ApplicationFailure.nonRetryable(err.message, 'OutcomeUnknown');
  // Temporal already gave up on this attempt and runs another; nothing of this one counts.
  if (err instanceof SupersededAttempt) return ApplicationFailure.create({ message: err.message, type: 'Superseded' });
  if (!(err instanceof PublishError)) return err;
  const words = `${err.platform}: ${err.message}`;
  switch (err.kind) {
    case 'needs_reconnect':
      return ApplicationFailure.nonRetryable(words, 'NeedsReconnect');
    case 'rejected':
      return ApplicationFailure.nonRetryable(words, 'PublishRefused');
    case 'rate_limited':
    case 'quota': {
      const until = err.details.waitUntil ? err.details.waitUntil.getTime() - Date.now() : err.retryAfterMs;
      return ApplicationFailure.create({
        message: words,
        type: err.kind === 'quota' ? 'QuotaWait' : 'RateLimited',
        ...(until !== undefined ? { nextRetryDelay: Math.max(until, 1000) } : {}),
      });
    }
    default:
      // Transient, lost answers, expired sessions: the next attempt resumes from the journal.
      return ApplicationFailure.create({ message: words, type: 'PublishInterrupted' });
  }
}

/**
 * Connecting the same account again links the target back (storeConnection), so that is the advice;
 * a target disconnected before the account's id was kept with it has nothing to link by.
 */
function disconnectedInWords(platform: Platform, publication: { platformAccountId: string | null }): string {
  const name = PLATFORM_NAMES[platform];
  return publication.platformAccountId
    ? `the ${name} account this target publishes through (id ${publication.platformAccountId}) was disconnected; connect this same account again (a different one does not take its place), then retry this target`
    : `the ${name} account this target publishes through was disconnected before its id was kept with the target, so connecting it again does not bring the target back; make a new post for it`;
}
