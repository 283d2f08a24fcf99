import { proxyActivities } from '@temporalio/workflow';
import type { PurgeResult } from '../activities/housekeeping.js';
import type { Activities } from '../activities/index.js';

const { purgeExpiredRecords } = proxyActivities<Activities>({
  startToCloseTimeout: '5 minutes',
  retry: { maximumAttempts: 5, initialInterval: '10s' },
});

/** Run by a Temporal Schedule: applies the retention periods the privacy policy promises. */
export async function housekeeping(input: { auditRetentionDays: number }): Promise<PurgeResult> {
  return purgeExpiredRecords(input);
}
