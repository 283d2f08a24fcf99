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
export const rescheduleUpdate = defineUpdate<{ publishAt: string }, [{ publishAt: string }]>('reschedule');
export const retryTargetUpdate = defineUpdate<{ targetKey: string }, [{ targetKey: string }]>('retryTarget');
