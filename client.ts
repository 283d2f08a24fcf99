import { Client, Connection } from '@temporalio/client';
import proto from '@temporalio/proto';
import { SEARCH_ATTRIBUTES } from './domain/search-attributes.js';

const GRPC_UNIMPLEMENTED = 12;

/** True for a gRPC UNIMPLEMENTED answer, however deep the SDK wrapped it. */
export function isUnimplemented(err: unknown): boolean {
  for (let e: unknown = err; e && typeof e === 'object'; e = (e as { cause?: unknown }).cause) {
    if ((e as { code?: unknown }).code === GRPC_UNIMPLEMENTED) return true;
  }
  return false;
}

export interface TemporalClientOptions {
  address: string;
  namespace: string;
}

/** The Temporal client the API and scripts use. */
export async function createTemporalClient({ address, namespace }: TemporalClientOptions): Promise<Client> {
  const connection = await Connection.connect({ address });
  return new Client({ connection, namespace });
}

/**
 * Registers the project's search attributes where they are missing (the dev server gets them at
 * start; a production cluster gets them here), so starting a workflow never fails on them.
 * Returns false where the server cannot have them at all.
 */
export async function ensureSearchAttributes(client: Client): Promise<boolean> {
  const { namespace } = client.options;
  const operator = client.connection.operatorService;
  let existing: Awaited<ReturnType<typeof operator.listSearchAttributes>>;
  try {
    existing = await operator.listSearchAttributes({ namespace });
  } catch (err) {
    // The time-skipping test server has no operator service and no custom search attributes.
    if (isUnimplemented(err)) return false;
    throw err;
  }
  const missing = SEARCH_ATTRIBUTES.filter((a) => !(a.name in (existing.customAttributes ?? {})));
  if (missing.length === 0) return true;
  await operator.addSearchAttributes({
    namespace,
    searchAttributes: Object.fromEntries(
      missing.map((a) => [a.name, proto.temporal.api.enums.v1.IndexedValueType[`INDEXED_VALUE_TYPE_${a.type}`]]),
    ),
  });
  return true;
}
