import { type PGlite, parse, protocol, type QueryOptions, type Results, type Transaction } from '@electric-sql/pglite';

type BackendMessage = Awaited<ReturnType<PGlite['execProtocolStream']>>[number];
// The three answers read here, by the fields used (pg-protocol's message classes).
type RowDescriptionMessage = { fields: { name: string; dataTypeID: number }[] };
type DataRowMessage = { fields: (string | null)[] };
type CommandCompleteMessage = { text: string };

/** What drizzle's PGlite driver calls on its client. */
export interface StatementClient {
  query<T>(text: string, params?: unknown[], options?: QueryOptions): Promise<Results<T>>;
  transaction<T>(callback: (tx: Pick<Transaction, 'query'>) => Promise<T>): Promise<T>;
}

interface Prepared {
  name: string;
  paramTypes: number[];
  /** The statement's columns; bind and execute do not send them again. */
  fields: { name: string; dataTypeID: number }[];
}

/** Errors that mean a prepared statement is stale (the schema changed under it) or gone: it is prepared again next time. */
const STALE_STATEMENT = new Set(['0A000', '26000']);

/**
 * PGlite's `query` makes six calls into the database per statement (parse, describe, bind,
 * describe, execute, sync), and Postgres parses and plans the text again each time. The app sends
 * the same few dozen statements over and over, so this keeps each one prepared under a name and
 * runs it in a single call (bind, execute, sync): about a third of the CPU per statement
 * (BENCHMARKS.md). At most `capacity` stay prepared; the least recently used is closed first.
 * Queries take PGlite's own locks, so they still run one at a time and never inside another
 * caller's transaction.
 */
export function withPreparedStatements(client: PGlite, capacity = 200): StatementClient {
  const prepared = new Map<string, Prepared>();
  let named = 0;
  const wire = protocol.serialize;

  async function prepare(text: string, options: QueryOptions | undefined): Promise<Prepared> {
    const known = prepared.get(text);
    if (known) {
      // Map order is the recency order.
      prepared.delete(text);
      prepared.set(text, known);
      return known;
    }
    const messages: Uint8Array[] = [];
    if (prepared.size >= capacity) {
      const [oldest, statement] = prepared.entries().next().value as [string, Prepared];
      prepared.delete(oldest);
      messages.push(wire.close({ type: 'S', name: statement.name }));
    }
    const name = `app_${++named}`;
    messages.push(wire.parse({ name, text }), wire.describe({ type: 'S', name }), wire.sync());
    const described = await client.execProtocolStream(concat(messages), {
      syncToFs: false,
      onNotice: options?.onNotice,
    });
    const statement: Prepared = {
      name,
      paramTypes: parse.parseDescribeStatementResults(described),
      fields: described.flatMap((m) =>
        m.name === 'rowDescription'
          ? (m as unknown as RowDescriptionMessage).fields.map((f) => ({ name: f.name, dataTypeID: f.dataTypeID }))
          : [],
      ),
    };
    prepared.set(text, statement);
    return statement;
  }

  async function run<T>(text: string, params: unknown[] = [], options?: QueryOptions): Promise<Results<T>> {
    const statement = await prepare(text, options);
    // The same text form PGlite's own query sends for each parameter type.
    const values = params.map((value, i) => {
      if (value === null || value === undefined) return null;
      const type = statement.paramTypes[i]!;
      const serialize = options?.serializers?.[type] ?? client.serializers[type];
      return serialize ? serialize(value) : String(value);
    });
    let answer: BackendMessage[];
    try {
      answer = await client.execProtocolStream(
        concat([wire.bind({ statement: statement.name, values }), wire.execute({}), wire.sync()]),
        { syncToFs: false, onNotice: options?.onNotice },
      );
    } catch (err) {
      if (STALE_STATEMENT.has((err as { code?: string }).code ?? '')) prepared.delete(text);
      throw err;
    }
    return resultOf<T>(
      answer,
      statement.fields,
      (type) => options?.parsers?.[type] ?? client.parsers[type],
      options?.rowMode,
    );
  }

  return {
    query: async <T>(text: string, params?: unknown[], options?: QueryOptions) => {
      // "PGlite is closed" in words, as its own query says it, rather than a failure inside it.
      await client._checkReady();
      return client._runExclusiveTransaction(() =>
        client._runExclusiveQuery(async () => {
          const result = await run<T>(text, params, options);
          await client.syncToFs();
          return result;
        }),
      );
    },
    // The transaction holds PGlite's transaction lock; each statement in it takes the query lock.
    transaction: (callback) =>
      client.transaction((tx) =>
        callback({
          query: async <T>(text: string, params?: unknown[], options?: QueryOptions) => {
            if (tx.closed) throw new Error('Transaction is closed');
            return client._runExclusiveQuery(() => run<T>(text, params, options));
          },
        }),
      ),
  };
}

/**
 * The answer in the shape PGlite's own query gives. Its parser merges the caller's parsers into
 * the whole type table on every call; the columns here are known, so each gets its parser once.
 */
function resultOf<T>(
  answer: BackendMessage[],
  fields: Prepared['fields'],
  parserOf: (type: number) => ((value: string, type: number) => unknown) | undefined,
  rowMode: QueryOptions['rowMode'],
): Results<T> {
  const parsers = fields.map((f) => parserOf(f.dataTypeID));
  const value = (raw: string | null, i: number) => {
    if (raw === null) return null;
    const parser = parsers[i];
    return parser ? parser(raw, fields[i]!.dataTypeID) : raw;
  };
  const rows: unknown[] = [];
  for (const message of answer) {
    if (message.name === 'dataRow') {
      const values = (message as unknown as DataRowMessage).fields;
      if (rowMode === 'array') rows.push(values.map(value));
      else {
        const row: Record<string, unknown> = {};
        values.forEach((raw, i) => {
          row[fields[i]!.name] = value(raw, i);
        });
        rows.push(row);
      }
    } else if (message.name === 'commandComplete') {
      // "SELECT 2", "UPDATE 3", "INSERT 0 5"; other tags end in a word.
      const words = (message as unknown as CommandCompleteMessage).text.split(' ');
      const command = words[0]!;
      const rowCount = Number.parseInt(words[words.length - 1]!, 10);
      const affectedRows = WRITES.has(command) ? rowCount : 0;
      return {
        rows: rows as T[],
        fields,
        command,
        affectedRows,
        ...(Number.isNaN(rowCount) ? {} : { rowCount }),
      } as Results<T>;
    }
  }
  return { rows: [], fields: [], affectedRows: 0 };
}

const WRITES = new Set(['INSERT', 'UPDATE', 'DELETE', 'COPY', 'MERGE']);

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
