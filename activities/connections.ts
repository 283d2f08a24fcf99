import { ApplicationFailure } from '@temporalio/common';
import { ConnectorError } from '../platforms/connector.js';
import { PlatformNotConfiguredError } from '../platforms/connectors.js';
import type { ConnectionDeps } from '../use-cases/connections/deps.js';
import { disconnectConnection } from '../use-cases/connections/disconnect.js';
import { planRenewal, renewConnection } from '../use-cases/connections/renew-connection.js';
import { VaultError } from '../vault/token-vault.js';
import type {
  DisconnectOutcome,
  DisconnectRequest,
  RenewalOutcome,
  RenewalStep,
  RenewRequest,
} from '../workflows/connection-messages.js';
import type { ActivityDeps } from './deps.js';

/**
 * The connection owner's activities: the only place tokens are opened. Inputs and results are ids,
 * versions and outcomes; a platform error becomes a retryable or final failure in its own words.
 */
export function createConnectionActivities(deps: ActivityDeps) {
  const connections = (): ConnectionDeps => {
    if (!deps.connections) throw ApplicationFailure.nonRetryable('This worker was started without connections');
    return deps.connections;
  };
  return {
    async planConnectionRenewal({ connectionId }: { connectionId: string }): Promise<RenewalStep> {
      return asFailure(() => planRenewal(connections(), connectionId));
    },
    async renewConnection(
      request: { connectionId: string; trigger: 'scheduled' | 'on_demand' } & RenewRequest,
    ): Promise<RenewalOutcome> {
      const outcome = await asFailure(() => renewConnection(connections(), request));
      deps.logger.info(
        { connectionId: request.connectionId, trigger: request.trigger, ...outcome },
        'connection renewal',
      );
      return outcome;
    },
    async disconnectConnection(request: { connectionId: string } & DisconnectRequest): Promise<DisconnectOutcome> {
      const outcome = await asFailure(() => disconnectConnection(connections(), request));
      deps.logger.info({ connectionId: request.connectionId, ...outcome }, 'connection disconnected');
      return outcome;
    },
  };
}

/** Transient platform trouble is retried (after Retry-After when given); anything else is final for this try. */
async function asFailure<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof PlatformNotConfiguredError || err instanceof VaultError) {
      throw ApplicationFailure.nonRetryable(err.message, err.name);
    }
    if (!(err instanceof ConnectorError)) throw err;
    if (err.retryable) {
      throw ApplicationFailure.create({
        message: err.message,
        type: 'ConnectorError',
        ...(err.details.retryAfterSeconds !== undefined
          ? { nextRetryDelay: `${Math.max(1, err.details.retryAfterSeconds)}s` }
          : {}),
      });
    }
    throw ApplicationFailure.nonRetryable(err.message, `ConnectorError.${err.kind}`);
  }
}
