import { cancelUpdate } from '../../workflows/messages.js';
import { type PostActionDeps, type PostActionRequest, sendPostUpdate } from './send-update.js';

/**
 * Cancels a post, decided by its workflow's own stage: an answer means it took effect; once
 * publishing has started it is refused with the reason (ConflictError).
 */
export function cancelPost(deps: PostActionDeps, request: PostActionRequest, cancel: { reason?: string | undefined }) {
  const input = cancel.reason ? { reason: cancel.reason } : {};
  return sendPostUpdate(deps, request, { name: 'cancel', update: cancelUpdate, args: [input], body: input });
}
