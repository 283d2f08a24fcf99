import { and, eq } from 'drizzle-orm';
import { type PendingAccount, pendingChoices } from '../../db/schema.js';
import { ConflictError, NotFoundError, ValidationError } from '../../domain/errors.js';
import type { Platform } from '../../platforms/connector.js';
import { startOwners } from './callback.js';
import { type ConnectionDeps, clock, type OwnerAccess } from './deps.js';
import { storeConnection } from './store-connection.js';

export interface PendingChoiceView {
  id: string;
  platform: Platform;
  via: 'facebook' | null;
  expiresAt: string;
  /** What the person picks from: never a token. */
  accounts: { id: string; displayName: string; avatarUrl: string | null }[];
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

type PendingRow = typeof pendingChoices.$inferSelect;

export function toPendingChoiceView(row: PendingRow): PendingChoiceView {
  return {
    id: row.id,
    platform: row.platform,
    via: row.via,
    expiresAt: row.expiresAt.toISOString(),
    accounts: row.accounts.map((a) => ({
      id: a.platformAccountId,
      displayName: a.displayName,
      avatarUrl: a.avatarUrl,
    })),
  };
}

async function ownChoice(deps: ConnectionDeps, ownerId: string, choiceId: string): Promise<PendingRow> {
  if (!UUID.test(choiceId)) throw new NotFoundError(`Pending choice ${choiceId}`);
  const [row] = await deps.db
    .select()
    .from(pendingChoices)
    .where(and(eq(pendingChoices.id, choiceId), eq(pendingChoices.ownerId, ownerId)));
  if (!row) throw new NotFoundError(`Pending choice ${choiceId}`);
  if (row.expiresAt.getTime() <= clock(deps).getTime()) {
    await deps.db.delete(pendingChoices).where(eq(pendingChoices.id, row.id));
    throw new NotFoundError(`Pending choice ${choiceId} (it expired; start connecting again)`);
  }
  return row;
}

export async function viewPendingChoice(
  deps: ConnectionDeps,
  ownerId: string,
  choiceId: string,
): Promise<PendingChoiceView> {
  return toPendingChoiceView(await ownChoice(deps, ownerId, choiceId));
}

/**
 * Connects the accounts the person picked, by the ids offered. The choice is used up: the accounts
 * not picked, and their tokens, are dropped with it.
 */
export async function confirmPendingChoice(
  deps: ConnectionDeps & { owner: OwnerAccess },
  request: { ownerId: string; choiceId: string; accountIds: string[]; ip?: string | undefined },
): Promise<{ connectionIds: string[]; ownerStarted: boolean }> {
  const row = await ownChoice(deps, request.ownerId, request.choiceId);
  const offered = new Map(row.accounts.map((a) => [a.platformAccountId, a]));
  const errors = request.accountIds.flatMap((id, i) =>
    offered.has(id)
      ? request.accountIds.indexOf(id) === i
        ? []
        : [{ field: `accountIds[${i}]`, message: 'chosen twice' }]
      : [{ field: `accountIds[${i}]`, message: 'not one of the accounts offered by this connection attempt' }],
  );
  if (errors.length > 0) throw new ValidationError(errors);
  // Claimed by deleting it: a second confirmation of the same choice finds nothing.
  const claimed = await deps.db
    .delete(pendingChoices)
    .where(eq(pendingChoices.id, row.id))
    .returning({ id: pendingChoices.id });
  if (claimed.length === 0) throw new ConflictError('Choice already confirmed', 'This choice was confirmed already');
  const chosen = request.accountIds.map((id) => offered.get(id) as PendingAccount);
  for (const account of chosen) {
    await storeConnection(
      deps.db,
      {
        id: account.connectionId,
        ownerId: request.ownerId,
        platform: row.platform,
        via: row.via,
        platformAccountId: account.platformAccountId,
        displayName: account.displayName,
        avatarUrl: account.avatarUrl,
        grantKey: account.grantKey,
        sealed: {
          accessToken: account.accessToken,
          accessTokenExpiresAt: dateOrNull(account.accessTokenExpiresAt),
          refreshToken: account.refreshToken,
          refreshTokenExpiresAt: dateOrNull(account.refreshTokenExpiresAt),
          userToken: account.userToken,
          userTokenExpiresAt: dateOrNull(account.userTokenExpiresAt),
          scopes: account.scopes,
          issuedAt: new Date(account.issuedAt),
        },
      },
      request.ip,
    );
  }
  const connectionIds = chosen.map((a) => a.connectionId);
  return { connectionIds, ownerStarted: await startOwners(deps.owner, connectionIds) };
}

const dateOrNull = (value: string | null) => (value === null ? null : new Date(value));
