import { confirmTargetUpdate } from '../../workflows/messages.js';
import { type PostActionDeps, type PostActionRequest, sendPostUpdate } from './send-update.js';

/**
 * Records a target as published on a person's word, after they found it on the platform: the way
 * out of "outcome unknown" other than sending it again (retryTarget).
 */
export function confirmTarget(
  deps: PostActionDeps,
  request: PostActionRequest,
  target: { targetKey: string; url?: string | undefined },
) {
  const input = { targetKey: target.targetKey, ...(target.url ? { url: target.url } : {}) };
  return sendPostUpdate(deps, request, {
    name: 'confirmTarget',
    update: confirmTargetUpdate,
    args: [input],
    body: input,
  });
}
