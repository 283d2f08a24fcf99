import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import type { PipelineTarget } from '../domain/pipeline.js';
import { publishRetry } from '../domain/targets.js';

// Activity options shared by every version of the pipeline. Options are not part of a history,
// so both versions can use the current ones.

export const { renderMedia } = proxyActivities<Activities>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '1 minute',
  // About 20 minutes of tries: long enough to ride out a database restart.
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 25 },
});

/** Database-only and idempotent: they retry until they land. */
export const databaseActivities = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '5 minutes' },
});

export function publisherFor(target: PipelineTarget) {
  return proxyActivities<Activities>({
    startToCloseTimeout: '30 minutes',
    // A worker that dies mid-upload is noticed in a minute, not after the whole timeout.
    heartbeatTimeout: '1 minute',
    retry: { backoffCoefficient: 2, ...publishRetry[target.type] },
  }).publishTarget;
}
