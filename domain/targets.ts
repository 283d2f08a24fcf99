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
};
