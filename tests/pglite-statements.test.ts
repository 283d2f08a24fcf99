import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite, types } from '@electric-sql/pglite';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/pglite';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { queryRows } from '../db/client.js';
import { withPreparedStatements } from '../db/pglite-statements.js';

// The embedded database's statements run prepared under a name; PGlite's own `query` is the
// reference for what every answer must look like.
let dir: string;
let client: PGlite;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'autopostpanel-pglite-statements-'));
  client = new PGlite(dir);
  await client.waitReady;
  await client.exec(`
    create table items (
      id uuid primary key,
      n int8 not null,
      ok boolean not null,
      body jsonb,
      tags text[] not null default '{}',
      at timestamptz not null default '2026-03-29T01:30:00Z'
    );
    insert into items (id, n, ok, body, tags) values
      ('00000000-0000-4000-8000-000000000001', 1, true, '{"a":[1,"x"]}', '{red,"with space"}'),
      ('00000000-0000-4000-8000-000000000002', 9007199254740993, false, null, '{}');
  `);
});
afterAll(async () => {
  await client?.close();
  await rm(dir, { recursive: true, force: true });
});

/** The app's named statements that are prepared right now. */
async function preparedNames(): Promise<string[]> {
  const { rows } = await client.query<{ name: string }>(
    `select name from pg_prepared_statements where name like 'app\\_%' order by name`,
  );
  return rows.map((r) => r.name);
}

async function deallocateAll() {
  await client.exec('deallocate all');
}

it('answers every statement as PGlite query does, in both row modes, with typed parameters', async () => {
  const fast = withPreparedStatements(client);
  const cases: [string, unknown[]][] = [
    ['select * from items order by id', []],
    [
      'select id, n, body, tags, at from items where id = any($1) order by n',
      [['00000000-0000-4000-8000-000000000002']],
    ],
    ['select count(*)::int as c from items where ok = $1 and body is not distinct from $2', [false, null]],
    ['select $1::jsonb as j, $2::timestamptz as t, $3::text[] as a', [{ k: 'v"' }, new Date(0), ['a', 'b c']]],
    ['select 1 as one where false', []],
  ];
  for (const [text, params] of cases) {
    for (const rowMode of ['object', 'array'] as const) {
      const expected = await client.query(text, params, { rowMode });
      const got = await fast.query(text, params, { rowMode });
      expect(got, `${rowMode}: ${text}`).toEqual(expected);
      // drizzle passes parsers of its own (timestamps kept as text) with every query.
      const keepText = { rowMode, parsers: { [types.TIMESTAMPTZ]: (value: string) => `as text: ${value}` } };
      expect(await fast.query(text, params, keepText)).toEqual(await client.query(text, params, keepText));
    }
  }
  // Two columns of one name: the last one wins in a row object, as in PGlite's.
  expect(await fast.query('select 1 as a, 2 as a', [])).toEqual(await client.query('select 1 as a, 2 as a', []));
  // Writes report their rows the same way.
  const insert = 'insert into items (id, n, ok) values ($1, $2, $3) returning id, n';
  expect(await fast.query(insert, ['00000000-0000-4000-8000-000000000003', 3, true])).toEqual(
    await client.query(insert, ['00000000-0000-4000-8000-000000000004', 3, true]).then((r) => ({
      ...r,
      rows: [{ id: '00000000-0000-4000-8000-000000000003', n: 3 }],
    })),
  );
  const update = 'update items set ok = $1 where n = $2';
  const updated = await fast.query(update, [false, 3]);
  expect([updated.affectedRows, updated.rows]).toEqual([2, []]);
  await client.query('delete from items where n = 3');
  await deallocateAll();
});

it('prepares a statement once and reuses it, closing the least recently used beyond its capacity', async () => {
  const fast = withPreparedStatements(client, 2);
  const a = 'select n from items where id = $1';
  const b = 'select ok from items where id = $1';
  const c = 'select body from items where id = $1';
  const id = '00000000-0000-4000-8000-000000000001';
  for (let i = 0; i < 5; i++) await fast.query(a, [id]);
  expect(await preparedNames()).toEqual(['app_1']);
  const { rows } = await client.query<{ runs: number }>(
    `select (generic_plans + custom_plans)::int as runs from pg_prepared_statements where name = 'app_1'`,
  );
  expect(rows[0]?.runs).toBe(5);

  await fast.query(b, [id]);
  await fast.query(a, [id]); // a is now the most recently used: b goes first
  await fast.query(c, [id]);
  expect(await preparedNames()).toEqual(['app_1', 'app_3']);
  expect((await fast.query<{ ok: boolean }>(b, [id])).rows).toEqual([{ ok: true }]);
  expect(await preparedNames()).toEqual(['app_3', 'app_4']);
  await deallocateAll();
});

it('keeps a failed statement’s SQLSTATE and goes on working after it, also after the schema changed', async () => {
  const fast = withPreparedStatements(client);
  const insert = 'insert into items (id, n, ok) values ($1, $2, $3)';
  await expect(fast.query(insert, ['00000000-0000-4000-8000-000000000001', 1, true])).rejects.toMatchObject({
    code: '23505',
  });
  await expect(fast.query('selec 1', [])).rejects.toMatchObject({ code: '42601' });
  await fast.query(insert, ['00000000-0000-4000-8000-000000000005', 5, true]);
  expect((await fast.query('select count(*)::int as c from items', [])).rows).toEqual([{ c: 3 }]);

  // A prepared `select *` no longer fits once a column is added: that one answer fails, the next
  // prepares the statement again.
  const all = 'select * from items where n = $1';
  await fast.query(all, [5]);
  await client.exec('alter table items add column extra text');
  await expect(fast.query(all, [5])).rejects.toMatchObject({ code: '0A000' });
  expect((await fast.query<{ extra: string | null }>(all, [5])).rows[0]).toMatchObject({ n: 5, extra: null });
  await client.exec('alter table items drop column extra');
  await client.query('delete from items where n = 5');
  await deallocateAll();
});

it('runs drizzle transactions through it: a failure rolls back, and other queries wait for the end', async () => {
  const db = drizzle({ client: withPreparedStatements(client) as unknown as PGlite });
  const id = '00000000-0000-4000-8000-000000000006';
  await expect(
    db.transaction(async (tx) => {
      await tx.execute(sql`insert into items (id, n, ok) values (${id}, 6, true)`);
      throw new Error('changed my mind');
    }),
  ).rejects.toThrow('changed my mind');
  expect(await queryRows(db, sql`select id from items where id = ${id}`)).toEqual([]);

  let outside: Promise<unknown[]> | undefined;
  await db.transaction(async (tx) => {
    await tx.execute(sql`insert into items (id, n, ok) values (${id}, 6, true)`);
    // Issued while the transaction is open: it must not run inside it nor see it half done.
    outside = queryRows(db, sql`select n from items where id = ${id}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
    await tx.execute(sql`update items set n = 7 where id = ${id}`);
  });
  expect(await outside).toEqual([{ n: 7 }]);
  await client.query('delete from items where id = $1', [id]);
  await deallocateAll();
});

it('refuses in words once the database is closed', async () => {
  const closing = new PGlite();
  const fast = withPreparedStatements(closing);
  expect((await fast.query<{ one: number }>('select 1 as one', [])).rows).toEqual([{ one: 1 }]);
  await closing.close();
  await expect(fast.query('select 1 as one', [])).rejects.toThrow('PGlite is closed');
});
