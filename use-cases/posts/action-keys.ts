import { createHash, randomUUID } from 'node:crypto';
import { and, eq, isNull, type SQL } from 'drizzle-orm';
import type { Database } from '../../db/client.js';
import { postActionKeys } from '../../db/schema.js';
import { ValidationError } from '../../domain/errors.js';

export type ActionKeyRow = typeof postActionKeys.$inferSelect;

/** What an action request is, for telling a retry from a different request under the same key. */
export function actionRequestHash(postId: string, action: string, body: unknown): string {
  return createHash('sha256')
    .update(JSON.stringify([postId, action, body]))
    .digest('hex');
}

/**
 * Records what an Idempotency-Key is first used for, or finds that use again. The same key sent
 * with another post, action or body is refused: it would otherwise get an answer meant for
 * something else. A use that was refused without changing anything is released again
 * (releaseActionKey), so the key is free for the corrected request.
 */
export async function claimActionKey(
  db: Database,
  claim: { ownerId: string; key: string; postId: string; action: string; requestHash: string },
): Promise<ActionKeyRow> {
  const [inserted] = await db
    .insert(postActionKeys)
    .values({ ...claim, updateId: newUpdateId(claim.action, claim.key) })
    .onConflictDoNothing()
    .returning();
  if (inserted) return inserted;
  const [existing] = await db
    .select()
    .from(postActionKeys)
    .where(and(eq(postActionKeys.ownerId, claim.ownerId), eq(postActionKeys.key, claim.key)));
  if (!existing) throw new Error('Idempotency-Key vanished while being claimed');
  if (!sameRequest(existing, claim)) {
    throw new ValidationError([
      {
        field: 'Idempotency-Key',
        message: `already used for a different request (${existing.action}), which was accepted, refused after it was recorded, or is still being answered; use a new key for a new request`,
      },
    ]);
  }
  return existing;
}

/** Whether this exact request (post, action, body) already holds the key: a client's retry. */
export async function isRepeatOfClaim(
  db: Database,
  request: { ownerId: string; postId: string; idempotencyKey?: string | undefined },
  action: string,
  body: unknown,
): Promise<boolean> {
  if (!request.idempotencyKey) return false;
  const [row] = await db
    .select({ postId: postActionKeys.postId, action: postActionKeys.action, requestHash: postActionKeys.requestHash })
    .from(postActionKeys)
    .where(and(eq(postActionKeys.ownerId, request.ownerId), eq(postActionKeys.key, request.idempotencyKey)));
  return (
    row !== undefined &&
    sameRequest(row, { postId: request.postId, action, requestHash: actionRequestHash(request.postId, action, body) })
  );
}

type RequestIdentity = Pick<ActionKeyRow, 'postId' | 'action' | 'requestHash'>;

/** The same post, action and body: a retry, not another request under the key. */
function sameRequest(row: RequestIdentity, request: RequestIdentity): boolean {
  return row.postId === request.postId && row.action === request.action && row.requestHash === request.requestHash;
}

/**
 * This claim and no later one: a request still holding a claim that was released meanwhile must
 * not mark or release the claim of the request that took the key next (each has its own Update id).
 */
function sameClaim(claim: ActionKeyRow): SQL | undefined {
  return and(
    eq(postActionKeys.ownerId, claim.ownerId),
    eq(postActionKeys.key, claim.key),
    eq(postActionKeys.updateId, updateIdFor(claim)),
  );
}

export async function markActionSucceeded(db: Database, claim: ActionKeyRow): Promise<void> {
  await db.update(postActionKeys).set({ succeededAt: new Date() }).where(sameClaim(claim));
}

/** Frees a key whose request was refused without changing anything (see sendPostUpdate). */
export async function releaseActionKey(db: Database, claim: ActionKeyRow): Promise<void> {
  await db.delete(postActionKeys).where(and(sameClaim(claim), isNull(postActionKeys.succeededAt)));
}

/**
 * The Update id for an action sent with an Idempotency-Key: Temporal runs an Update id once per
 * run and answers a repeat with the first outcome, a failure included. Every claim of the key gets
 * its own id, so a request made after a released claim runs afresh instead of getting the refused
 * request's failure back. The key is hashed so any key fits, whatever its length.
 */
function newUpdateId(action: string, key: string): string {
  return `${oldUpdateId(action, key)}:${randomUUID()}`;
}

/** The id every claim of a key used before claims had their own (migration 0011 wrote it to the rows). */
function oldUpdateId(action: string, key: string): string {
  return `${action}:${createHash('sha256').update(key).digest('base64url')}`;
}

/** The Update a claim sends: the id it was first sent with. */
export function updateIdFor(claim: Pick<ActionKeyRow, 'action' | 'key' | 'updateId'>): string {
  return claim.updateId ?? oldUpdateId(claim.action, claim.key);
}
