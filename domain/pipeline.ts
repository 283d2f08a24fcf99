import type { DraftFormat, ReviewPolicy } from './drafts.js';

// Types and pure rules shared by workflows, activities and the API. This module must stay free of
// I/O and Node built-ins: the workflow bundle imports it.

export const TARGET_TYPES = ['local_export', 'tiktok', 'youtube', 'instagram', 'facebook'] as const;
export type TargetType = (typeof TARGET_TYPES)[number];

export const POST_STATUSES = [
  'generating',
  'awaiting_review',
  'scheduled',
  'queued',
  'rendering',
  'publishing',
  'published',
  'partially_published',
  'failed',
  'cancelled',
] as const;
export type PostStatus = (typeof POST_STATUSES)[number];

export const STEP_NAMES = ['generate', 'review', 'schedule', 'render', 'publish', 'record'] as const;
export type StepName = (typeof STEP_NAMES)[number];
export type StepStatus = 'pending' | 'running' | 'retrying' | 'succeeded' | 'failed' | 'skipped';

/**
 * `unknown`: the platform may or may not have published it and offers no way to ask (a lost answer
 * to a Facebook post, a TikTok pull whose publish_id never arrived). A person checks the account and
 * confirms or retries it; nothing posts it a second time by itself.
 */
export type TargetStatus = 'pending' | 'publishing' | 'retrying' | 'published' | 'failed' | 'cancelled' | 'unknown';

export interface PipelineTarget {
  key: string;
  type: TargetType;
  format?: DraftFormat;
  /**
   * Uploaded once its media is rendered, ahead of publishAt, with the platform's own schedule
   * (YouTube: private until its `publishAt`), so processing is done when the time comes.
   */
  early?: boolean;
}

/** Only ids travel through Temporal: media bytes stay in storage. */
export interface PostPipelineInput {
  postId: string;
  /** The user the post belongs to; absent in histories from before accounts existed. */
  ownerId?: string;
  targets: PipelineTarget[];
  /** ISO-8601 instant; absent or past means publish now. */
  publishAt?: string | null;
  /** Draft with AI (or offline) from the post's brief first. */
  generate?: boolean;
  /** Absent in histories from before review existed: publish without one. */
  review?: ReviewPolicy;
  /** How long failed targets can still be retried from the API before the pipeline closes. */
  retryWindowDays?: number;
  /**
   * How long before publishAt the media is rendered (default DEFAULT_RENDER_LEAD_MINUTES), so a
   * post scheduled weeks ahead holds no work until shortly before its time.
   */
  renderLeadMinutes?: number;
  /** The IANA zone the post's times were given in, for the words operators read; UTC when absent. */
  timeZone?: string;
  /** Where platform uploads run (TEMPORAL_UPLOAD_TASK_QUEUE); the workflow's queue plus "-uploads" when absent. */
  uploadTaskQueue?: string;
  /**
   * 3 in the histories `post-pipeline-v3-by-input-*` only: runs that took the v3 pipeline without
   * `patched()` calls. New runs are not started with it (ARCHITECTURE.md, versioning).
   */
  pipelineVersion?: number;
}

export const DEFAULT_RENDER_LEAD_MINUTES = 15;

export interface TargetOutcome {
  key: string;
  ok: boolean;
  error?: string;
}

export interface PipelineResult {
  postId: string;
  status: PostStatus;
  targets: TargetOutcome[];
}

export interface PipelineProgress {
  postId: string;
  status: PostStatus;
  targets: Record<string, TargetStatus>;
  /** Revision rounds so far (0: the first drafts). */
  round?: number;
  publishAt?: string | null;
}

export function finalStatus(outcomes: TargetOutcome[]): PostStatus {
  const published = outcomes.filter((o) => o.ok).length;
  if (outcomes.length > 0 && published === outcomes.length) return 'published';
  return published > 0 ? 'partially_published' : 'failed';
}

/**
 * Where a post's story has ended: nothing may move it out again. `partially_published` counts
 * once its retry window has closed (the workflow decides that; the database row cannot tell).
 */
export const FINAL_STATUSES: readonly PostStatus[] = ['published', 'partially_published', 'failed', 'cancelled'];

export function isFinalStatus(status: PostStatus): boolean {
  return FINAL_STATUSES.includes(status);
}

/** Where a post can still be cancelled: nothing has been published yet. */
export const CANCELLABLE_STATUSES: readonly PostStatus[] = [
  'generating',
  'awaiting_review',
  'scheduled',
  'queued',
  'rendering',
];

/**
 * Begins the Idempotency-Key of every post a campaign makes for a slot; reserved, so a person's own
 * keys never start with it (the campaign, not the person, starts such a post).
 */
export const SLOT_KEY_PREFIX = 'campaign:';

export function workflowIdForPost(postId: string): string {
  return `post-${postId}`;
}

/** Temporal task priorities (1 runs first): a person waiting for an answer, posts due soon, the rest. */
export const TASK_PRIORITY = { person: 1, dueSoon: 2, later: 4 } as const;

/**
 * Temporal task priority for a post's pipeline work at `now`: a post due within
 * twice its render lead time (or with no time at all) goes ahead of posts due later, so a burst
 * of far-ahead posts never delays the ones about to publish.
 */
export function priorityFor(publishAt: string | null | undefined, now: number, leadMs: number): number {
  if (!publishAt || Date.parse(publishAt) - now <= 2 * leadMs) return TASK_PRIORITY.dueSoon;
  return TASK_PRIORITY.later;
}
