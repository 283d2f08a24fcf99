import { and, eq, lt, or, type SQL } from 'drizzle-orm';
import type { AnyPgColumn } from 'drizzle-orm/pg-core';
import { isUuid } from '../domain/ids.js';
import { FIRST_YEAR, LAST_YEAR } from '../domain/zoned-time.js';
import { Problem } from './problem.js';

export { isUuid };

/** Opaque keyset cursor: the (created_at, id) of the last row of the previous page. */
export function encodeCursor(createdAt: Date, id: string): string {
  return Buffer.from(JSON.stringify([createdAt.toISOString(), id])).toString('base64url');
}

export function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  try {
    const [createdAt, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString()) as [string, string];
    const date = new Date(createdAt);
    const year = date.getUTCFullYear();
    if (Number.isNaN(year) || year < FIRST_YEAR || year > LAST_YEAR || !isUuid(id)) throw new Error('bad cursor');
    return { createdAt: date, id };
  } catch {
    throw Problem.validation([{ field: 'cursor', message: 'not a cursor this API returned; start without one' }]);
  }
}

/** The keyset condition "after this cursor" for a newest-first listing on (created_at, id). */
export function after(createdAt: AnyPgColumn, id: AnyPgColumn, cursor: string | undefined): SQL | undefined {
  if (!cursor) return undefined;
  const last = decodeCursor(cursor);
  return or(lt(createdAt, last.createdAt), and(eq(createdAt, last.createdAt), lt(id, last.id)));
}

/** Cuts the `limit + 1` rows a listing fetched into a page and the cursor for the next one. */
export function toPage<Row extends { createdAt: Date; id: string }, Item>(
  rows: Row[],
  limit: number,
  view: (row: Row) => Item,
): { items: Item[]; nextCursor: string | null } {
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return {
    items: page.map(view),
    nextCursor: rows.length > limit && last ? encodeCursor(last.createdAt, last.id) : null,
  };
}
