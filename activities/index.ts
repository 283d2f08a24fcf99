import { withSafeErrors } from '../runtime/errors.js';
import { createCampaignActivities } from './campaigns.js';
import { createConfirmPublished } from './confirm-published.js';
import { createConnectionActivities } from './connections.js';
import type { ActivityDeps } from './deps.js';
import { createGenerateDrafts } from './generate-drafts.js';
import { createPurgeExpiredRecords } from './housekeeping.js';
import { createPublishTarget } from './publish-target.js';
import { createRecordResults } from './record-results.js';
import { createRenderMedia } from './render-media.js';
import { createReviewActivities } from './review.js';

export type { ActivityDeps };

/** Every side effect of the pipeline, built from injected dependencies (real ones in tests too). */
export function createActivities(deps: ActivityDeps) {
  // What an activity throws is cleaned of SQL and parameter values before the SDK logs it.
  return withSafeErrors({
    generateDrafts: createGenerateDrafts(deps),
    ...createReviewActivities(deps),
    renderMedia: createRenderMedia(deps),
    publishTarget: createPublishTarget(deps),
    recordResults: createRecordResults(deps),
    confirmPublished: createConfirmPublished(deps),
    purgeExpiredRecords: createPurgeExpiredRecords(deps),
    ...createConnectionActivities(deps),
    ...createCampaignActivities(deps),
  });
}

export type Activities = ReturnType<typeof createActivities>;
