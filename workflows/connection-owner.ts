import {
  ActivityFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import {
  type ConnectionOwnerInput,
  type DisconnectOutcome,
  disconnectUpdate,
  type OwnerStatus,
  ownerStatusQuery,
  type RenewalOutcome,
  renewUpdate,
  replanSignal,
} from './connection-messages.js';
import { FifoLock } from './fifo-lock.js';

const { planConnectionRenewal, renewConnection, disconnectConnection } = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '5s', backoffCoefficient: 2, maximumInterval: '2 minutes', maximumAttempts: 5 },
});

/** Never renew one connection more often than this, whatever a token's lifetime says. */
const MIN_GAP_MS = 5_000;
/** After a renewal that kept failing: wait this long (doubling, up to an hour) before the next try. */
const FAILURE_BACKOFF_MS = 60_000;
const MAX_BACKOFF_MS = 60 * 60_000;
/** Runs per history before continuing as new (sooner if Temporal suggests it). */
const MAX_CYCLES = 200;

const backoffMs = (failures: number) =>
  failures === 0 ? 0 : Math.min(FAILURE_BACKOFF_MS * 2 ** (failures - 1), MAX_BACKOFF_MS);

/**
 * The one durable owner of a connection's credentials (workflow id `connection-<id>`). Every
 * renewal of the connection, scheduled or asked for, runs through its lock, so two refreshes never
 * overlap and a rotated refresh token is never used twice. It refreshes ahead of expiry, checks
 * tokens without a refresh on a schedule, waits without timers while a person must reconnect, and
 * ends on disconnect. Only ids, versions and outcomes pass through here, never a token.
 */
export async function connectionOwner(input: ConnectionOwnerInput): Promise<{ ended: 'disconnected' | 'gone' }> {
  const { connectionId } = input;
  const lock = new FifoLock();
  let wake = false;
  let ended: DisconnectOutcome | null = null;
  const status: OwnerStatus = { state: 'planning', nextRenewalAt: null, nextAction: null, renewals: 0 };

  setHandler(replanSignal, () => {
    wake = true;
  });
  setHandler(ownerStatusQuery, () => ({ ...status }));
  setHandler(
    renewUpdate,
    (request) =>
      lock.run(async (): Promise<RenewalOutcome> => {
        if (ended) return { outcome: 'gone', version: null };
        const result = await renewConnection({ connectionId, seenVersion: request.seenVersion, trigger: 'on_demand' });
        if (result.outcome === 'renewed') status.renewals += 1;
        wake = true;
        return result;
      }),
    {
      validator: (request) => {
        const seen = (request as { seenVersion?: unknown } | undefined)?.seenVersion;
        if (seen !== undefined && !(Number.isInteger(seen) && (seen as number) >= 1)) {
          throw new Error('seenVersion must be a whole number from 1');
        }
      },
    },
  );
  setHandler(
    disconnectUpdate,
    (request) =>
      lock.run(async (): Promise<DisconnectOutcome> => {
        ended ??= await disconnectConnection({ connectionId, revoke: request.revoke });
        return ended;
      }),
    {
      validator: (request) => {
        if (typeof (request as { revoke?: unknown } | undefined)?.revoke !== 'boolean') {
          throw new Error('revoke must be true or false');
        }
      },
    },
  );

  let failures = 0;
  let planFailures = 0;
  let earliestNext = 0;
  for (let cycle = 0; !ended; cycle++) {
    wake = false;
    status.state = 'planning';
    let step: Awaited<ReturnType<typeof planConnectionRenewal>>;
    try {
      step = await lock.run(() => planConnectionRenewal({ connectionId }));
    } catch (err) {
      // The row could not be read or opened (database down, platform no longer configured, key
      // removed): the owner stays, and tries again later rather than ending or spinning.
      if (!(err instanceof ActivityFailure)) throw err;
      planFailures += 1;
      await condition(() => wake || ended !== null, backoffMs(planFailures));
      continue;
    }
    planFailures = 0;
    if (step.state === 'gone') break;
    if (step.state === 'needs_reconnect') {
      status.state = 'needs_reconnect';
      status.nextRenewalAt = null;
      status.nextAction = null;
      // Nothing to do on a clock: a reconnect (replan) or a disconnect wakes us.
      await condition(() => wake || ended !== null);
    } else {
      const at = Math.max(step.atMs, earliestNext, Date.now() + backoffMs(failures));
      status.state = 'waiting';
      status.nextRenewalAt = new Date(at).toISOString();
      status.nextAction = step.action;
      const woken = await condition(() => wake || ended !== null, Math.max(at - Date.now(), 1));
      if (!woken && !ended) {
        status.state = 'renewing';
        try {
          const result = await lock.run(() => renewConnection({ connectionId, trigger: 'scheduled' }));
          if (result.outcome === 'renewed') status.renewals += 1;
          failures = 0;
        } catch (err) {
          // Retries are spent (platform down, app misconfigured): try again later, never in a loop.
          if (!(err instanceof ActivityFailure)) throw err;
          failures += 1;
        }
        earliestNext = Date.now() + MIN_GAP_MS;
      }
    }
    if (!ended && (cycle + 1 >= MAX_CYCLES || workflowInfo().continueAsNewSuggested)) {
      await condition(allHandlersFinished);
      if (!ended) await continueAsNew<typeof connectionOwner>(input);
    }
  }
  status.state = 'ended';
  status.nextRenewalAt = null;
  status.nextAction = null;
  await condition(allHandlersFinished);
  return { ended: ended ? 'disconnected' : 'gone' };
}
