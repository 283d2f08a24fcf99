import { eq } from 'drizzle-orm';
import { posts } from '../../db/schema.js';
import { ValidationError } from '../../domain/errors.js';
import { rescheduleUpdate } from '../../workflows/messages.js';
import { isRepeatOfClaim } from './action-keys.js';
import { assertNotPast, type PublishAtInput, resolvePublishAt } from './publish-at.js';
import { type PostActionDeps, type PostActionRequest, sendPostUpdate } from './send-update.js';

/** Moves the publish time; the workflow refuses once publishing has started. */
export async function reschedulePost(
  deps: PostActionDeps,
  request: PostActionRequest,
  change: { publishAt: PublishAtInput },
) {
  const { publishAt, timeZone } = resolvePublishAt(change.publishAt);
  if (!publishAt) throw new ValidationError([{ field: 'publishAt', message: 'required: the new publish time' }]);
  // The zone travels too, so the operator's view says the time as it was given.
  const input = { publishAt: publishAt.toISOString(), ...(timeZone ? { timeZone } : {}) };
  // A retry of a reschedule already sent is answered as the first was, even once its time has passed.
  if (!(await isRepeatOfClaim(deps.db, request, 'reschedule', input))) assertNotPast(publishAt);
  const result = await sendPostUpdate(deps, request, {
    name: 'reschedule',
    update: rescheduleUpdate,
    args: [input],
    body: input,
  });
  // The zone is only for showing the time back as it was given; the workflow keeps the instant.
  await deps.db.update(posts).set({ timeZone }).where(eq(posts.id, result.post.id));
  return result;
}
