import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { PipelineProgress } from '../domain/pipeline.js';

// The post pipeline's messages, shared by the workflow and the API that sends them.

export const progressQuery = defineQuery<PipelineProgress>('progress');

export interface ApproveInput {
  /** Drafts to replace before approving, by target key. */
  edits?: Record<string, unknown>;
}
export interface RejectInput {
  /** What the AI should change; it sees these words in the next round. */
  feedback: string;
}
export interface EditDraftInput {
  targetKey: string;
  draft: unknown;
}
export interface ReviewAnswer {
  round: number;
}

export const approveUpdate = defineUpdate<ReviewAnswer, [ApproveInput]>('approve');
export const rejectUpdate = defineUpdate<ReviewAnswer, [RejectInput]>('reject');
export const editDraftUpdate = defineUpdate<ReviewAnswer, [EditDraftInput]>('editDraft');
export interface RescheduleInput {
  /** ISO-8601 instant. */
  publishAt: string;
  /** The IANA zone it was given in, for the words operators read; optional. */
  timeZone?: string;
}
export const rescheduleUpdate = defineUpdate<{ publishAt: string }, [RescheduleInput]>('reschedule');
export const retryTargetUpdate = defineUpdate<{ targetKey: string }, [{ targetKey: string }]>('retryTarget');

export interface ConfirmTargetInput {
  targetKey: string;
  /** Where the person found the post on the platform. */
  url?: string;
}
/**
 * A person checked the account and found the post there ("outcome unknown" targets, or any failed
 * one in the retry window): it is recorded as published and never sent again.
 */
export const confirmTargetUpdate = defineUpdate<{ targetKey: string }, [ConfirmTargetInput]>('confirmTarget');

export interface CancelInput {
  /** Shown on the post; defaults to "Cancelled on request". */
  reason?: string;
}
export interface CancelAnswer {
  /** Only ever "cancelled": a cancel that cannot take effect is refused by the validator. */
  status: 'cancelled';
}
/** Decided by the workflow's own stage: accepted means it took effect; too late is refused with the reason. */
export const cancelUpdate = defineUpdate<CancelAnswer, [CancelInput]>('cancel');
