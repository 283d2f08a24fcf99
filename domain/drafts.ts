// What a post says, per platform. Pure types and limits: the workflow bundle imports this module.

export const DRAFT_FORMATS = ['generic', 'youtube', 'tiktok', 'instagram', 'facebook'] as const;
export type DraftFormat = (typeof DRAFT_FORMATS)[number];

export interface GenericDraft {
  caption: string;
}
export interface YouTubeDraft {
  title: string;
  description: string;
  tags: string[];
  /** What to say in the video. */
  script: string;
}
export interface TikTokDraft {
  caption: string;
  script: string;
}
export interface InstagramDraft {
  caption: string;
}
export interface FacebookDraft {
  message: string;
}
export type Draft = GenericDraft | YouTubeDraft | TikTokDraft | InstagramDraft | FacebookDraft;

/**
 * One request to the AI endpoint, its answer's body (or an image's download) included. An attempt to
 * draft makes at most three: the drafts, the same again as plain JSON when the endpoint refuses a
 * schema, and the image.
 */
export const AI_REQUEST_TIMEOUT_MS = 120_000;
export const AI_REQUESTS_PER_ATTEMPT = 3;

/**
 * How drafting retries (the workflow's retry policy; the activity reckons its next wait from it).
 * An endpoint that is down or erroring (5xx, 429, connection refused or reset, no answer in time) is
 * tried again for up to a quarter of an hour: endpoint incidents (a deploy, a failover, an overloaded
 * region) mostly clear within minutes, and after 15 minutes a person would rather hear the post has
 * failed, and why, than wait on. About 20 tries when each fails at once (1, 2, 4 ... 32 s apart, then
 * every minute). A post that must have its drafts sooner (its publish time, or a review deadline that
 * cancels it) stops trying then, but never before AI_OUTAGE_MIN_RIDE_OUT_MS: a blip is always ridden
 * out, even by a post that is already due.
 */
export const DRAFTING_RETRY = { initialIntervalMs: 1_000, backoffCoefficient: 2, maximumIntervalMs: 60_000 } as const;
export const AI_OUTAGE_RIDE_OUT_MS = 15 * 60_000;
export const AI_OUTAGE_MIN_RIDE_OUT_MS = 2 * 60_000;
/**
 * An answer that is not usable drafts is tried again within the step's first few tries (about 7 s).
 * Counted from the step's first try, endpoint failures included: the attempt number is all an attempt
 * knows of the ones before it.
 */
export const MALFORMED_OUTPUT_TRIES = 4;
/** A backstop only: the ride-out ends first, as every wait is at least the backoff's. */
export const DRAFTING_MAX_ATTEMPTS = 30;

/**
 * The size a brief's image is asked for. A post is checked against it when it is created, before
 * the image exists (an endpoint that answers another size is checked again at render).
 */
export const AI_IMAGE_SIZE = { width: 1024, height: 1024 } as const;

/** The platforms' documented limits (see shared/platform-apis.md). */
export const LIMITS = {
  youtubeTitleChars: 100,
  youtubeDescriptionBytes: 5000,
  youtubeTags: 15,
  youtubeTagsTotalChars: 500,
  tiktokCaptionChars: 2200,
  instagramCaptionChars: 2200,
  instagramHashtags: 30,
  instagramMentions: 20,
  facebookMessageChars: 63206,
  genericCaptionChars: 10000,
  scriptChars: 5000,
} as const;

export interface Brief {
  topic: string;
  tone?: string;
  audience?: string;
  /** BCP 47 tag, e.g. "en" or "de-AT". */
  language: string;
  /** Uploaded media the AI should take into account. */
  sourceMediaIds?: string[];
  /** Ask for an image to go with the post (added to its media). */
  generateImage?: boolean;
  /** A campaign's earlier posts, newest first, so the series does not repeat itself. */
  earlierInSeries?: string[];
}

export type ReviewPolicy =
  | { mode: 'auto' }
  | {
      mode: 'manual';
      /** ISO-8601 instant; absent means wait as long as it takes. */
      deadline?: string;
      /** What happens when the deadline passes without a decision. */
      onExpiry: 'cancel' | 'approve';
      /** How many times a reviewer may send drafts back for another round. */
      maxRounds: number;
    };

/** One way a proposed draft breaks its platform's rules: `target` is its target key, `path` the field in the draft. */
export interface DraftProblem {
  target: string;
  path: string;
  message: string;
}

/** "ig.caption: must have at most 30 hashtags" */
export function describeDraftProblem(problem: DraftProblem): string {
  return `${[problem.target, problem.path].filter(Boolean).join('.')}: ${problem.message}`;
}
