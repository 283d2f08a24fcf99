// The shapes the panel reads from the API (see GET /api/v1/openapi.json).

export interface User {
  id: string;
  name: string;
  email: string;
  createdAt: string;
}

/** GET /api/v1/me: the profile, and what AI can do on this installation. */
export interface Me extends User {
  ai: {
    /** offline: no AI endpoint is configured, and drafts are written from the brief. */
    drafting: 'ai' | 'offline';
    /** A brief's picture (`generateImage`) can be made. */
    images: boolean;
  };
}

/** Why a brief's picture cannot be asked for on an installation without an AI endpoint. */
export const NO_AI_IMAGES =
  'No AI endpoint is configured, so drafts are written from the brief and no picture can be made.';

export interface Connection {
  id: string;
  platform: string;
  displayName: string;
  avatarUrl: string | null;
  status: 'active' | 'expiring' | 'needs_reconnect';
  statusReason: string | null;
  via: 'facebook' | null;
  connectedAt: string;
  accessTokenExpiresAt: string | null;
}

/** GET /api/v1/connections/:id/tiktok/creator-info: what TikTok's posting screen is built from. */
export interface CreatorInfo {
  connectionId: string;
  username: string;
  nickname: string;
  avatarUrl: string | null;
  privacyLevelOptions: TikTokPrivacy[];
  commentDisabled: boolean;
  duetDisabled: boolean;
  stitchDisabled: boolean;
  maxVideoPostDurationSec: number;
  /** False: connected without video.publish; only drafts to the creator's inbox are possible. */
  directPostAllowed: boolean;
  /** False: connected without video.upload; drafts to the inbox are refused. */
  inboxAllowed: boolean;
  canPost: boolean;
  cannotPostReason: string | null;
}

export type TikTokPrivacy = 'PUBLIC_TO_EVERYONE' | 'MUTUAL_FOLLOW_FRIENDS' | 'FOLLOWER_OF_CREATOR' | 'SELF_ONLY';

export interface PendingChoice {
  id: string;
  platform: string;
  expiresAt: string;
  accounts: { id: string; displayName: string; avatarUrl: string | null }[];
}

export interface PlatformSetup {
  platform: string;
  configured: boolean;
  missing: string[];
  redirectUri: string;
}

export interface ConnectionList {
  items: Connection[];
  pendingChoices: PendingChoice[];
  platforms: PlatformSetup[];
}

export interface TextLimit {
  field: string;
  max: number;
  unit: 'characters' | 'utf16_units' | 'bytes' | 'count';
  note?: string;
}

export interface PlacementRules {
  placement: string;
  label: string;
  image?: { aspect?: { min?: number; max?: number }; preferredAspect?: number };
  video?: { aspect?: { min?: number; max?: number }; preferredAspect?: number };
  items?: { min?: number; max?: number };
}

export interface PlatformRules {
  platform: string;
  label: string;
  text: TextLimit[];
  defaultPlacement?: { image: string; video: string };
  placements?: PlacementRules[];
}

export interface MediaItem {
  id: string;
  mimeType: string;
  sizeBytes: number;
  width: number | null;
  height: number | null;
  durationSec?: number | null;
  originalName: string | null;
  createdAt: string;
}

export interface Target {
  key: string;
  type: string;
  platform: string;
  draft: Record<string, unknown> | null;
  status: string;
  attempts: number;
  error: string | null;
  result: Record<string, unknown> | null;
  /** The platform's id and public address of the published post (null for exports and until published). */
  platformPostId: string | null;
  url: string | null;
  connectionId: string | null;
  publishedAt: string | null;
  renderProgress: { fraction?: number | null; done?: boolean } | null;
  /** Bytes of the whole file sent so far while a platform upload runs. */
  uploadProgress: { sent: number; total: number; at: string } | null;
  /** Present while the status is `unknown`: why, and where a person confirms it or sends it again. */
  outcomeUnknown?: { reason: string | null; confirm: string; retry: string };
}

export interface Post {
  id: string;
  caption: string | null;
  /** The brief's topic of a post drafted by AI (whose caption stays null). */
  topic: string | null;
  status: string;
  publishAt: string | null;
  timeZone: string | null;
  createdAt: string;
  updatedAt: string;
  error: string | null;
  brief: { topic: string } | null;
  review: { mode: 'auto' | 'manual'; round: number; deadline?: string; maxRounds?: number };
  generation: {
    mode: string;
    note?: string;
    model: string | null;
    rounds: { round: number; feedback: string | null; createdAt: string }[];
  } | null;
  media: MediaItem[];
  targets: Target[];
  workflow: { id: string; url: string | null };
}

export interface Attempt {
  step: string;
  targetKey: string | null;
  attempt: number;
  outcome: 'running' | 'succeeded' | 'failed';
  error: string | null;
  startedAt: string;
  finishedAt: string | null;
  durationMs: number | null;
}

export const PLATFORM_NAMES: Record<string, string> = {
  tiktok: 'TikTok',
  youtube: 'YouTube',
  instagram: 'Instagram',
  facebook: 'Facebook',
  generic: 'Generic',
};

export const STATUS_WORDS: Record<string, string> = {
  generating: 'Drafting',
  awaiting_review: 'Waiting for review',
  scheduled: 'Scheduled',
  queued: 'Queued',
  rendering: 'Preparing media',
  publishing: 'Publishing',
  published: 'Published',
  partially_published: 'Partly published',
  failed: 'Failed',
  cancelled: 'Cancelled',
  pending: 'Pending',
  unknown: 'Outcome unknown',
  retrying: 'Retrying',
  active: 'Active',
  expiring: 'Expiring soon',
  needs_reconnect: 'Needs reconnect',
  paused: 'Paused',
  completed: 'Completed',
};

export function words(status: string): string {
  return STATUS_WORDS[status] ?? status.replace(/_/g, ' ');
}

export function platformName(id: string): string {
  return PLATFORM_NAMES[id] ?? id;
}

/** What a post is called in lists: its caption, else its brief's topic. */
export function postTitle(p: Pick<Post, 'caption' | 'topic' | 'status'>): string {
  return p.caption ?? p.topic ?? (p.status === 'generating' ? 'Drafting…' : 'A post');
}
