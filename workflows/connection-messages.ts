import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';

// The connection owner's contract: ids, versions and outcomes only, never a token. Shared by the
// workflow, its activities and the use cases that reach it.

export interface ConnectionOwnerInput {
  connectionId: string;
}

/** What the owner should do next for its connection, as planned by an activity from the row. */
export type RenewalStep =
  | { state: 'gone' }
  | { state: 'needs_reconnect' }
  | { state: 'active'; action: 'refresh' | 'check'; atMs: number; version: number };

export interface RenewRequest {
  /**
   * The credentials version the caller used when the platform refused the token. When the stored
   * version is newer, someone already renewed: the caller just reads the row again.
   */
  seenVersion?: number;
}

export type RenewalOutcomeKind =
  /** A new token (pair) was stored. */
  | 'renewed'
  /** No refresh exists; the platform confirmed the token still works. */
  | 'checked'
  /** Renewed by someone else since `seenVersion`. */
  | 'already_fresh'
  /** The platform does not renew this token yet (Instagram: under 24 h old); it is still valid. */
  | 'not_due'
  /** The platform refused definitively; a person must connect again. */
  | 'needs_reconnect'
  /** The connection no longer exists. */
  | 'gone';

export interface RenewalOutcome {
  outcome: RenewalOutcomeKind;
  /** The credentials version now stored; null when the connection is gone. */
  version: number | null;
}

export interface DisconnectRequest {
  /** False when the platform itself ended the grant (its deauthorisation notice): nothing to revoke. */
  revoke: boolean;
}

export type RevocationOutcome =
  | 'revoked'
  | 'already_invalid'
  /** The platform offers no revocation (Instagram Login): the person removes the app there. */
  | 'not_offered'
  /** Other connections share the grant (Facebook Pages of one consent): revoked with the last one. */
  | 'kept_for_other_connections'
  /** Not asked to revoke, or the platform could not be reached; the tokens are deleted either way. */
  | 'skipped'
  | 'failed';

export interface DisconnectOutcome {
  /** False when the connection was already gone. */
  deleted: boolean;
  revocation: RevocationOutcome;
  /** Scheduled posts that lose this target (ids). */
  affectedPostIds: string[];
}

export interface OwnerStatus {
  state: 'planning' | 'waiting' | 'renewing' | 'needs_reconnect' | 'ended';
  /** When the next scheduled refresh or validity check runs (ISO); null when none is planned. */
  nextRenewalAt: string | null;
  nextAction: 'refresh' | 'check' | null;
  renewals: number;
}

/** A publish (or anything holding a refused token) asks for a renewal; serialised with the owner's own. */
export const renewUpdate = defineUpdate<RenewalOutcome, [RenewRequest]>('renew');
/** Revoke where offered, delete the tokens and profile, end the owner. */
export const disconnectUpdate = defineUpdate<DisconnectOutcome, [DisconnectRequest]>('disconnect');
/** The credentials changed outside the owner (a reconnect): plan again from the row. */
export const replanSignal = defineSignal('replan');
export const ownerStatusQuery = defineQuery<OwnerStatus>('ownerStatus');

export const connectionOwnerWorkflowId = (connectionId: string) => `connection-${connectionId}`;
