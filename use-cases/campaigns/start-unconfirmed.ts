import { and, asc, inArray, isNull, lt } from 'drizzle-orm';
import { campaigns } from '../../db/schema.js';
import { type CampaignStartDeps, launchCampaign, markCampaignStarted } from './campaigns.js';

export type StartUnconfirmedCampaignsDeps = CampaignStartDeps;

export interface StartUnconfirmedCampaignsOptions {
  /** Only campaigns saved at least this long ago: a younger one may still be in its create request. */
  olderThanMs: number;
  /** At most this many per sweep, oldest first; the next sweep takes the rest. */
  limit?: number;
}

/**
 * Starts the workflows of campaigns whose start Temporal never confirmed (it did not answer the
 * create in time), so a campaign saved during an outage is never left waiting for a repeat its
 * client may never send. Starting is idempotent (same workflow id; a running or ended workflow is
 * found, never run twice), so two API processes sweeping at once do no harm. A paused one starts
 * paused. Stops at the first start Temporal does not answer: the next sweep tries again.
 */
export async function startUnconfirmedCampaigns(
  deps: StartUnconfirmedCampaignsDeps,
  options: StartUnconfirmedCampaignsOptions,
): Promise<{ started: string[]; unanswered: boolean }> {
  const waiting = await deps.db
    .select()
    .from(campaigns)
    .where(
      and(
        isNull(campaigns.workflowStartedAt),
        inArray(campaigns.status, ['active', 'paused']),
        lt(campaigns.createdAt, new Date(Date.now() - options.olderThanMs)),
      ),
    )
    .orderBy(asc(campaigns.createdAt))
    .limit(options.limit ?? 50);
  const started: string[] = [];
  for (const row of waiting) {
    try {
      await launchCampaign(deps, row);
    } catch {
      return { started, unanswered: true };
    }
    await markCampaignStarted(deps.db, row.id);
    started.push(row.id);
  }
  return { started, unanswered: false };
}
