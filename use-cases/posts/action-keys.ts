import { createHash } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
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
 * something else.
 */
export async function claimActionKey(
  db: Database,
  claim: { ownerId: string; key: string; postId: string; action: string; requestHash: string },
): Promise<ActionKeyRow> {
  const [inserted] = await db.insert(postActionKeys).values(claim).onConflictDoNothing().returning();
  if (inserted) return inserted;
  const [existing] = await db
    .select()
    .from(postActionKeys)
    .where(and(eq(postActionKeys.ownerId, claim.ownerId), eq(postActionKeys.key, claim.key)));
  if (!existing) throw new Error('Idempotency-Key vanished while being claimed');
  if (
    existing.postId !== claim.postId ||
    existing.action !== claim.action ||
    existing.requestHash !== claim.requestHash
  ) {
    throw new ValidationError([
      {
        field: 'Idempotency-Key',
        message: `already used for a different request (${existing.action}); use a new key for a new action`,
      },
    ]);
  }
  return existing;
}

export async function markActionSucceeded(db: Database, ownerId: string, key: string): Promise<void> {
  await db
    .update(postActionKeys)
    .set({ succeededAt: new Date() })
    .where(and(eq(postActionKeys.ownerId, ownerId), eq(postActionKeys.key, key)));
}

/**
 * The Update id for an action sent with an Idempotency-Key: Temporal runs an Update id once per
 * run and answers a repeat with the first outcome. Hashed so any key fits, whatever its length.
 */
export function updateIdFor(action: string, key: string): string {
  return `${action}:${createHash('sha256').update(key).digest('base64url')}`;
}
