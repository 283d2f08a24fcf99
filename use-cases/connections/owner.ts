import { WithStartWorkflowOperation, WorkflowNotFoundError } from '@temporalio/client';
import type { Database } from '../../db/client.js';
import { connections } from '../../db/schema.js';
import {
  type ConnectionOwnerInput,
  connectionOwnerWorkflowId,
  type DisconnectOutcome,
  type DisconnectRequest,
  disconnectUpdate,
  type RenewalOutcome,
  type RenewRequest,
  renewUpdate,
  replanSignal,
} from '../../workflows/connection-messages.js';
import { withTemporalDeadline } from '../temporal-calls.js';
import type { OwnerAccess } from './deps.js';

function startOperation(access: OwnerAccess, connectionId: string) {
  const args: [ConnectionOwnerInput] = [{ connectionId }];
  return new WithStartWorkflowOperation('connectionOwner', {
    workflowId: connectionOwnerWorkflowId(connectionId),
    taskQueue: access.taskQueue,
    args,
    workflowIdConflictPolicy: 'USE_EXISTING',
  });
}

/** Starts the connection's owner, or tells the running one to plan again from the row (a reconnect). */
export async function ensureOwner(access: OwnerAccess, connectionId: string): Promise<void> {
  const args: [ConnectionOwnerInput] = [{ connectionId }];
  await withTemporalDeadline(access, () =>
    access.temporal.workflow.signalWithStart('connectionOwner', {
      workflowId: connectionOwnerWorkflowId(connectionId),
      taskQueue: access.taskQueue,
      args,
      signal: replanSignal,
      signalArgs: [],
    }),
  );
}

/**
 * Asks the owner for a renewal (a publish met a refused or expired token), starting it if it is
 * not running. Concurrent askers are served one after another; the second usually gets
 * `already_fresh` without a second refresh.
 */
export async function requestRenewal(
  access: OwnerAccess,
  connectionId: string,
  request: RenewRequest = {},
): Promise<RenewalOutcome> {
  return withTemporalDeadline(access, () =>
    access.temporal.workflow.executeUpdateWithStart(renewUpdate, {
      args: [request],
      startWorkflowOperation: startOperation(access, connectionId),
    }),
  );
}

/** Disconnect through the owner, so it never overlaps a refresh and the owner ends with it. */
export async function requestDisconnect(
  access: OwnerAccess,
  connectionId: string,
  request: DisconnectRequest,
): Promise<DisconnectOutcome> {
  return withTemporalDeadline(access, () =>
    access.temporal.workflow.executeUpdateWithStart(disconnectUpdate, {
      args: [request],
      startWorkflowOperation: startOperation(access, connectionId),
    }),
  );
}

/** Stops the owner if it runs and deletes its history (account deletion). */
export async function removeOwner(access: OwnerAccess, connectionId: string): Promise<void> {
  const workflowId = connectionOwnerWorkflowId(connectionId);
  const handle = access.temporal.workflow.getHandle(workflowId);
  // It may end on its own between the two calls (a disconnect just completed it): both are best effort.
  await withTemporalDeadline(access, () => handle.terminate('The connection was removed')).catch(ignoreNotFound);
  await withTemporalDeadline(access, () =>
    access.temporal.workflowService.deleteWorkflowExecution({
      namespace: access.temporal.options.namespace,
      workflowExecution: { workflowId },
    }),
  ).catch(ignoreNotFound);
}

function ignoreNotFound(err: unknown): void {
  if (!(err instanceof WorkflowNotFoundError) && !isGrpcNotFound(err)) throw err;
}

function isGrpcNotFound(err: unknown): boolean {
  for (let e: unknown = err; e && typeof e === 'object'; e = (e as { cause?: unknown }).cause) {
    if ((e as { code?: unknown }).code === 5) return true;
  }
  return false;
}

/** Starts the owner of every connection not running one (at worker start; cheap when all run). */
export async function ensureAllOwners(db: Database, access: OwnerAccess): Promise<number> {
  const rows = await db.select({ id: connections.id }).from(connections);
  for (const row of rows) await ensureOwner(access, row.id);
  return rows.length;
}
