import type { Brief, Draft, DraftFormat } from '../domain/drafts.js';
import type { GeneratedImageType } from './image-link.js';

export interface DraftRequest {
  brief: Brief;
  targets: { key: string; format: DraftFormat }[];
  /** The reviewer's words when sending drafts back; absent on the first round. */
  feedback?: string;
  /** Earlier drafts, so a revision changes what was asked and keeps the rest. */
  previous?: Record<string, Draft>;
  /** Descriptions of the source media (type and size); the AI sees no bytes. */
  sourceMedia?: string[];
}

export interface DraftResult {
  /** Unvalidated: checked against each platform's schema by the caller. */
  drafts: Record<string, unknown>;
  mode: 'ai' | 'offline';
  model: string | null;
  usage: { promptTokens: number; completionTokens: number } | null;
  latencyMs: number;
}

export interface GeneratedImage {
  /** Not always PNG: an endpoint that answers with a link serves whatever it made. */
  bytes: Buffer;
  mimeType: GeneratedImageType;
  model: string;
}

export interface AiCallOptions {
  /**
   * The caller no longer wants the answer (the post was cancelled): the request to the endpoint
   * is closed, so it stops costing tokens, and the call rejects promptly with `signal.reason`.
   */
  signal?: AbortSignal | undefined;
}

/** Writes drafts from a brief: an OpenAI-compatible endpoint, or the offline drafter. */
export interface DraftGenerator {
  mode: 'ai' | 'offline';
  draft(request: DraftRequest, options?: AiCallOptions): Promise<DraftResult>;
  image(prompt: string, options?: AiCallOptions): Promise<GeneratedImage | null>;
}
