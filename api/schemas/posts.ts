import { z } from 'zod';
import { POST_STATUSES } from '../../domain/pipeline.js';

const targetKey = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'expected 1-63 lowercase letters, digits, "_" or "-"');

export const targetSchema = z.discriminatedUnion(
  'type',
  [
    z.strictObject({
      type: z.literal('local_export'),
      /** Names the target within the post; defaults to the type. */
      key: targetKey.optional(),
    }),
  ],
  { error: 'expected a target object with a known "type" (local_export)' },
);

export const createPostSchema = z
  .strictObject({
    caption: z
      .string({ error: (i) => (i.input === undefined ? 'required' : 'expected text') })
      .trim()
      .min(1, 'must not be empty')
      .max(10_000, 'must be at most 10000 characters'),
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
    publishAt: z.iso
      .datetime({
        offset: true,
        error: 'expected an ISO-8601 date-time with a UTC offset, e.g. 2026-12-01T09:00:00+01:00',
      })
      .nullish(),
  })
  .superRefine((post, ctx) => {
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

export const listPostsQuery = z.strictObject({
  limit: z.coerce
    .number({ error: 'expected a number' })
    .int('expected a whole number')
    .min(1, 'must be from 1 to 100')
    .max(100, 'must be from 1 to 100')
    .default(20),
  cursor: z.string().max(200).optional(),
  status: z.enum(POST_STATUSES, { error: `expected one of ${POST_STATUSES.join(', ')}` }).optional(),
});

export const idempotencyKeySchema = z.string().regex(/^[\x21-\x7e]{1,255}$/, 'expected 1-255 visible ASCII characters');
