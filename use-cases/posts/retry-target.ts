import { retryTargetUpdate } from '../../workflows/messages.js';
import { type PostActionDeps, type PostActionRequest, sendPostUpdate } from './send-update.js';

/** Publishes one failed target again, within the post's retry window; the others are left alone. */
export function retryTarget(deps: PostActionDeps, request: PostActionRequest, target: { targetKey: string }) {
  const input = { targetKey: target.targetKey };
  return sendPostUpdate(deps, request, { name: 'retryTarget', update: retryTargetUpdate, args: [input], body: input });
}
