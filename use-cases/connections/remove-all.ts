import { eq } from 'drizzle-orm';
import type { Database } from '../../db/client.js';
import { connections } from '../../db/schema.js';
import type { OwnerAccess } from './deps.js';
import { removeConnection } from './disconnect.js';
import { removeOwner, requestDisconnect } from './owner.js';
import { connectionById } from './rows.js';

/**
 * Account deletion: every connection is disconnected through its owner (which revokes where the
 * platform offers it); whatever Temporal could not do is deleted here without revoking, then every
 * owner is stopped and its history deleted. Safe to run again.
 */
export async function removeAccountConnections(
  deps: { db: Database; owner: OwnerAccess },
  ownerId: string,
): Promise<{ removed: number }> {
  const rows = await deps.db.select({ id: connections.id }).from(connections).where(eq(connections.ownerId, ownerId));
  for (const { id } of rows) {
    await requestDisconnect(deps.owner, id, { revoke: true }).catch(() => undefined);
    const left = await connectionById(deps.db, id);
    if (left) await removeConnection(deps.db, left);
    await removeOwner(deps.owner, id);
  }
  return { removed: rows.length };
}
