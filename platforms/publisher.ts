import type { DraftFormat } from '../domain/drafts.js';
import type { TargetType } from '../domain/pipeline.js';

/** How a target wants its images: the renderer makes one rendition per target from these. */
export interface MediaRules {
  maxWidth: number;
  maxHeight: number;
  format: 'jpeg' | 'png';
  quality: number;
}

export interface RenditionFile {
  position: number;
  path: string;
  mimeType: string;
  width: number;
  height: number;
}

export interface PublishRequest {
  postId: string;
  targetKey: string;
  format: DraftFormat;
  /** The draft's main text (caption, message, or title and description). */
  caption: string;
  /** The whole draft for this target's format, when there is one. */
  draft: Record<string, unknown> | null;
  renditions: RenditionFile[];
  publishedAt: Date;
}

/** What the destination acknowledged; stored on the publication row. */
export type PublishReceipt = Record<string, unknown> & { location: string };

/** Thrown for failures no retry can fix (bad content, refused by policy, lost authorisation). */
export class PermanentPublishError extends Error {
  override name = 'PermanentPublishError';
}

export interface Publisher {
  type: TargetType;
  /** Image sizes for the platform the post is meant for. */
  mediaRules(format: DraftFormat): MediaRules;
  /** Must be safe to call again after a crash: it either finds its earlier result or publishes. */
  publish(request: PublishRequest): Promise<PublishReceipt>;
}
