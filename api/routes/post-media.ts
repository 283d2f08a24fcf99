import express, { Router } from 'express';
import { z } from 'zod';
import { PLACEMENTS } from '../../domain/media-rules.js';
import { MEDIA_PROBLEM_CODES } from '../../media/check.js';
import { checkPostMedia, postMediaErrors, promisedMedia } from '../../use-cases/posts/validate-media.js';
import { callerOf } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import type { RouteDoc } from '../openapi.js';
import { Problem, parseOrThrow } from '../problem.js';
import { createPostSchema } from '../schemas/posts.js';

// The media check of post creation as a dry run for composers: the same answer, nothing saved.

const problemItem = z.object({
  code: z.enum(MEDIA_PROBLEM_CODES),
  message: z.string().describe('What is wrong, in words'),
  fixable: z.boolean().describe('The render step fixes it without the user doing anything'),
  fix: z.string().describe('What the fix will do, or what the user can do'),
});

export const mediaReportSchema = z.object({
  ok: z.boolean().describe('Every target can take the media, after the fixes marked fixable'),
  targets: z.array(
    z.object({
      key: z.string(),
      platform: z.string(),
      problems: z.array(problemItem).describe('About the target media as a whole: count, mixing, missing video'),
      files: z.array(z.object({ mediaId: z.uuid(), placement: z.enum(PLACEMENTS), problems: z.array(problemItem) })),
      ok: z.boolean(),
    }),
  ),
});

const validateSchema = createPostSchema;

export function postMediaRoutes(deps: ApiDeps): Router {
  const router = Router();
  router.post('/api/v1/posts/validate', express.json({ limit: '1mb' }), async (req, res) => {
    const { userId } = callerOf(req);
    const post = parseOrThrow(validateSchema, req.body ?? undefined);
    const aiImages = deps.aiImages ?? true;
    const report = await checkPostMedia(deps.db, userId, post.mediaIds, post.targets, promisedMedia(post, aiImages));
    // Media not the caller's is named like on create (it cannot be checked).
    const known = new Set(report.targets.flatMap((t) => t.files.map((f) => f.mediaId)));
    const unknown = post.targets.length > 0 ? post.mediaIds.filter((id) => !known.has(id)) : [];
    if (unknown.length > 0) {
      throw Problem.validation(
        unknown.map((id) => ({
          field: `mediaIds[${post.mediaIds.indexOf(id)}]`,
          message: `no media with id ${id}; upload it first`,
        })),
      );
    }
    res.json({ ok: report.ok, targets: report.targets, errors: postMediaErrors(report, post, aiImages) });
  });
  return router;
}

export const postMediaDocs: RouteDoc[] = [
  {
    method: 'post',
    path: '/api/v1/posts/validate',
    tag: 'Posts',
    summary:
      'Dry run of post creation for composers: every target media checked against its platform rules, nothing saved',
    body: validateSchema,
    responses: {
      200: {
        description:
          'The report creation would act on: per target and file, each problem and whether the render step fixes it. `ok` false means creating this post would be refused with 422 and these `errors`.',
        schema: mediaReportSchema.extend({
          errors: z.array(z.object({ field: z.string(), message: z.string() })),
        }),
      },
      422: {
        description: 'The body is not a valid post (the same rules as creation), or names media that is not yours',
      },
    },
  },
];
