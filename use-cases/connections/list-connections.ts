import { WorkflowUpdateFailedError } from '@temporalio/client';
import { and, asc, eq, gt } from 'drizzle-orm';
import type { Database } from '../../db/client.js';
import { connections, pendingChoices } from '../../db/schema.js';
import { UnavailableError } from '../../domain/errors.js';
import type { Platform } from '../../platforms/connector.js';
import type { ConnectorRegistry, PlatformStatus } from '../../platforms/connectors.js';
import type { DisconnectOutcome } from '../../workflows/connection-messages.js';
import type { OwnerAccess } from './deps.js';
import { requestDisconnect } from './owner.js';
import { type PendingChoiceView, toPendingChoiceView } from './pending-choice.js';
import { type ConnectionRow, ownConnection } from './rows.js';

/** A connection shows `expiring` when, without a renewal, it stops working within this. */
export const EXPIRING_WITHIN_MS = 7 * 24 * 3600_000;

export type ConnectionStatus = 'active' | 'expiring' | 'needs_reconnect';

export interface ConnectionView {
  id: string;
  platform: Platform;
  via: 'facebook' | null;
  platformAccountId: string;
  displayName: string;
  avatarUrl: string | null;
  status: ConnectionStatus;
  /** Why a person must reconnect (or why it is expiring), in words; null when all is well. */
  statusReason: string | null;
  scopes: string[];
  accessTokenExpiresAt: string | null;
  lastRenewedAt: string | null;
  connectedAt: string;
}

export interface PlatformView extends PlatformStatus {
  /** The redirect URI to register with the platform's developer app. */
  redirectUri: string;
}

/**
 * `expiring`: the grant ends soon and no renewal is in sight (refresh token near its end, or a
 * token without a refresh near its expiry); the owner normally renews long before.
 */
export function statusOf(row: ConnectionRow, now: Date): { status: ConnectionStatus; reason: string | null } {
  if (row.status === 'needs_reconnect') return { status: 'needs_reconnect', reason: row.statusReason };
  const soon = now.getTime() + EXPIRING_WITHIN_MS;
  const ends = row.refreshToken ? row.refreshTokenExpiresAt : row.accessTokenExpiresAt;
  if (ends && ends.getTime() < soon) {
    return {
      status: 'expiring',
      reason: `The authorization ends ${ends.toISOString()} unless it is renewed; connect again if it does not renew.`,
    };
  }
  return { status: 'active', reason: null };
}

export function toConnectionView(row: ConnectionRow, now: Date): ConnectionView {
  const { status, reason } = statusOf(row, now);
  return {
    id: row.id,
    platform: row.platform,
    via: row.via,
    platformAccountId: row.platformAccountId,
    displayName: row.displayName,
    avatarUrl: row.avatarUrl,
    status,
    statusReason: reason,
    scopes: row.scopes,
    accessTokenExpiresAt: row.accessTokenExpiresAt?.toISOString() ?? null,
    lastRenewedAt: row.lastRenewedAt?.toISOString() ?? null,
    connectedAt: row.createdAt.toISOString(),
  };
}

export async function listConnections(
  deps: { db: Database; connectors: ConnectorRegistry },
  ownerId: string,
  now = new Date(),
): Promise<{ items: ConnectionView[]; pendingChoices: PendingChoiceView[]; platforms: PlatformView[] }> {
  const rows = await deps.db
    .select()
    .from(connections)
    .where(eq(connections.ownerId, ownerId))
    .orderBy(asc(connections.platform), asc(connections.createdAt));
  const pending = await deps.db
    .select()
    .from(pendingChoices)
    .where(and(eq(pendingChoices.ownerId, ownerId), gt(pendingChoices.expiresAt, now)))
    .orderBy(asc(pendingChoices.createdAt));
  return {
    items: rows.map((row) => toConnectionView(row, now)),
    pendingChoices: pending.map(toPendingChoiceView),
    platforms: deps.connectors
      .status()
      .map((status) => ({ ...status, redirectUri: deps.connectors.redirectUri(status.platform) })),
  };
}

export async function viewConnection(db: Database, ownerId: string, connectionId: string): Promise<ConnectionView> {
  return toConnectionView(await ownConnection(db, ownerId, connectionId), new Date());
}

/** The caller disconnects one of their connections, through its owner workflow (which revokes). */
export async function disconnectOwnConnection(
  deps: { db: Database; owner: OwnerAccess },
  ownerId: string,
  connectionId: string,
): Promise<DisconnectOutcome & { id: string; platform: Platform }> {
  const row = await ownConnection(deps.db, ownerId, connectionId);
  try {
    const outcome = await requestDisconnect(deps.owner, row.id, { revoke: true });
    return { id: row.id, platform: row.platform, ...outcome };
  } catch (err) {
    // The owner's activity kept failing (database or platform down): nothing was half-done that a
    // repeat cannot finish, the tokens go only with the row.
    if (err instanceof WorkflowUpdateFailedError) {
      throw new UnavailableError(
        'Disconnect did not complete',
        'The connection could not be removed just now; repeat the request in a minute.',
        60,
      );
    }
    throw err;
  }
}
