import { editDraftUpdate } from '../../workflows/messages.js';
import { type PostActionDeps, type PostActionRequest, sendPostUpdate } from './send-update.js';

/** Replaces one target's draft while the post waits for review; the workflow checks it. */
export function editDraft(
  deps: PostActionDeps,
  request: PostActionRequest,
  edit: { targetKey: string; draft: Record<string, unknown> },
) {
  const input = { targetKey: edit.targetKey, draft: edit.draft };
  return sendPostUpdate(deps, request, { name: 'editDraft', update: editDraftUpdate, args: [input], body: input });
}
