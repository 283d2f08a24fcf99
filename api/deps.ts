import type { Client } from '@temporalio/client';
import type { AuthKeys } from '../auth/secrets.js';
import type { Database } from '../db/client.js';
import type { QuotaSettings } from '../domain/quotas.js';
import type { Logger } from '../runtime/logger.js';
import type { MediaStore } from '../storage/media-store.js';
import type { ConnectionDeps } from '../use-cases/connections/deps.js';
import type { NoticeSecrets } from '../use-cases/connections/notices.js';
import type { MediaServices } from '../use-cases/media/media-services.js';

export interface ApiDeps {
  db: Database;
  store: MediaStore;
  temporal: Client;
  /** Every API call to Temporal gives up after this many milliseconds (503 with Retry-After). */
  temporalCallTimeoutMs: number;
  logger: Logger;
  taskQueue: string;
  /** False on servers without custom search attributes (the time-skipping test server). */
  searchAttributes: boolean;
  /** Base URL of the Temporal Web UI, when one is known; used for links to each workflow. */
  temporalUiUrl?: string | undefined;
  mediaMaxBytes: number;
  /** ffmpeg/ffprobe, signed public links, URL import (issue 10). */
  media: MediaServices;
  dataDir: string;
  authKeys: AuthKeys;
  sessionTtlHours: number;
  /** A request body other than an upload's must arrive within this (REQUEST_BODY_TIMEOUT_SECONDS). */
  bodyDeadlineMs?: number;
  /** Sign-in and registration attempts per IP per 15 minutes. */
  authIpLimit: number;
  /** Failed sign-ins per account per 15 minutes. */
  authAccountLimit: number;
  /** Reverse proxies in front of the API; only their X-Forwarded-For entries are believed. */
  trustProxy: number;
  /** Revision rounds a reviewer gets unless the post says otherwise. */
  reviewMaxRounds: number;
  /** TIKTOK_APP_AUDITED: until the app is audited TikTok takes only private posts. */
  tiktokAudited?: boolean;
  /** An AI endpoint is configured (OPENAI_API_KEY or OPENAI_BASE_URL): a brief's image will be made. */
  aiImages?: boolean;
  /** The publishing budgets. */
  quotas?: QuotaSettings;
  /** TEMPORAL_UPLOAD_TASK_QUEUE (resolved). */
  uploadTaskQueue?: string;
  /** Days failed targets stay retryable from the API. */
  retryWindowDays: number;
  pingDatabase(): Promise<void>;
  /** Connected accounts: the vault (sealing only, here), connectors, and the secrets platform notices are signed with. */
  connections: ConnectionDeps & {
    noticeSecrets: NoticeSecrets;
    publicUrl(): string;
    /** TIKTOK_API_URL, for creator_info. */
    tiktokApiUrl: string;
  };
}
