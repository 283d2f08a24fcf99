import type { DraftGenerator } from '../ai/generator.js';
import type { Database } from '../db/client.js';
import type { TargetType } from '../domain/pipeline.js';
import type { MediaTools } from '../media/tools.js';
import type { Publisher } from '../platforms/publisher.js';
import type { Logger } from '../runtime/logger.js';
import type { MediaStore } from '../storage/media-store.js';
import type { ConnectionDeps } from '../use-cases/connections/deps.js';

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
}
