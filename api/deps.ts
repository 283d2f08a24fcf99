import type { Client } from '@temporalio/client';
import type { Database } from '../db/client.js';
import type { Logger } from '../runtime/logger.js';
import type { MediaStore } from '../storage/media-store.js';

export interface ApiDeps {
  db: Database;
  store: MediaStore;
  temporal: Client;
  logger: Logger;
  taskQueue: string;
  /** False on servers without custom search attributes (the time-skipping test server). */
  searchAttributes: boolean;
  /** Base URL of the Temporal Web UI, when one is known; used for links to each workflow. */
  temporalUiUrl?: string | undefined;
  mediaMaxBytes: number;
  pingDatabase(): Promise<void>;
}
