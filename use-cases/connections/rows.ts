import { and, eq } from 'drizzle-orm';
import type { Database } from '../../db/client.js';
import { connections } from '../../db/schema.js';
import { NotFoundError } from '../../domain/errors.js';
import type { AccountRef } from '../../platforms/connector.js';

export type ConnectionRow = typeof connections.$inferSelect;

export async function connectionById(db: Database, connectionId: string): Promise<ConnectionRow | undefined> {
  const [row] = await db.select().from(connections).where(eq(connections.id, connectionId));
  return row;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The caller's connection, or NotFound (another user's id answers exactly like a missing one). */
export async function ownConnection(db: Database, ownerId: string, connectionId: string): Promise<ConnectionRow> {
  if (!UUID.test(connectionId)) throw new NotFoundError(`Connection ${connectionId}`);
  const [row] = await db
    .select()
    .from(connections)
    .where(and(eq(connections.id, connectionId), eq(connections.ownerId, ownerId)));
  if (!row) throw new NotFoundError(`Connection ${connectionId}`);
  return row;
}

export const accountRefOf = (row: ConnectionRow): AccountRef => ({
  platformAccountId: row.platformAccountId,
  via: row.via,
});
