import { z } from 'zod';
import { POST_STATUSES, SLOT_KEY_PREFIX } from '../../domain/pipeline.js';
import { isSupportedYear, isTimeZone, YEAR_RULE } from '../../domain/zoned-time.js';
import { targetKeySchema, targetSchema } from '../../platforms/registry.js';
import { pageQuery } from './paging.js';
import { storableText } from './text.js';

// Target shapes come from the one target registry.
export { targetKeySchema, targetSchema };

const isoInstant = z.iso
  .datetime({
    offset: true,
    error: 'expected an ISO-8601 date-time with a UTC offset, e.g. 2026-12-01T09:00:00+01:00',
  })
  .refine(isSupportedYear, YEAR_RULE);

/** A moment given either with its UTC offset, or as wall-clock time in an IANA time zone. */
export const publishAtSchema = z.union(
  [
    isoInstant,
    z.strictObject({
      local: z
        .string()
        .regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/, 'expected a local date-time like 2026-12-01T09:00'),
      timeZone: z
        .string()
        .max(64, 'expected an IANA time zone such as Europe/Berlin')
        .regex(/^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*$/, 'expected an IANA time zone such as Europe/Berlin')
        .refine(isTimeZone, 'expected an IANA time zone such as Europe/Berlin')
        .describe(
          'An IANA time zone name (the tz database), such as Europe/Berlin or America/New_York; a name this server does not know is refused with 422. Wall-clock times that do not exist (skipped by a daylight-saving change) move forward; ambiguous ones take the earlier instant.',
        ),
    }),
  ],
  {
    error:
      'expected an ISO-8601 date-time with a UTC offset (2026-12-01T09:00:00+01:00) or { "local": "2026-12-01T09:00", "timeZone": "Europe/Berlin" }',
  },
);

export const briefSchema = z.strictObject({
  topic: storableText().trim().min(1, 'must not be empty').max(2000, 'must be at most 2000 characters'),
  tone: storableText().trim().max(200, 'must be at most 200 characters').optional(),
  audience: storableText().trim().max(500, 'must be at most 500 characters').optional(),
  language: z
    .string()
    .regex(/^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$/, 'expected a language tag like "en" or "de-AT"')
    .default('en'),
  sourceMediaIds: z.array(z.uuid('expected a media id (UUID)')).max(10).optional(),
  generateImage: z
    .boolean()
    .optional()
    .describe(
      "Make one image with the AI endpoint's image model while drafting (asked at 1024x1024), for a post without media of its own. It counts as the post's picture when the post is checked at creation (Instagram, TikTok photos); a platform that needs a video still needs one. Without an AI endpoint no image can be made, and a target that needs a picture is refused (422 on brief.generateImage). An image that could not be made fails the targets that needed it, saying why.",
    ),
});

export const reviewSchema = z.discriminatedUnion(
  'mode',
  [
    z.strictObject({ mode: z.literal('auto') }),
    z.strictObject({
      mode: z.literal('manual'),
      /** When the decision is due; absent means no deadline. */
      deadline: isoInstant.optional(),
      onExpiry: z.enum(['cancel', 'approve'], { error: 'expected "cancel" or "approve"' }).default('cancel'),
      maxRounds: z.number().int().min(0, 'must be from 0 to 10').max(10, 'must be from 0 to 10').optional(),
    }),
  ],
  { error: 'expected { "mode": "auto" } or { "mode": "manual", ... }' },
);

export const createPostSchema = z
  .strictObject({
    /** Hand-written text; leave out and give a brief to have it drafted. */
    caption: storableText()
      .trim()
      .min(1, 'must not be empty')
      .max(10_000, 'must be at most 10000 characters')
      .optional(),
    brief: briefSchema.optional(),
    mediaIds: z
      .array(z.uuid('expected a media id (UUID)'), { error: 'expected a list of media ids' })
      .max(20, 'at most 20 media per post')
      .default([]),
    targets: z
      .array(targetSchema, {
        error: (i) =>
          i.input === undefined ? 'required: a list of at least one target' : 'expected a list of targets',
      })
      .min(1, 'at least one target is required')
      .max(20, 'at most 20 targets per post'),
    publishAt: publishAtSchema
      .nullish()
      .describe(
        'When to publish; absent or null publishes as soon as the post is ready. A time more than a minute in the past is refused (422), not published at once.',
      ),
    /** Defaults to manual review for drafted posts and none for hand-written ones. */
    review: reviewSchema.optional(),
  })
  .superRefine((post, ctx) => {
    if (post.caption === undefined && post.brief === undefined) {
      ctx.addIssue({ code: 'custom', path: ['caption'], message: 'required: a caption, or a brief to draft one from' });
    }
    if (post.caption !== undefined && post.brief !== undefined) {
      // Drafts come from the brief alone: a caption beside it would be saved and never published.
      ctx.addIssue({
        code: 'custom',
        path: ['caption'],
        message:
          'give a caption (published as written) or a brief (drafted from it), not both; words the drafts must use belong in brief.topic',
      });
    }
    const keys = new Set<string>();
    post.targets.forEach((t, i) => {
      const key = t.key ?? t.type;
      if (keys.has(key)) {
        ctx.addIssue({
          code: 'custom',
          path: ['targets', i, 'key'],
          message: `duplicate target key "${key}"; give each target a distinct key`,
        });
      }
      keys.add(key);
    });
    const ids = new Set<string>();
    post.mediaIds.forEach((id, i) => {
      if (ids.has(id)) ctx.addIssue({ code: 'custom', path: ['mediaIds', i], message: 'listed twice' });
      ids.add(id);
    });
  });

export type CreatePostInput = z.infer<typeof createPostSchema>;

export const listPostsQuery = pageQuery(20).extend({
  status: z.enum(POST_STATUSES, { error: `expected one of ${POST_STATUSES.join(', ')}` }).optional(),
});

export const idempotencyKeySchema = z
  .string()
  .regex(/^[\x21-\x7e]{1,255}$/, 'expected 1-255 visible ASCII characters')
  .refine(
    (key) => !key.startsWith(SLOT_KEY_PREFIX),
    `keys starting with "${SLOT_KEY_PREFIX}" are reserved for campaigns`,
  )
  .describe(
    `Makes a retry safe: 1-255 visible ASCII characters (no spaces), not starting with "${SLOT_KEY_PREFIX}". The same key with the same body answers the first result again; with a different body it is refused with 422.`,
  );

export const approveSchema = z.strictObject({
  /** Replacement drafts by target key, applied before approving. */
  edits: z.record(storableText(), z.record(storableText(), z.unknown())).optional(),
});
export const rejectSchema = z.strictObject({
  feedback: storableText('expected text: say what should change')
    .trim()
    .min(1, 'required: say what should change')
    .max(4000, 'must be at most 4000 characters')
    .describe(
      'What should change, for the AI drafting the next round: 1-4000 characters after trimming spaces (blank text is refused with 422).',
    ),
});
export const editDraftSchema = z.strictObject({
  draft: z.record(storableText(), z.unknown(), { error: 'expected a draft object' }),
});
export const rescheduleSchema = z.strictObject({ publishAt: publishAtSchema });

// What the post routes answer (use-cases/posts/view-post.ts), for the OpenAPI document.
const instant = z.iso.datetime({ offset: true });

export const postSummaryView = z.object({
  id: z.uuid(),
  caption: z.string().nullable(),
  topic: z
    .string()
    .nullable()
    .describe("The brief's topic of a post drafted by AI; null for a caption written by hand"),
  status: z.enum(POST_STATUSES),
  publishAt: instant.nullable(),
  timeZone: z.string().nullable(),
  createdAt: instant,
  updatedAt: instant,
});

export const postPageView = z.object({
  items: z.array(postSummaryView),
  nextCursor: z.string().nullable().describe('Pass as `cursor` for the next page; null on the last page'),
});

const mediaItemView = z.looseObject({
  id: z.uuid(),
  mimeType: z.string(),
  sizeBytes: z.number().int(),
  width: z.number().int().nullable(),
  height: z.number().int().nullable(),
  sha256: z.string(),
  originalName: z.string().nullable(),
  createdAt: instant,
});

export const postView = postSummaryView.extend({
  error: z.string().nullable().describe('Why the post failed, in words'),
  brief: z.looseObject({ topic: z.string() }).nullable(),
  review: z.looseObject({ mode: z.enum(['auto', 'manual']), round: z.number().int() }),
  generation: z
    .object({
      mode: z.enum(['ai', 'offline']),
      note: z.string().optional(),
      model: z.string().nullable(),
      rounds: z.array(
        z.object({
          round: z.number().int(),
          mode: z.enum(['ai', 'offline']),
          model: z.string().nullable(),
          promptTokens: z.number().int().nullable(),
          completionTokens: z.number().int().nullable(),
          latencyMs: z.number().int().nullable(),
          feedback: z.string().nullable(),
          createdAt: instant,
        }),
      ),
    })
    .nullable(),
  media: z.array(mediaItemView),
  steps: z.array(
    z.object({
      name: z.string(),
      status: z.string().describe('pending, running, retrying, succeeded, failed or skipped'),
      attempts: z.number().int(),
      error: z.string().nullable(),
      startedAt: instant.nullable(),
      finishedAt: instant.nullable(),
    }),
  ),
  targets: z.array(
    z.object({
      key: z.string(),
      type: z.string(),
      platform: z.string(),
      draft: z.record(z.string(), z.unknown()).nullable(),
      status: z
        .string()
        .describe(
          'pending, publishing, retrying, published, failed, cancelled, or unknown (the platform may have published it and cannot be asked: check the account, then confirm or retry)',
        ),
      attempts: z.number().int(),
      error: z.string().nullable(),
      result: z.record(z.string(), z.unknown()).nullable(),
      platformPostId: z.string().nullable().describe("The platform's id of the published post"),
      url: z.string().nullable().describe('The public URL of the published post'),
      connectionId: z.uuid().nullable().describe('The connected account a platform target publishes through'),
      clock: z
        .enum(['app', 'youtube'])
        .describe(
          "Whose clock publishes it: app (at the post's time) or youtube (uploaded ahead, YouTube's own schedule)",
        ),
      options: z.record(z.string(), z.unknown()).nullable().describe("The target's platform options"),
      uploadProgress: z
        .object({ sent: z.number().int(), total: z.number().int(), at: instant })
        .nullable()
        .describe('Bytes sent of the whole file during a platform upload'),
      outcomeUnknown: z
        .object({ reason: z.string().nullable(), confirm: z.string(), retry: z.string() })
        .optional()
        .describe('Present when the outcome is unknown: where to confirm it was published, or to send it again'),
      publishedAt: instant.nullable(),
      placement: z.string().nullable().describe('The placement the target named; null: chosen per file'),
      fit: z.enum(['attention', 'centre', 'pad']).nullable(),
      renderProgress: z
        .looseObject({ fraction: z.number().nullable().optional(), done: z.boolean().optional() })
        .nullable()
        .describe('Progress of the current or last transcode for this target (0..1)'),
      renditions: z.array(
        z.object({
          position: z.number().int(),
          mediaId: z.uuid(),
          placement: z.string().nullable(),
          mimeType: z.string(),
          width: z.number().int(),
          height: z.number().int(),
          sizeBytes: z.number().int(),
          durationSec: z.number().nullable(),
          changes: z.array(z.string()).describe('What the render step changed to meet the platform rules, in words'),
        }),
      ),
    }),
  ),
  workflow: z.object({ id: z.string(), url: z.string().nullable().describe('The workflow in the Temporal Web UI') }),
});

export const reviewQueueView = z.object({ items: z.array(postView) });
