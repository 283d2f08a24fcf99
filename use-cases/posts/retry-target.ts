import { and, eq } from 'drizzle-orm';
import { postMedia, posts, publications } from '../../db/schema.js';
import { ConflictError } from '../../domain/errors.js';
import { isUuid } from '../../domain/ids.js';
import { missingMediaInWords } from '../../domain/media-rules.js';
import { retryTargetUpdate } from '../../workflows/messages.js';
import { type PostActionDeps, type PostActionRequest, sendPostUpdate } from './send-update.js';

/** Publishes one failed target again, within the post's retry window; the others are left alone. */
export async function retryTarget(deps: PostActionDeps, request: PostActionRequest, target: { targetKey: string }) {
  await assertRetryCanPublish(deps, request, target.targetKey);
  const input = { targetKey: target.targetKey };
  return sendPostUpdate(deps, request, { name: 'retryTarget', update: retryTargetUpdate, args: [input], body: input });
}

/**
 * A target that needs a picture, on a post that has none (its brief's image could not be made),
 * fails the same way however often it is tried: refused up front, saying why. Anything else (a post
 * that is not the caller's included) is left to the workflow to decide.
 */
async function assertRetryCanPublish(deps: PostActionDeps, request: PostActionRequest, targetKey: string) {
  // Ids no row can have are the workflow's to refuse (404, 422), not the database's to choke on.
  if (!isUuid(request.postId) || targetKey.includes('\u0000')) return;
  const [row] = await deps.db
    .select({ format: publications.format, media: postMedia.mediaId })
    .from(publications)
    .innerJoin(posts, and(eq(posts.id, publications.postId), eq(posts.ownerId, request.ownerId)))
    .leftJoin(postMedia, eq(postMedia.postId, publications.postId))
    .where(and(eq(publications.postId, request.postId), eq(publications.targetKey, targetKey)))
    .limit(1);
  if (!row || row.media !== null) return;
  const missing = missingMediaInWords(row.format);
  if (missing) {
    throw new ConflictError(
      'Retry cannot publish this target',
      `${missing} A retry would fail the same way: make a new post with media (or with a picture the AI can make).`,
    );
  }
}
