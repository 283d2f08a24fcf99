import type { DraftFormat } from '../domain/drafts.js';
import type { TargetType } from '../domain/pipeline.js';
import type { PublishContext } from './publishing.js';

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
  /** Where the file goes on the platform (reel, story, feed_image...), as rendered. */
  placement?: string | null;
  durationSec?: number | null;
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
  /** Uploaded ahead, to go public at this instant by the platform's own schedule. */
  scheduledFor?: Date;
  /** For targets on a connected account: the account, its credentials and the journal. */
  connected?: ConnectedTarget;
}

/** What a platform target publishes through; tokens only behind `context.credentials`. */
export interface ConnectedTarget {
  /** The target's options as validated at creation. */
  options: Record<string, unknown>;
  connectionId: string;
  /** The platform's id of the account (TikTok open_id, YouTube channel, IG user, Facebook Page). */
  accountId: string;
  /** Instagram reached through a Facebook Page. */
  via: 'facebook' | null;
  context: PublishContext;
  /** Meta's long-lived user token (Facebook's resumable video upload takes it, not the Page token). */
  userToken(): Promise<string>;
  /** A signed public URL of a rendition, for platforms that fetch media themselves. */
  linkOf(file: RenditionFile): string;
}

/** What the destination acknowledged; stored on the publication row. */
export type PublishReceipt = Record<string, unknown> & { location: string };

/** Thrown for failures no retry can fix (bad content, refused by policy, lost authorisation). */
export class PermanentPublishError extends Error {
  override name = 'PermanentPublishError';
}

/** The platform may have published it and cannot be asked: a person checks and confirms or retries. */
export class OutcomeUnknownError extends Error {
  override name = 'OutcomeUnknownError';
}

export interface Publisher {
  type: TargetType;
  /** Image sizes for the platform the post is meant for. */
  mediaRules(format: DraftFormat): MediaRules;
  /** Must be safe to call again after a crash: it either finds its earlier result or publishes. */
  publish(request: PublishRequest): Promise<PublishReceipt>;
}
