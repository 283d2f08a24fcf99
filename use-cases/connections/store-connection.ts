import { randomUUID } from 'node:crypto';
import { and, eq, inArray, isNull, notInArray, sql } from 'drizzle-orm';
import { audit } from '../../auth/audit.js';
import type { Database } from '../../db/client.js';
import { connections, posts, publications } from '../../db/schema.js';
import type { Platform, Via } from '../../platforms/connector.js';
import { ENDED_FOR_GOOD } from './affected-posts.js';
import type { SealedCredentials } from './credentials.js';

type Tx = Parameters<Parameters<Database['transaction']>[0]>[0];

export interface NewConnection {
  /** The id the secrets were sealed for. */
  id: string;
  ownerId: string;
  platform: Platform;
  via: Via | null;
  platformAccountId: string;
  displayName: string;
  avatarUrl: string | null;
  grantKey: string;
  sealed: SealedCredentials;
}

/** The id a (re)connected account's row has or will get: a reconnect keeps its connection. */
export async function connectionIdFor(
  db: Database,
  ownerId: string,
  platform: Platform,
  platformAccountId: string,
): Promise<string> {
  const [existing] = await db
    .select({ id: connections.id })
    .from(connections)
    .where(
      and(
        eq(connections.ownerId, ownerId),
        eq(connections.platform, platform),
        eq(connections.platformAccountId, platformAccountId),
      ),
    );
  return existing?.id ?? randomUUID();
}

/**
 * Inserts the connection, or replaces the credentials and profile of the same account connected
 * before (status active again, version bumped so an in-flight refresh of the old pair is dropped).
 * A row of the same account under another id (a race of two connects) gives way to this one.
 * Targets left without a connection by an earlier disconnect of this very account are linked to it
 * in the same transaction, so retrying them (or letting a scheduled one run) publishes.
 */
export async function storeConnection(db: Database, connection: NewConnection, ip?: string): Promise<void> {
  const values = {
    ownerId: connection.ownerId,
    platform: connection.platform,
    via: connection.via,
    platformAccountId: connection.platformAccountId,
    displayName: connection.displayName,
    avatarUrl: connection.avatarUrl,
    grantKey: connection.grantKey,
    status: 'active' as const,
    statusReason: null,
    ...connection.sealed,
  };
  await db.transaction(async (tx) => {
    await tx
      .delete(connections)
      .where(
        and(
          eq(connections.ownerId, connection.ownerId),
          eq(connections.platform, connection.platform),
          eq(connections.platformAccountId, connection.platformAccountId),
          sql`${connections.id} <> ${connection.id}`,
        ),
      );
    await tx
      .insert(connections)
      .values({ id: connection.id, ...values })
      .onConflictDoUpdate({
        target: connections.id,
        set: { ...values, version: sql`${connections.version} + 1`, updatedAt: new Date() },
      });
    await relinkTargets(tx, connection);
  });
  await audit(db, {
    userId: connection.ownerId,
    action: 'connection.connect',
    outcome: 'success',
    ip,
    detail: { connectionId: connection.id, platform: connection.platform },
  });
}

/**
 * The account, not the login: a Facebook login covers several Pages and the Instagram accounts
 * behind them, each its own platformAccountId, so only targets of the account just stored follow
 * it. An Instagram account is matched by its id whichever login reached it (a Facebook Page or
 * Instagram Login), as connections_owner_account_unique already treats it as one account.
 * Published and cancelled posts are left as they were; a failed one is linked whether or not its
 * retry window is still open, which only its workflow knows.
 */
async function relinkTargets(tx: Tx, connection: NewConnection): Promise<void> {
  await tx
    .update(publications)
    .set({ connectionId: connection.id, updatedAt: new Date() })
    .where(
      and(
        isNull(publications.connectionId),
        eq(publications.targetType, connection.platform),
        eq(publications.platformAccountId, connection.platformAccountId),
        inArray(
          publications.postId,
          tx
            .select({ id: posts.id })
            .from(posts)
            .where(and(eq(posts.ownerId, connection.ownerId), notInArray(posts.status, [...ENDED_FOR_GOOD]))),
        ),
      ),
    );
}
