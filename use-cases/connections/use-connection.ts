import { ConnectorError, type Credentials } from '../../platforms/connector.js';
import type { RenewalOutcome, RenewRequest } from '../../workflows/connection-messages.js';
import { openCredentials } from './credentials.js';
import type { ConnectionDeps } from './deps.js';
import { type ConnectionRow, connectionById } from './rows.js';

export interface UseConnectionDeps extends ConnectionDeps {
  /** Asks the connection's owner workflow to renew (requestRenewal bound to a Temporal client). */
  requestRenewal(connectionId: string, request: RenewRequest): Promise<RenewalOutcome>;
}

/** The connection cannot be used until a person connects it again. */
export class ConnectionUnusableError extends Error {
  override name = 'ConnectionUnusableError';
}

/**
 * Runs `call` with the connection's current credentials, for activities that act on a platform
 * (issue 11's publishers). A token that is refused (or already past its expiry) is renewed through
 * the owner workflow, never here, and the call is tried once more with what the owner stored.
 */
export async function withConnection<T>(
  deps: UseConnectionDeps,
  connectionId: string,
  call: (credentials: Credentials, row: ConnectionRow) => Promise<T>,
): Promise<T> {
  let row = await usable(deps, connectionId);
  const expired = row.accessTokenExpiresAt !== null && row.accessTokenExpiresAt.getTime() <= Date.now();
  if (!expired) {
    try {
      return await call(openCredentials(deps.vault, row.id, row), row);
    } catch (err) {
      if (!(err instanceof ConnectorError && err.kind === 'access_expired')) throw err;
    }
  }
  const renewal = await deps.requestRenewal(connectionId, { seenVersion: row.version });
  if (renewal.outcome === 'needs_reconnect' || renewal.outcome === 'gone') {
    throw new ConnectionUnusableError(
      renewal.outcome === 'gone'
        ? 'The connection was removed.'
        : 'The platform no longer accepts this connection; connect the account again.',
    );
  }
  row = await usable(deps, connectionId);
  return call(openCredentials(deps.vault, row.id, row), row);
}

async function usable(deps: ConnectionDeps, connectionId: string): Promise<ConnectionRow> {
  const row = await connectionById(deps.db, connectionId);
  if (!row) throw new ConnectionUnusableError('The connection was removed.');
  if (row.status === 'needs_reconnect') {
    throw new ConnectionUnusableError(row.statusReason ?? 'Connect the account again.');
  }
  return row;
}
