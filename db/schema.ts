import { sql } from 'drizzle-orm';
import {
  bigint,
  doublePrecision,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import type { Brief, Draft, DraftFormat, ReviewPolicy } from '../domain/drafts.js';
import type { PostStatus, StepName, StepStatus, TargetStatus, TargetType } from '../domain/pipeline.js';

const createdAt = () => timestamp('created_at', { withTimezone: true }).notNull().defaultNow();
const updatedAt = () => timestamp('updated_at', { withTimezone: true }).notNull().defaultNow();

export const users = pgTable(
  'users',
  {
    id: uuid('id').primaryKey(),
    name: text('name').notNull(),
    email: text('email').notNull(),
    passwordHash: text('password_hash').notNull(),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [uniqueIndex('users_email_lower_unique').on(sql`lower(${t.email})`)],
);

/** Browser sessions; the signed cookie names a row here, so revoking the row ends the session. */
export const sessions = pgTable(
  'sessions',
  {
    id: uuid('id').primaryKey(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    createdAt: createdAt(),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
    revokedAt: timestamp('revoked_at', { withTimezone: true }),
  },
  (t) => [index('sessions_user_idx').on(t.userId)],
);

/** Keys for REST automation; only a SHA-256 of the key is kept. */
export const apiKeys = pgTable(
  'api_keys',
  {
    id: uuid('id').primaryKey(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    prefix: text('prefix').notNull(),
    keyHash: text('key_hash').notNull(),
    createdAt: createdAt(),
    lastUsedAt: timestamp('last_used_at', { withTimezone: true }),
    revokedAt: timestamp('revoked_at', { withTimezone: true }),
  },
  (t) => [uniqueIndex('api_keys_hash_unique').on(t.keyHash), index('api_keys_user_idx').on(t.userId)],
);

/** The security audit log ("basic usage logs" in the privacy policy): who, what, from where, when, outcome. */
export const auditEvents = pgTable(
  'audit_events',
  {
    id: uuid('id').primaryKey(),
    userId: uuid('user_id').references(() => users.id, { onDelete: 'cascade' }),
    action: text('action').notNull(),
    outcome: text('outcome').$type<'success' | 'failure'>().notNull(),
    ip: text('ip'),
    detail: jsonb('detail').$type<Record<string, unknown>>(),
    createdAt: createdAt(),
  },
  (t) => [index('audit_events_user_idx').on(t.userId, t.createdAt), index('audit_events_created_idx').on(t.createdAt)],
);

/** Fixed-window counters shared by every API process (sign-in and registration throttling). */
export const rateLimits = pgTable(
  'rate_limits',
  {
    key: text('key').notNull(),
    windowStart: timestamp('window_start', { withTimezone: true }).notNull(),
    count: integer('count').notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.key, t.windowStart] })],
);

// owner_id is nullable only for rows made before accounts existed; the first user to register adopts them.
const ownerId = () => uuid('owner_id').references(() => users.id, { onDelete: 'cascade' });

export const media = pgTable(
  'media',
  {
    id: uuid('id').primaryKey(),
    ownerId: ownerId(),
    originalName: text('original_name'),
    mimeType: text('mime_type').notNull(),
    sizeBytes: bigint('size_bytes', { mode: 'number' }).notNull(),
    sha256: text('sha256').notNull(),
    width: integer('width'),
    height: integer('height'),
    storageKey: text('storage_key').notNull(),
    createdAt: createdAt(),
    // Facts read from the file at upload (issue 10); null on rows made before they were recorded.
    kind: text('kind').$type<'image' | 'video'>().notNull().default('image'),
    durationSec: doublePrecision('duration_sec'),
    frameRate: doublePrecision('frame_rate'),
    rotation: integer('rotation'),
    videoCodec: text('video_codec'),
    audioCodec: text('audio_codec'),
    /** Everything the platform rules speak of (media/probe.ts MediaFacts). */
    facts: jsonb('facts').$type<Record<string, unknown>>(),
    /** A small JPEG for the media library. */
    thumbnailKey: text('thumbnail_key'),
    tags: jsonb('tags').$type<string[]>().notNull().default([]),
  },
  (t) => [index('media_owner_sha256_idx').on(t.ownerId, t.sha256)],
);

export const posts = pgTable(
  'posts',
  {
    id: uuid('id').primaryKey(),
    ownerId: ownerId(),
    /** The caption written by hand; null when drafts come from a brief. */
    caption: text('caption'),
    /** What to ask the AI for; null for hand-written posts. */
    brief: jsonb('brief').$type<Brief>(),
    reviewPolicy: jsonb('review_policy').$type<ReviewPolicy>().notNull().default({ mode: 'auto' }),
    reviewRound: integer('review_round').notNull().default(0),
    status: text('status').$type<PostStatus>().notNull(),
    publishAt: timestamp('publish_at', { withTimezone: true }),
    /** The IANA zone publishAt was given in, kept so a person sees their own wall-clock time. */
    timeZone: text('time_zone'),
    idempotencyKey: text('idempotency_key'),
    requestHash: text('request_hash').notNull(),
    workflowId: text('workflow_id').notNull(),
    /**
     * When Temporal confirmed the pipeline's start; null while unconfirmed (a start that timed out).
     * Only such a post may be started again by a repeated create: never one whose pipeline ran.
     */
    pipelineStartedAt: timestamp('pipeline_started_at', { withTimezone: true }),
    error: text('error'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    // Keys are per caller: two users may pick the same one.
    uniqueIndex('posts_owner_idempotency_key_unique')
      .on(t.ownerId, t.idempotencyKey)
      .where(sql`${t.idempotencyKey} is not null`),
    index('posts_created_at_id_idx').on(t.createdAt, t.id),
    index('posts_owner_created_idx').on(t.ownerId, t.createdAt),
    // The API's once-a-minute look for starts Temporal never confirmed reads only these.
    index('posts_unconfirmed_idx').on(t.createdAt).where(sql`${t.pipelineStartedAt} is null`),
  ],
);

export const postMedia = pgTable(
  'post_media',
  {
    postId: uuid('post_id')
      .notNull()
      .references(() => posts.id, { onDelete: 'cascade' }),
    mediaId: uuid('media_id')
      .notNull()
      .references(() => media.id, { onDelete: 'no action' }),
    position: integer('position').notNull(),
  },
  (t) => [primaryKey({ columns: [t.postId, t.position] })],
);

export const postSteps = pgTable(
  'post_steps',
  {
    postId: uuid('post_id')
      .notNull()
      .references(() => posts.id, { onDelete: 'cascade' }),
    step: text('step').$type<StepName>().notNull(),
    status: text('status').$type<StepStatus>().notNull().default('pending'),
    attempts: integer('attempts').notNull().default(0),
    lastError: text('last_error'),
    startedAt: timestamp('started_at', { withTimezone: true }),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
  },
  (t) => [primaryKey({ columns: [t.postId, t.step] })],
);

/** One row per (post, target): the record that makes publishing exactly-once. */
export const publications = pgTable(
  'publications',
  {
    postId: uuid('post_id')
      .notNull()
      .references(() => posts.id, { onDelete: 'cascade' }),
    targetKey: text('target_key').notNull(),
    targetType: text('target_type').$type<TargetType>().notNull(),
    /** Which platform's rules the draft and renditions follow. */
    format: text('format').$type<DraftFormat>().notNull().default('generic'),
    /** The current draft for this target (AI-made, edited or hand-written). */
    draft: jsonb('draft').$type<Draft>(),
    status: text('status').$type<TargetStatus>().notNull().default('pending'),
    attempts: integer('attempts').notNull().default(0),
    lastError: text('last_error'),
    /** What the destination acknowledged (folder, platform post id, URL). */
    result: jsonb('result').$type<Record<string, unknown>>(),
    publishedAt: timestamp('published_at', { withTimezone: true }),
    updatedAt: updatedAt(),
    /** The placement the user named (null: chosen per file) and how a wrong shape is corrected. */
    placement: text('placement'),
    fit: text('fit').$type<'attention' | 'centre' | 'pad'>(),
    /** The render step's progress for this target (long transcodes), for the post's API view. */
    renderProgress: jsonb('render_progress').$type<Record<string, unknown>>(),
    /** The connected account a platform target publishes through (null: local export, or disconnected since). */
    connectionId: uuid('connection_id').references(() => connections.id, { onDelete: 'set null' }),
    /**
     * The platform's id of that account, kept when a disconnect clears connectionId: connecting the
     * same account again links the target to it, so a retry can publish.
     */
    platformAccountId: text('platform_account_id'),
    /** The target's own options as validated at creation (privacy, category, link...). */
    options: jsonb('options').$type<Record<string, unknown>>(),
    /**
     * The publishing journal: every handle the platform gave back (upload session, publish_id,
     * container id) and every call announced before it was sent, so a retried attempt continues
     * instead of posting twice (platforms/publishing.ts).
     */
    journal: jsonb('journal').$type<Record<string, unknown>>(),
    /** Upload progress for a progress bar: { sent, total, at }. */
    uploadProgress: jsonb('upload_progress').$type<{ sent: number; total: number; at: string }>(),
  },
  (t) => [primaryKey({ columns: [t.postId, t.targetKey] }), index('publications_connection_idx').on(t.connectionId)],
);

/**
 * What publishing spent against each platform budget (YouTube units, Instagram posts, TikTok inits
 * and posts, Facebook Reels), so the next post knows before asking whether it fits. One row per
 * (post, target, budget): a retried attempt never counts twice.
 */
export const publishingUsage = pgTable(
  'publishing_usage',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    /** e.g. `youtube:project`, `instagram:<account id>`, `tiktok-init:<connection id>`. */
    budget: text('budget').notNull(),
    amount: integer('amount').notNull(),
    at: timestamp('at', { withTimezone: true }).notNull(),
    postId: uuid('post_id').references(() => posts.id, { onDelete: 'set null' }),
    targetKey: text('target_key').notNull(),
  },
  (t) => [
    index('publishing_usage_budget_at_idx').on(t.budget, t.at),
    uniqueIndex('publishing_usage_spend_unique').on(t.postId, t.targetKey, t.budget),
  ],
);

export const renditions = pgTable(
  'renditions',
  {
    postId: uuid('post_id')
      .notNull()
      .references(() => posts.id, { onDelete: 'cascade' }),
    targetKey: text('target_key').notNull(),
    position: integer('position').notNull(),
    mediaId: uuid('media_id')
      .notNull()
      .references(() => media.id, { onDelete: 'no action' }),
    storageKey: text('storage_key').notNull(),
    mimeType: text('mime_type').notNull(),
    width: integer('width').notNull(),
    height: integer('height').notNull(),
    sizeBytes: bigint('size_bytes', { mode: 'number' }).notNull(),
    createdAt: createdAt(),
    /** What the render step changed to meet the target's rules, in words (empty: used as it was). */
    changes: jsonb('changes').$type<string[]>().notNull().default([]),
    placement: text('placement'),
    durationSec: doublePrecision('duration_sec'),
    /** A video's cover frame (JPEG), where the target takes one. */
    coverKey: text('cover_key'),
    /** The unguessable id of its public, signed link (media/signed-url.ts). */
    publicId: text('public_id'),
  },
  (t) => [
    primaryKey({ columns: [t.postId, t.targetKey, t.position] }),
    uniqueIndex('renditions_public_id_unique').on(t.publicId),
  ],
);

/** Each AI (or offline) drafting round: what was asked, what it cost, how long it took. */
export const generations = pgTable(
  'generations',
  {
    id: uuid('id').primaryKey(),
    postId: uuid('post_id')
      .notNull()
      .references(() => posts.id, { onDelete: 'cascade' }),
    round: integer('round').notNull(),
    mode: text('mode').$type<'ai' | 'offline'>().notNull(),
    model: text('model'),
    promptTokens: integer('prompt_tokens'),
    completionTokens: integer('completion_tokens'),
    latencyMs: integer('latency_ms').notNull(),
    feedback: text('feedback'),
    /** The drafts this round produced, per target key. */
    drafts: jsonb('drafts').$type<Record<string, Draft>>().notNull(),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex('generations_post_round_unique').on(t.postId, t.round)],
);

/** Every try of every step, kept so a person can read what happened and why. */
export const attempts = pgTable(
  'attempts',
  {
    id: uuid('id').primaryKey(),
    postId: uuid('post_id')
      .notNull()
      .references(() => posts.id, { onDelete: 'cascade' }),
    step: text('step').$type<StepName>().notNull(),
    targetKey: text('target_key'),
    attempt: integer('attempt').notNull(),
    outcome: text('outcome').$type<'running' | 'succeeded' | 'failed'>().notNull(),
    error: text('error'),
    startedAt: timestamp('started_at', { withTimezone: true }).notNull(),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
  },
  (t) => [index('attempts_post_idx').on(t.postId, t.startedAt)],
);

/**
 * Idempotency-Keys of actions on posts (approve, reject, edit, reschedule, cancel, retry): what a key
 * was first used for, so a retry gets the first answer and the same key for something else is refused.
 */
export const postActionKeys = pgTable(
  'post_action_keys',
  {
    ownerId: uuid('owner_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    key: text('key').notNull(),
    postId: uuid('post_id')
      .notNull()
      .references(() => posts.id, { onDelete: 'cascade' }),
    action: text('action').notNull(),
    requestHash: text('request_hash').notNull(),
    /** Set once the action took effect: a repeat is answered from the post without asking again. */
    succeededAt: timestamp('succeeded_at', { withTimezone: true }),
    /**
     * The Update this claim sends, the same for every retry under it. Kept, not derived, so a claim
     * keeps the id it was first sent with (rows from before each claim had its own id carry the
     * older `action:hash` form).
     */
    updateId: text('update_id'),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.ownerId, t.key] })],
);

// Connected accounts (issue 9). Token columns hold only vault-sealed values
// (`v1.<key id>.<iv>.<ciphertext>.<tag>`, bound to the row id and column), never plaintext.

/** One connected platform account of one user. */
export const connections = pgTable(
  'connections',
  {
    id: uuid('id').primaryKey(),
    ownerId: uuid('owner_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    platform: text('platform').$type<'tiktok' | 'youtube' | 'instagram' | 'facebook'>().notNull(),
    /** Instagram reached through a Facebook Page: 'facebook'; null otherwise. */
    via: text('via').$type<'facebook'>(),
    platformAccountId: text('platform_account_id').notNull(),
    displayName: text('display_name').notNull(),
    avatarUrl: text('avatar_url'),
    /** Connections sharing it share one platform grant (a Facebook user's consent covers all their Pages). */
    grantKey: text('grant_key').notNull(),
    status: text('status').$type<'active' | 'needs_reconnect'>().notNull().default('active'),
    /** Why a person must reconnect, in words. */
    statusReason: text('status_reason'),
    scopes: jsonb('scopes').$type<string[]>().notNull(),
    accessToken: text('access_token').notNull(),
    accessTokenExpiresAt: timestamp('access_token_expires_at', { withTimezone: true }),
    refreshToken: text('refresh_token'),
    refreshTokenExpiresAt: timestamp('refresh_token_expires_at', { withTimezone: true }),
    /** Meta only: the long-lived user token, kept to revoke the grant. */
    userToken: text('user_token'),
    userTokenExpiresAt: timestamp('user_token_expires_at', { withTimezone: true }),
    issuedAt: timestamp('issued_at', { withTimezone: true }).notNull(),
    /** Bumped on every change of the credentials: a refresh stores its pair only over the version it read. */
    version: integer('version').notNull().default(1),
    lastRenewedAt: timestamp('last_renewed_at', { withTimezone: true }),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    uniqueIndex('connections_owner_account_unique').on(t.ownerId, t.platform, t.platformAccountId),
    index('connections_platform_account_idx').on(t.platform, t.platformAccountId),
    index('connections_grant_idx').on(t.grantKey),
  ],
);

/** An authorization in progress: single use, bound to the user who started it, expiring in minutes. */
export const oauthStates = pgTable(
  'oauth_states',
  {
    /** SHA-256 of the `state` sent to the platform; the value itself is never stored. */
    stateHash: text('state_hash').primaryKey(),
    ownerId: uuid('owner_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    platform: text('platform').$type<'tiktok' | 'youtube' | 'instagram' | 'facebook'>().notNull(),
    via: text('via').$type<'facebook'>(),
    /** The PKCE verifier (Google), vault-sealed. */
    codeVerifier: text('code_verifier'),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
    createdAt: createdAt(),
  },
  (t) => [index('oauth_states_expires_idx').on(t.expiresAt)],
);

/**
 * Accounts a person must pick from (Facebook Pages, Instagram accounts behind them). Each offered
 * account already has the id its connection will get, and its secrets are sealed for that id, so a
 * confirmation moves them without ever opening them.
 */
export const pendingChoices = pgTable(
  'pending_choices',
  {
    id: uuid('id').primaryKey(),
    ownerId: uuid('owner_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    platform: text('platform').$type<'tiktok' | 'youtube' | 'instagram' | 'facebook'>().notNull(),
    via: text('via').$type<'facebook'>(),
    /** The offered accounts: profile, grant, scopes, expiry times and sealed secrets per future connection id. */
    accounts: jsonb('accounts').$type<PendingAccount[]>().notNull(),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
    createdAt: createdAt(),
  },
  (t) => [index('pending_choices_owner_idx').on(t.ownerId)],
);

export interface PendingAccount {
  connectionId: string;
  platformAccountId: string;
  displayName: string;
  avatarUrl: string | null;
  grantKey: string;
  scopes: string[];
  accessToken: string;
  accessTokenExpiresAt: string | null;
  refreshToken: string | null;
  refreshTokenExpiresAt: string | null;
  userToken: string | null;
  userTokenExpiresAt: string | null;
  issuedAt: string;
}

// Campaigns (issue 12): a series of posts on a cadence, each slot's post made by the campaign's workflow.

/** A campaign as last saved; its workflow (`campaign-<id>`) holds the schedule it runs by. */
export const campaigns = pgTable(
  'campaigns',
  {
    id: uuid('id').primaryKey(),
    ownerId: uuid('owner_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    /** Brief, targets, cadence, zone, start, end, lead time, review and catch-up policy (api/schemas/campaigns.ts). */
    settings: jsonb('settings').$type<Record<string, unknown>>().notNull(),
    status: text('status').$type<'active' | 'paused' | 'cancelled' | 'completed'>().notNull(),
    /** Why it is paused, in words (a person, or a connection needing reconnecting). */
    statusReason: text('status_reason'),
    /** Future slots a person skipped or moved: { skipped: [local], moved: { local: newLocal } }. */
    overrides: jsonb('overrides').$type<Record<string, unknown>>().notNull().default({}),
    idempotencyKey: text('idempotency_key'),
    requestHash: text('request_hash').notNull(),
    workflowId: text('workflow_id').notNull(),
    /**
     * When Temporal confirmed the workflow's start; null while unconfirmed (a start that timed out).
     * The API's sweep, or a repeated create, starts such a campaign; never one whose start was confirmed.
     */
    workflowStartedAt: timestamp('workflow_started_at', { withTimezone: true }),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    uniqueIndex('campaigns_owner_idempotency_key_unique')
      .on(t.ownerId, t.idempotencyKey)
      .where(sql`${t.idempotencyKey} is not null`),
    index('campaigns_owner_created_idx').on(t.ownerId, t.createdAt),
    // The API's once-a-minute look for starts Temporal never confirmed reads only these.
    index('campaigns_unconfirmed_idx').on(t.createdAt).where(sql`${t.workflowStartedAt} is null`),
  ],
);

/** What became of each slot the campaign reached: its post, or why it has none (missed, skipped). */
export const campaignSlots = pgTable(
  'campaign_slots',
  {
    campaignId: uuid('campaign_id')
      .notNull()
      .references(() => campaigns.id, { onDelete: 'cascade' }),
    /** The slot's identity: local wall-clock time in the campaign's zone, "YYYY-MM-DDTHH:MM". */
    slotLocal: text('slot_local').notNull(),
    at: timestamp('at', { withTimezone: true }).notNull(),
    postId: uuid('post_id').references(() => posts.id, { onDelete: 'set null' }),
    outcome: text('outcome').$type<'created' | 'missed' | 'skipped' | 'failed'>().notNull(),
    /** Why a failed slot made no post, in words (null for the other outcomes and older rows). */
    reason: text('reason'),
    createdAt: createdAt(),
  },
  (t) => [
    primaryKey({ columns: [t.campaignId, t.slotLocal] }),
    index('campaign_slots_post_idx').on(t.postId),
    index('campaign_slots_at_idx').on(t.at),
  ],
);
