import { and, eq } from 'drizzle-orm';
import { audit } from '../../auth/audit.js';
import { connections } from '../../db/schema.js';
import { ConnectorError, type Credentials } from '../../platforms/connector.js';
import type { RenewalOutcome, RenewalStep } from '../../workflows/connection-messages.js';
import { postsTargeting } from './affected-posts.js';
import { openCredentials, sealCredentials } from './credentials.js';
import { type ConnectionDeps, clock } from './deps.js';
import { accountRefOf, type ConnectionRow, connectionById } from './rows.js';

/** What the owner should do next, from the stored row (the connector decides per platform). */
export async function planRenewal(deps: ConnectionDeps, connectionId: string): Promise<RenewalStep> {
  const row = await connectionById(deps.db, connectionId);
  if (!row) return { state: 'gone' };
  if (row.status === 'needs_reconnect') return { state: 'needs_reconnect' };
  const connector = deps.connectors.get(row.platform);
  const plan = connector.renewalPlan(accountRefOf(row), openCredentials(deps.vault, row.id, row), clock(deps));
  return { state: 'active', action: plan.action, atMs: plan.at.getTime(), version: row.version };
}

export interface RenewRequest {
  connectionId: string;
  /** The version the caller saw fail; a newer stored version means the work is done already. */
  seenVersion?: number | undefined;
  trigger: 'scheduled' | 'on_demand';
}

/**
 * One renewal: refresh where the platform has one (a rotated pair stored atomically over the
 * version read), a validity check where it has none. A definitive refusal marks the connection
 * `needs_reconnect` with the reason and an audit entry. Must only ever run from the connection's
 * owner workflow, which serialises it: that is what keeps a rotated refresh token from being used twice.
 */
export async function renewConnection(deps: ConnectionDeps, request: RenewRequest): Promise<RenewalOutcome> {
  const row = await connectionById(deps.db, request.connectionId);
  if (!row) return { outcome: 'gone', version: null };
  if (row.status === 'needs_reconnect') return { outcome: 'needs_reconnect', version: row.version };
  if (request.seenVersion !== undefined && row.version > request.seenVersion) {
    return { outcome: 'already_fresh', version: row.version };
  }
  const connector = deps.connectors.get(row.platform);
  const account = accountRefOf(row);
  const credentials = openCredentials(deps.vault, row.id, row);
  const plan = connector.renewalPlan(account, credentials, clock(deps));
  let verifying = false;
  try {
    if (plan.action === 'check') {
      const profile = await connector.readProfile(account, credentials);
      await deps.db
        .update(connections)
        .set({
          displayName: profile.displayName,
          avatarUrl: profile.avatarUrl,
          lastRenewedAt: clock(deps),
          updatedAt: clock(deps),
        })
        .where(eq(connections.id, row.id));
      return { outcome: 'checked', version: row.version };
    }
    const fresh = await connector.refresh(account, credentials);
    if (fresh.accessToken === credentials.accessToken && fresh.refreshToken === credentials.refreshToken) {
      if (request.trigger === 'on_demand') {
        // Someone was refused this token and the platform will not renew it yet (Instagram under
        // 24 h): ask whether it still works, so a dead one is marked instead of failing post after post.
        verifying = true;
        await connector.readProfile(account, credentials);
      }
      return { outcome: 'not_due', version: row.version };
    }
    return await storeRenewed(deps, row, fresh);
  } catch (err) {
    if (!(err instanceof ConnectorError)) throw err;
    // A token without a refresh that stopped working is as final as a refused refresh.
    if (err.kind === 'needs_reconnect' || ((plan.action === 'check' || verifying) && err.kind === 'access_expired')) {
      await markNeedsReconnect(deps, row, err.message);
      return { outcome: 'needs_reconnect', version: row.version };
    }
    throw err;
  }
}

/**
 * Stores the new pair only over the version that was read: if anything changed the row meanwhile
 * (a reconnect), the newer credentials win and this pair is dropped rather than overwriting them.
 */
async function storeRenewed(deps: ConnectionDeps, row: ConnectionRow, fresh: Credentials): Promise<RenewalOutcome> {
  const sealed = sealCredentials(deps.vault, row.id, fresh);
  const [updated] = await deps.db
    .update(connections)
    .set({ ...sealed, version: row.version + 1, lastRenewedAt: clock(deps), updatedAt: clock(deps) })
    .where(and(eq(connections.id, row.id), eq(connections.version, row.version)))
    .returning({ version: connections.version });
  if (updated) return { outcome: 'renewed', version: updated.version };
  const now = await connectionById(deps.db, row.id);
  return now ? { outcome: 'already_fresh', version: now.version } : { outcome: 'gone', version: null };
}

export async function markNeedsReconnect(deps: ConnectionDeps, row: ConnectionRow, reason: string): Promise<void> {
  await deps.db
    .update(connections)
    .set({ status: 'needs_reconnect', statusReason: reason, updatedAt: clock(deps) })
    .where(eq(connections.id, row.id));
  const affectedPostIds = await postsTargeting(deps.db, row.ownerId, [row.id], deps.retryWindowDays);
  // Ids and the platform's reason only: the account's name and picture go with a disconnect, the audit log stays.
  await audit(deps.db, {
    userId: row.ownerId,
    action: 'connection.needs_reconnect',
    outcome: 'failure',
    ip: undefined,
    detail: { connectionId: row.id, platform: row.platform, reason, affectedPostIds },
  });
}
