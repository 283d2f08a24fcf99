import type { Client } from '@temporalio/client';
import { WorkflowUpdateRPCTimeoutOrCancelledError } from '@temporalio/client';
import { UnavailableError } from '../domain/errors.js';

/** Seconds a client is asked to wait before repeating a request Temporal did not answer. */
export const TEMPORAL_RETRY_AFTER_SECONDS = 5;

/** The Temporal client and how long any one call to it may take. */
export interface TemporalAccess {
  temporal: Client;
  /** Every call (starts, Updates, describes) gives up after this; a person is waiting. */
  callTimeoutMs: number;
}

const GRPC_CANCELLED = 1;
const GRPC_DEADLINE_EXCEEDED = 4;
const GRPC_UNAVAILABLE = 14;

/** True when Temporal did not answer (timeout, unreachable), as opposed to answering no. */
export function isTemporalUnavailable(err: unknown): boolean {
  for (let e: unknown = err; e && typeof e === 'object'; e = (e as { cause?: unknown }).cause) {
    if (e instanceof WorkflowUpdateRPCTimeoutOrCancelledError) return true;
    const code = (e as { code?: unknown }).code;
    if (code === GRPC_DEADLINE_EXCEEDED || code === GRPC_UNAVAILABLE || code === GRPC_CANCELLED) return true;
  }
  return false;
}

export function temporalUnavailable(): UnavailableError {
  return new UnavailableError(
    'Workflow engine unavailable',
    'Temporal did not answer in time; repeat the request shortly (with the same Idempotency-Key, if you sent one)',
    TEMPORAL_RETRY_AFTER_SECONDS,
  );
}

/**
 * Runs `call` with a deadline on every Temporal request it makes, so a person never waits on an
 * outage: no answer in time becomes UnavailableError.
 */
export async function withTemporalDeadline<T>(access: TemporalAccess, call: () => Promise<T>): Promise<T> {
  try {
    return await access.temporal.withDeadline(Date.now() + access.callTimeoutMs, call);
  } catch (err) {
    if (isTemporalUnavailable(err)) throw temporalUnavailable();
    throw err;
  }
}
