import { type WorkflowHandle, WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import type { UpdateDefinition } from '@temporalio/common';
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import type { Database } from '../../db/client.js';
import type { DraftProblem } from '../../domain/drafts.js';
import { ConflictError, UnavailableError, ValidationError } from '../../domain/errors.js';
import { type TemporalAccess, withTemporalDeadline } from '../temporal-calls.js';
import {
  type ActionKeyRow,
  actionRequestHash,
  claimActionKey,
  markActionSucceeded,
  releaseActionKey,
  updateIdFor,
} from './action-keys.js';
import { ownPost, type PostRow } from './ownership.js';

export interface PostActionDeps extends TemporalAccess {
  db: Database;
}

/** Who acts on which post, and the Idempotency-Key that makes a retry safe. */
export interface PostActionRequest {
  ownerId: string;
  postId: string;
  idempotencyKey?: string | undefined;
}

export interface PostActionResult<Ret> {
  post: PostRow;
  /** The workflow's answer; absent when a repeat was answered from the database. */
  answer?: Ret;
}

/**
 * Sends one action to the caller's post pipeline as a validated Update, with a deadline. With an
 * Idempotency-Key the Update id is derived from the action and the key's claim, so a retry of a
 * request that succeeded gets the first answer rather than a refusal. A request refused without
 * any effect releases the key: a refusal saves nothing, so the corrected request may use it.
 */
export async function sendPostUpdate<Ret, Args extends [unknown]>(
  deps: PostActionDeps,
  request: PostActionRequest,
  action: { name: string; update: UpdateDefinition<Ret, Args>; args: Args; body: unknown },
): Promise<PostActionResult<Ret>> {
  const post = await ownPost(deps.db, request.ownerId, request.postId);
  const key = request.idempotencyKey;
  let claim: ActionKeyRow | undefined;
  if (key) {
    claim = await claimActionKey(deps.db, {
      ownerId: request.ownerId,
      key,
      postId: post.id,
      action: action.name,
      requestHash: actionRequestHash(post.id, action.name, action.body),
    });
    if (claim.succeededAt) return { post };
  }
  const updateId = claim ? updateIdFor(claim) : undefined;
  const handle = deps.temporal.workflow.getHandle(post.workflowId);
  const answer = await withTemporalDeadline(deps, async () => {
    try {
      return await handle.executeUpdate(action.update, { args: action.args, ...(updateId ? { updateId } : {}) });
    } catch (err) {
      // The first request under this key may have taken effect and closed the run (a cancel): its
      // answer is still on record.
      if (updateId && isClosedOrMissing(err)) {
        const first = await handle
          .getUpdateHandle<Ret>(updateId)
          .result()
          .catch(() => undefined);
        if (first !== undefined) return first;
      }
      if (claim && updateId && (await refusedWithoutEffect(handle, updateId, err))) {
        // Not releasing only keeps the key held, as before; the person still gets the refusal.
        await releaseActionKey(deps.db, claim).catch(() => undefined);
      }
      throw refusal(err, action.name);
    }
  });
  if (claim) await markActionSucceeded(deps.db, claim);
  return { post, answer };
}

/**
 * Whether a refused Update left nothing behind, so its Idempotency-Key may serve the corrected
 * request: the validator rejected it (Temporal keeps no record of a rejected Update id), or its
 * handler failed saying nothing changed (a draft that does not fit, a write that gave up). Any
 * other answer, and not knowing, keeps the key: a retry then gets the first answer.
 */
async function refusedWithoutEffect(handle: WorkflowHandle, updateId: string, err: unknown): Promise<boolean> {
  if (!(err instanceof WorkflowUpdateFailedError)) return false;
  const cause = innermostCause(err);
  if (cause instanceof ApplicationFailure && (cause.type === 'InvalidDraft' || cause.type === 'Unavailable')) {
    return true;
  }
  try {
    await handle.getUpdateHandle(updateId).result();
    return false;
  } catch (polled) {
    // Asked just now, so an Update with this id accepted meanwhile (a retry racing this one) holds the key.
    return polled instanceof WorkflowNotFoundError;
  }
}

function innermostCause(err: WorkflowUpdateFailedError): unknown {
  let cause: unknown = err.cause;
  while (cause instanceof ActivityFailure && cause.cause) cause = cause.cause;
  return cause;
}

/** An Update's write gives up after about 15 s; a retry a few seconds later usually finds the database back. */
const UPDATE_RETRY_AFTER_SECONDS = 5;

function isClosedOrMissing(err: unknown): boolean {
  return err instanceof WorkflowNotFoundError || /already completed|not found/i.test(String((err as Error)?.message));
}

/** The workflow's refusal of an Update, in words a person can act on. */
function refusal(err: unknown, action: string): unknown {
  if (isClosedOrMissing(err)) {
    return new ConflictError('Pipeline finished', "This post's pipeline has finished; it can no longer be changed");
  }
  if (!(err instanceof WorkflowUpdateFailedError)) return err;
  const cause = innermostCause(err);
  const message = cause instanceof Error ? cause.message : 'The request was refused';
  if (cause instanceof ApplicationFailure && cause.type === 'InvalidDraft') {
    const problems = (cause.details?.[0] ?? []) as DraftProblem[];
    // approve sends drafts by target (edits.<target>.<field>); editDraft one target's (draft.<field>).
    const fieldOf = (p: DraftProblem) =>
      action === 'approve'
        ? ['edits', p.target, p.path].filter(Boolean).join('.')
        : ['draft', p.path].filter(Boolean).join('.');
    return new ValidationError(
      problems.length > 0
        ? problems.map((p) => ({ field: fieldOf(p), message: p.message }))
        : [{ field: 'draft', message }],
    );
  }
  // The workflow could not record the action in time (its database write gave up): nothing
  // changed, and the same request may simply be sent again.
  if (cause instanceof ApplicationFailure && cause.type === 'Unavailable') {
    return new UnavailableError('Not possible just now', message, UPDATE_RETRY_AFTER_SECONDS);
  }
  if (cause instanceof ApplicationFailure && cause.type === 'TooLate') return new ConflictError('Too late', message);
  // Validators name the input field they refuse as "field: reason".
  const field = /^(feedback|targetKey|publishAt): (.*)$/.exec(message);
  if (field) return new ValidationError([{ field: field[1]!, message: field[2]! }]);
  return new ConflictError('Not possible now', message);
}
