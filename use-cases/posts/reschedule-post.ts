import { eq } from 'drizzle-orm';
import { posts } from '../../db/schema.js';
import { ValidationError } from '../../domain/errors.js';
import { rescheduleUpdate } from '../../workflows/messages.js';
import { type PublishAtInput, resolvePublishAt } from './publish-at.js';
import { type PostActionDeps, type PostActionRequest, sendPostUpdate } from './send-update.js';

const PAST_GRACE_MS = 60_000;

/** Moves the publish time; the workflow refuses once publishing has started. */
export async function reschedulePost(
  deps: PostActionDeps,
  request: PostActionRequest,
  change: { publishAt: PublishAtInput },
) {
  const { publishAt, timeZone } = resolvePublishAt(change.publishAt);
  if (!publishAt) throw new ValidationError([{ field: 'publishAt', message: 'required: the new publish time' }]);
  // A mistyped year would otherwise publish at once, everywhere, for good. A minute's grace covers
  // clocks and a person who means "now".
  if (publishAt.getTime() < Date.now() - PAST_GRACE_MS) {
    throw new ValidationError([
      {
        field: 'publishAt',
        message: `${publishAt.toISOString()} has passed; give a time from now on (the current time publishes at once)`,
      },
    ]);
  }
  // The zone travels too, so the operator's view says the time as it was given.
  const input = { publishAt: publishAt.toISOString(), ...(timeZone ? { timeZone } : {}) };
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
