import { and, eq, ne } from 'drizzle-orm';
import { audit } from '../../auth/audit.js';
import type { Database } from '../../db/client.js';
import { connections } from '../../db/schema.js';
import { ConnectorError } from '../../platforms/connector.js';
import type { DisconnectOutcome, RevocationOutcome } from '../../workflows/connection-messages.js';
import { postsTargeting } from './affected-posts.js';
import { openCredentials } from './credentials.js';
import type { ConnectionDeps } from './deps.js';
import { accountRefOf, type ConnectionRow, connectionById } from './rows.js';

/**
 * Ends one connection for good: revokes at the platform where it offers revocation (a shared grant
 * only with the last connection under it), then deletes the row, which holds the only copy of the
 * tokens and of the account's name and picture. Runs in the owner workflow's activity, the one
 * place tokens are opened; a failed revocation never keeps the tokens.
 */
export async function disconnectConnection(
  deps: ConnectionDeps,
  request: { connectionId: string; revoke: boolean },
): Promise<DisconnectOutcome> {
  const row = await connectionById(deps.db, request.connectionId);
  if (!row) return { deleted: false, revocation: 'skipped', affectedPostIds: [] };
  const revocation = request.revoke ? await revokeIfLast(deps, row) : 'skipped';
  const affectedPostIds = await removeConnection(deps.db, row, deps.retryWindowDays);
  await audit(deps.db, {
    userId: row.ownerId,
    action: 'connection.disconnect',
    outcome: 'success',
    ip: undefined,
    detail: { connectionId: row.id, platform: row.platform, revocation, affectedPostIds },
  });
  return { deleted: true, revocation, affectedPostIds };
}

async function revokeIfLast(deps: ConnectionDeps, row: ConnectionRow): Promise<RevocationOutcome> {
  const [other] = await deps.db
    .select({ id: connections.id })
    .from(connections)
    .where(and(eq(connections.grantKey, row.grantKey), ne(connections.id, row.id)))
    .limit(1);
  if (other) return 'kept_for_other_connections';
  try {
    const connector = deps.connectors.get(row.platform);
    return await connector.revoke(accountRefOf(row), openCredentials(deps.vault, row.id, row));
  } catch (err) {
    // Unreachable platform, key gone from the keyring, or the platform is no longer configured:
    // the person asked for the tokens to go, and they go.
    if (err instanceof ConnectorError || (err instanceof Error && /Vault|NotConfigured/.test(err.name))) {
      return 'failed';
    }
    throw err;
  }
}

/**
 * Deletes the row (tokens and profile) and says which posts lose the target: unfinished ones, and
 * failed ones that could still retry it. Each target keeps the account's platform id, so connecting
 * the same account again links it back (storeConnection).
 */
export async function removeConnection(db: Database, row: ConnectionRow, retryWindowDays?: number): Promise<string[]> {
  const affected = await postsTargeting(db, row.ownerId, [row.id], retryWindowDays);
  await db.delete(connections).where(eq(connections.id, row.id));
  return affected;
}
