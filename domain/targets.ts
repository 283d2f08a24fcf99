import type { TargetType } from './pipeline.js';

// Per-platform rules the workflow needs without importing platform clients (which do I/O).

export interface RetryRules {
  maximumAttempts: number;
  initialInterval: string;
  maximumInterval: string;
}

export const publishRetry: Record<TargetType, RetryRules> = {
  // Local disk either works soon or needs a person (disk full, permissions): a few minutes of tries.
  local_export: { maximumAttempts: 8, initialInterval: '1s', maximumInterval: '1 minute' },
  // Platforms: the publisher already retries short failures inside an attempt; these attempts
  // cover a dead worker, a longer outage, and quota or rate-limit waits the activity asks for with
  // its own delay (nextRetryDelay). Each resumes from the journal, so many are safe.
  tiktok: { maximumAttempts: 30, initialInterval: '2s', maximumInterval: '10 minutes' },
  youtube: { maximumAttempts: 30, initialInterval: '2s', maximumInterval: '10 minutes' },
  instagram: { maximumAttempts: 30, initialInterval: '2s', maximumInterval: '10 minutes' },
  facebook: { maximumAttempts: 30, initialInterval: '2s', maximumInterval: '10 minutes' },
};
