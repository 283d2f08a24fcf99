// Types and pure rules shared by workflows, activities and the API. This module must stay free of
// I/O and Node built-ins: the workflow bundle imports it.

export const TARGET_TYPES = ['local_export'] as const;
export type TargetType = (typeof TARGET_TYPES)[number];

export const POST_STATUSES = [
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

export const STEP_NAMES = ['schedule', 'render', 'publish', 'record'] as const;
export type StepName = (typeof STEP_NAMES)[number];
export type StepStatus = 'pending' | 'running' | 'retrying' | 'succeeded' | 'failed' | 'skipped';

export type TargetStatus = 'pending' | 'publishing' | 'retrying' | 'published' | 'failed';

export interface PipelineTarget {
  key: string;
  type: TargetType;
}

/** Only ids travel through Temporal: media bytes stay in storage. */
export interface PostPipelineInput {
  postId: string;
  /** The user the post belongs to; absent in histories from before accounts existed. */
  ownerId?: string;
  targets: PipelineTarget[];
  /** ISO-8601 instant; absent or past means publish now. */
  publishAt?: string | null;
}

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
}

export function finalStatus(outcomes: TargetOutcome[]): PostStatus {
  const published = outcomes.filter((o) => o.ok).length;
  if (outcomes.length > 0 && published === outcomes.length) return 'published';
  return published > 0 ? 'partially_published' : 'failed';
}

export function isFinalStatus(status: PostStatus): boolean {
  return status === 'published' || status === 'partially_published' || status === 'failed' || status === 'cancelled';
}

export function workflowIdForPost(postId: string): string {
  return `post-${postId}`;
}
