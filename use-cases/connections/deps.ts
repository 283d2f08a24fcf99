import type { Database } from '../../db/client.js';
import type { ConnectorRegistry } from '../../platforms/connectors.js';
import type { TokenVault } from '../../vault/token-vault.js';
import type { TemporalAccess } from '../temporal-calls.js';

/** What the connection use cases need: the database, the token vault and the platform connectors. */
export interface ConnectionDeps {
  db: Database;
  vault: TokenVault;
  connectors: ConnectorRegistry;
  /** The clock for expiry decisions (tests may move it with the emulators' clocks). */
  now?: () => Date;
  /**
   * RETRY_WINDOW_DAYS, so a disconnect names failed posts only while they may still be retried;
   * the longest window the setting allows when absent.
   */
  retryWindowDays?: number;
}

/** Reaching a connection's owner workflow. */
export interface OwnerAccess extends TemporalAccess {
  taskQueue: string;
}

export const clock = (deps: { now?: () => Date }): Date => deps.now?.() ?? new Date();
