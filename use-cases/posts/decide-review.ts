import { approveUpdate, rejectUpdate } from '../../workflows/messages.js';
import { type PostActionDeps, type PostActionRequest, sendPostUpdate } from './send-update.js';

/** Approves the drafts, optionally replacing some first (by target key). */
export function approvePost(
  deps: PostActionDeps,
  request: PostActionRequest,
  decision: { edits?: Record<string, Record<string, unknown>> | undefined },
) {
  const input = decision.edits ? { edits: decision.edits } : {};
  return sendPostUpdate(deps, request, { name: 'approve', update: approveUpdate, args: [input], body: input });
}

/** Sends the drafts back with feedback for another round. */
export function rejectPost(deps: PostActionDeps, request: PostActionRequest, decision: { feedback: string }) {
  const input = { feedback: decision.feedback };
  return sendPostUpdate(deps, request, { name: 'reject', update: rejectUpdate, args: [input], body: input });
}
