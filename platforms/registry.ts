import { z } from 'zod';
import { DRAFT_FORMATS } from '../domain/drafts.js';
import { PLACEMENTS } from '../domain/media-rules.js';
import type { TargetType } from '../domain/pipeline.js';
import type { Platform } from './connector.js';
import { createFacebookTarget } from './facebook/target.js';
import { createInstagramTarget } from './instagram/target.js';
import { createLocalExportPublisher } from './local-export.js';
import type { Publisher } from './publisher.js';
import { PRIVACY_LEVELS } from './tiktok/publisher.js';
import { createTikTokTarget } from './tiktok/target.js';
import { createYouTubeTarget } from './youtube/target.js';

/** Where the platforms' publishing APIs are (each a setting; the official hosts by default). */
export interface PlatformEndpoints {
  TIKTOK_API_URL: string;
  TIKTOK_APP_AUDITED: boolean;
  YOUTUBE_API_URL: string;
  INSTAGRAM_GRAPH_URL: string;
  FACEBOOK_GRAPH_URL: string;
  FACEBOOK_GRAPH_VIDEO_URL: string;
  FACEBOOK_RUPLOAD_URL: string;
  FACEBOOK_GRAPH_VERSION: string;
  FACEBOOK_APP_ID?: string | undefined;
  /** Between checks of an Instagram container still processing (3.4: once a minute). */
  INSTAGRAM_POLL_INTERVAL_MS?: number;
  /** TikTok video and photo inits per token per minute (1.6: 6). */
  TIKTOK_INITS_PER_MINUTE?: number;
}

export const OFFICIAL_ENDPOINTS: PlatformEndpoints = {
  TIKTOK_API_URL: 'https://open.tiktokapis.com',
  TIKTOK_APP_AUDITED: false,
  YOUTUBE_API_URL: 'https://www.googleapis.com',
  INSTAGRAM_GRAPH_URL: 'https://graph.instagram.com',
  FACEBOOK_GRAPH_URL: 'https://graph.facebook.com',
  FACEBOOK_GRAPH_VIDEO_URL: 'https://graph-video.facebook.com',
  FACEBOOK_RUPLOAD_URL: 'https://rupload.facebook.com',
  FACEBOOK_GRAPH_VERSION: 'v26.0',
  INSTAGRAM_POLL_INTERVAL_MS: 60_000,
};

/** Everything a publisher may need from the composition root. */
export interface PublisherDeps {
  dataDir: string;
  /** The platforms' hosts; the official ones when absent. */
  platforms?: PlatformEndpoints;
}

const bool = (description: string) => z.boolean({ error: 'expected true or false' }).optional().describe(description);
const connectionId = z
  .uuid('expected the id of one of your connected accounts (GET /api/v1/connections)')
  .describe('The connected account to publish through (GET /api/v1/connections)');
const fit = z
  .enum(['attention', 'centre', 'pad'], { error: 'expected attention, centre or pad' })
  .optional()
  .describe('How a picture of the wrong shape is reframed (default pad: a blurred background)');
/** Drafts and renditions of a platform target follow that platform's rules; no other value is accepted. */
const ownPlatform = <P extends Platform>(platform: P) =>
  z
    .literal(platform, { error: `a ${platform} target drafts for ${platform}; leave "platform" out` })
    .default(platform)
    .describe(`Always ${platform}: drafts and media follow its rules`);
const placementOf = <T extends readonly [string, ...string[]]>(values: T, description: string) =>
  z
    .enum(values, { error: `expected one of ${values.join(', ')}` })
    .optional()
    .describe(description);

/** What the rest of the system needs to know to publish to one kind of target. */
export interface TargetEntry {
  /** Shown in errors and docs. */
  label: string;
  /** The target's own fields in a create request, beside `type` and `key`. */
  options: z.ZodRawShape;
  /** The connected account's platform for targets that publish through one; null for local ones. */
  connected: Platform | null;
  createPublisher(deps: PublisherDeps): Publisher;
}

/** Names a target within its post; defaults to the type. */
export const targetKeySchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'expected 1-63 lowercase letters, digits, "_" or "-"')
  .describe('A target key: 1-63 lowercase letters, digits, "_" or "-", starting with a letter or digit');

/**
 * The one list of target types: adding a platform is its module plus one line here. The compiler
 * then asks for its type in domain/pipeline.ts TARGET_TYPES and its retry rules in
 * domain/targets.ts, which the workflow bundle reads without importing any platform code.
 */
export const TARGET_REGISTRY = {
  local_export: {
    label: 'local export (a folder per post, for posting by hand)',
    options: {
      /** The platform the hand-off is meant for: drafts and image sizes follow its rules. */
      platform: z.enum(DRAFT_FORMATS, { error: `expected one of ${DRAFT_FORMATS.join(', ')}` }).default('generic'),
      /** Where the media goes on that platform (GET /api/v1/platforms lists each one's); absent: chosen per file. */
      placement: z.enum(PLACEMENTS, { error: `expected one of ${PLACEMENTS.join(', ')}` }).optional(),
      /** How a picture of the wrong shape is reframed: crop around what draws the eye, crop the centre, or pad on a blurred background (default). */
      fit: z.enum(['attention', 'centre', 'pad'], { error: 'expected attention, centre or pad' }).optional(),
    },
    connected: null,
    createPublisher: (deps) => createLocalExportPublisher(deps.dataDir),
  },
  tiktok: {
    label: 'TikTok (a video, or photos, on a connected TikTok account)',
    options: {
      connectionId,
      platform: ownPlatform('tiktok'),
      mode: z
        .enum(['direct', 'inbox'], { error: 'expected direct or inbox' })
        .default('direct')
        .describe(
          "direct: posted at once (Direct Post); inbox: sent to the creator's TikTok inbox as a draft to finish in the app",
        ),
      privacyLevel: z
        .enum(PRIVACY_LEVELS, { error: `expected one of ${PRIVACY_LEVELS.join(', ')}` })
        .optional()
        .describe(
          "Who can see the post. Required for Direct Post and never defaulted: TikTok asks for the creator's own choice, from the options their account allows (GET /api/v1/connections/{id}/tiktok/creator-info)",
        ),
      disableComment: bool('Turn comments off (always off when the creator disabled them)'),
      disableDuet: bool('Turn Duet off (videos)'),
      disableStitch: bool('Turn Stitch off (videos)'),
      brandOrganic: bool('Disclose commercial content promoting the creator\'s own business ("Your brand")'),
      brandContent: bool(
        'Disclose a paid partnership with a third-party brand ("Branded content"; not with SELF_ONLY)',
      ),
      aigc: bool('Label the content as AI-generated'),
      coverTimestampMs: z
        .number()
        .int()
        .min(0)
        .optional()
        .describe('The video frame used as the cover, in milliseconds'),
      autoAddMusic: bool('Photos: let TikTok add music'),
      placement: placementOf(
        ['video', 'feed_image'] as const,
        'video or feed_image (photo post); by the media when absent',
      ),
      fit,
    },
    connected: 'tiktok',
    createPublisher: (deps) =>
      createTikTokTarget({
        apiUrl: (deps.platforms ?? OFFICIAL_ENDPOINTS).TIKTOK_API_URL,
        audited: (deps.platforms ?? OFFICIAL_ENDPOINTS).TIKTOK_APP_AUDITED,
        initsPerMinute: deps.platforms?.TIKTOK_INITS_PER_MINUTE,
      }),
  },
  youtube: {
    label: 'YouTube (a video on a connected channel; a picture beside it becomes its thumbnail)',
    options: {
      connectionId,
      platform: ownPlatform('youtube'),
      privacy: z
        .enum(['public', 'private', 'unlisted'], { error: 'expected public, private or unlisted' })
        .default('public')
        .describe('Who can watch it (default public)'),
      categoryId: z
        .string()
        .regex(/^\d{1,3}$/, 'expected a YouTube category id such as "22"')
        .default('22')
        .describe('YouTube video category id (default 22, People & Blogs)'),
      tags: z
        .array(z.string().trim().min(1).max(100), { error: 'expected a list of tags' })
        .max(50)
        .optional()
        .describe("Tags; the draft's tags when absent"),
      madeForKids: z
        .boolean({ error: 'expected true or false' })
        .default(false)
        .describe('Made for kids (COPPA): required by YouTube, default false'),
      containsSyntheticMedia: bool('Altered or synthetic content that looks real'),
      notifySubscribers: bool('Notify subscribers (default true)'),
      scheduleOn: z
        .enum(['app', 'youtube'], { error: 'expected app or youtube' })
        .default('app')
        .describe(
          "Whose clock publishes a scheduled video. app (default): uploaded at the post's time. youtube: uploaded when its media is ready (the render lead time before) as private with YouTube's own publishAt, so YouTube has processed it by then; once uploaded, YouTube holds the schedule and the post can no longer be moved or cancelled here",
        ),
      placement: placementOf(['video', 'short'] as const, 'video or short (vertical, up to 3 minutes)'),
      fit,
    },
    connected: 'youtube',
    createPublisher: (deps) => createYouTubeTarget({ apiUrl: (deps.platforms ?? OFFICIAL_ENDPOINTS).YOUTUBE_API_URL }),
  },
  instagram: {
    label: 'Instagram (a picture, a carousel of 2-10, a Reel or a Story on a connected professional account)',
    options: {
      connectionId,
      platform: ownPlatform('instagram'),
      placement: placementOf(
        ['feed_image', 'carousel_item', 'reel', 'story'] as const,
        'feed_image, carousel_item (several files), reel or story; by the media when absent',
      ),
      shareToFeed: bool('Reels: also show it in the feed (default true)'),
      altText: z.string().max(1000).optional().describe('Alternative text of a single picture'),
      fit,
    },
    connected: 'instagram',
    createPublisher: (deps) => {
      const p = deps.platforms ?? OFFICIAL_ENDPOINTS;
      return createInstagramTarget({
        instagramGraphUrl: p.INSTAGRAM_GRAPH_URL,
        facebookGraphUrl: p.FACEBOOK_GRAPH_URL,
        ruploadUrl: p.FACEBOOK_RUPLOAD_URL,
        version: p.FACEBOOK_GRAPH_VERSION,
        pollIntervalMs: p.INSTAGRAM_POLL_INTERVAL_MS ?? OFFICIAL_ENDPOINTS.INSTAGRAM_POLL_INTERVAL_MS,
      });
    },
  },
  facebook: {
    label: 'Facebook Page (text or a link, photos, a video or a Reel on a connected Page)',
    options: {
      connectionId,
      platform: ownPlatform('facebook'),
      link: z
        .url({ protocol: /^https?$/, error: 'expected an http(s) URL' })
        .optional()
        .describe('A link to share (text posts)'),
      placement: placementOf(
        ['feed_image', 'carousel_item', 'video', 'reel'] as const,
        'feed_image, carousel_item (several photos), video or reel; by the media when absent',
      ),
      fit,
    },
    connected: 'facebook',
    createPublisher: (deps) => {
      const p = deps.platforms ?? OFFICIAL_ENDPOINTS;
      return createFacebookTarget({
        graphUrl: p.FACEBOOK_GRAPH_URL,
        graphVideoUrl: p.FACEBOOK_GRAPH_VIDEO_URL,
        version: p.FACEBOOK_GRAPH_VERSION,
        appId: p.FACEBOOK_APP_ID ?? '',
      });
    },
  },
} satisfies Record<TargetType, TargetEntry>;

/** The platform a target publishes through, or null for a local target. */
export const connectedPlatformOf = (type: TargetType): Platform | null => TARGET_REGISTRY[type].connected;

export const REGISTERED_TARGET_TYPES = Object.keys(TARGET_REGISTRY) as TargetType[];

/** A target in a create request, one shape per registered type (the API validates with this). */
export const targetSchema = z.discriminatedUnion(
  'type',
  Object.entries(TARGET_REGISTRY).map(([type, entry]) =>
    z.strictObject({ type: z.literal(type as TargetType), key: targetKeySchema.optional(), ...entry.options }),
  ) as unknown as [AnyTargetSchema, ...AnyTargetSchema[]],
  { error: `expected a target object with a known "type" (${REGISTERED_TARGET_TYPES.join(', ')})` },
);

type Registry = typeof TARGET_REGISTRY;
type ShapeOf<T extends TargetType> = {
  type: z.ZodLiteral<T>;
  key: z.ZodOptional<typeof targetKeySchema>;
} & Registry[T]['options'];
type AnyTargetSchema = {
  [T in TargetType]: z.ZodObject<ShapeOf<T> extends infer S extends z.ZodRawShape ? S : never, z.core.$strict>;
}[TargetType];

/** One publisher per registered target type. */
export function createPublishers(deps: PublisherDeps): Record<TargetType, Publisher> {
  return Object.fromEntries(
    Object.entries(TARGET_REGISTRY).map(([type, entry]) => [type, entry.createPublisher(deps)]),
  ) as Record<TargetType, Publisher>;
}
