import type { DraftGenerator } from '../ai/generator.js';
import type { Database } from '../db/client.js';
import type { TargetType } from '../domain/pipeline.js';
import type { QuotaSettings } from '../domain/quotas.js';
import type { MediaTools } from '../media/tools.js';
import type { Publisher } from '../platforms/publisher.js';
import type { Logger } from '../runtime/logger.js';
import type { MediaStore } from '../storage/media-store.js';
import type { ConnectionDeps } from '../use-cases/connections/deps.js';
import type { MediaServices } from '../use-cases/media/media-services.js';
import type { TemporalAccess } from '../use-cases/temporal-calls.js';
import type { RenewalOutcome, RenewRequest } from '../workflows/connection-messages.js';

export interface ActivityDeps {
  db: Database;
  store: MediaStore;
  logger: Logger;
  publishers: Record<TargetType, Publisher>;
  /** ffmpeg/ffprobe for video renditions; absent where they are not installed. */
  mediaTools?: MediaTools | undefined;
  /** The AI endpoint, or the offline drafter when none is configured. */
  drafts: DraftGenerator;
  /** Connected accounts: vault and connectors for the connection owners' activities. */
  connections?: ConnectionDeps;
  /** The Temporal client, for activities that act on other workflows (a cancelled campaign's posts). */
  temporal?: TemporalAccess;
  /** Asks a connection's owner workflow to renew its token (a platform refused it mid-publish). */
  requestRenewal?: (connectionId: string, request: RenewRequest) => Promise<RenewalOutcome>;
  /** Signed public links, for platforms that fetch media by URL. */
  links?: MediaServices['links'];
  /** The publishing budgets (YOUTUBE_UNITS_PER_DAY...). */
  quotas?: QuotaSettings;
  /** TIKTOK_APP_AUDITED: a campaign's slot posts are checked as the API checks a post. */
  tiktokAudited?: boolean;
  /** Publishing pace: status polls and the longest wait taken inside one attempt. */
  publishing?: { pollIntervalMs?: number; maxPolls?: number; maxWaitMs?: number };
}
