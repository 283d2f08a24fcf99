import express, { type Request, Router } from 'express';
import { createPost } from '../../use-cases/posts/create-post.js';
import { listPosts } from '../../use-cases/posts/list-posts.js';
import { startPipeline } from '../../use-cases/posts/start-pipeline.js';
import { viewFrom, viewPost } from '../../use-cases/posts/view-post.js';
import { callerOf } from '../auth.js';
import { decodeCursor, encodeCursor } from '../cursor.js';
import type { ApiDeps } from '../deps.js';
import type { RouteDoc } from '../openapi.js';
import { parseOrThrow } from '../problem.js';
import { createPostSchema, idempotencyKeySchema, listPostsQuery, postPageView, postView } from '../schemas/posts.js';

/** The optional Idempotency-Key header, validated; shared by every route that changes a post. */
export function idempotencyKeyOf(req: Request): string | undefined {
  const header = req.header('Idempotency-Key');
  return header === undefined ? undefined : parseOrThrow(idempotencyKeySchema, header, 'Idempotency-Key');
}

export function postRoutes(deps: ApiDeps): Router {
  const router = Router();
  const { db } = deps;
  const link = { uiUrl: deps.temporalUiUrl, namespace: deps.temporal.options.namespace };
  const temporal = { temporal: deps.temporal, callTimeoutMs: deps.temporalCallTimeoutMs };

  router.post('/api/v1/posts', express.json({ limit: '1mb' }), async (req, res) => {
    const { userId } = callerOf(req);
    const idempotencyKey = idempotencyKeyOf(req);
    const post = parseOrThrow(createPostSchema, req.body ?? undefined);
    const result = await createPost(
      {
        db,
        reviewMaxRounds: deps.reviewMaxRounds,
        retryWindowDays: deps.retryWindowDays,
        tiktokAudited: deps.tiktokAudited ?? false,
        aiImages: deps.aiImages ?? true,
        uploadTaskQueue: deps.uploadTaskQueue,
        ...(deps.quotas ? { quotas: deps.quotas } : {}),
      },
      { ownerId: userId, post, idempotencyKey },
    );
    if (result.pipeline) {
      await startPipeline(
        { ...temporal, db, taskQueue: deps.taskQueue, searchAttributes: deps.searchAttributes },
        result.pipeline,
      );
    }
    if (result.created) {
      // The rows just written are the post's state: no need to read them back.
      res
        .status(201)
        .location(`/api/v1/posts/${result.post.id}`)
        .json(viewFrom(result.post, result.parts, link));
      return;
    }
    res.json(await viewPost(db, userId, result.post.id, link));
  });

  router.get('/api/v1/posts', async (req, res) => {
    const { limit, cursor, status } = parseOrThrow(listPostsQuery, req.query);
    const page = await listPosts(db, callerOf(req).userId, {
      limit,
      after: cursor ? decodeCursor(cursor) : undefined,
      status,
    });
    res.json({ items: page.items, nextCursor: page.next ? encodeCursor(page.next.createdAt, page.next.id) : null });
  });

  router.get('/api/v1/posts/:id', async (req, res) => {
    res.json(await viewPost(db, callerOf(req).userId, req.params.id, link));
  });

  return router;
}

export const postDocs: RouteDoc[] = [
  {
    method: 'post',
    path: '/api/v1/posts',
    tag: 'Posts',
    summary: 'Create a post and start its pipeline',
    body: createPostSchema,
    headers: [
      {
        name: 'Idempotency-Key',
        description:
          'A repeat with the same key returns the same post (200) from its own state instead of a second one; the same key with a different body is refused (422)',
      },
    ],
    responses: {
      201: { description: 'Created; the pipeline has started', schema: postView },
      200: { description: 'A repeat of an earlier request with the same Idempotency-Key', schema: postView },
      422: {
        description:
          'The body is invalid, or a target cannot take the media even after the fixes the render step makes: `errors` names each `targets[i]` or `mediaIds[j]` in words, and the extension member `targets` carries the whole report per target and file (problems with `code`, `message`, `fixable`, `fix`), as POST /api/v1/posts/validate answers it',
      },
      503: {
        description:
          'Temporal did not answer in time; the post may be saved with its start unconfirmed: repeat with the same Idempotency-Key after Retry-After seconds',
      },
    },
  },
  {
    method: 'get',
    path: '/api/v1/posts',
    tag: 'Posts',
    summary: 'Your posts, newest first',
    query: listPostsQuery,
    responses: { 200: { description: 'A page of posts with `nextCursor`', schema: postPageView } },
  },
  {
    method: 'get',
    path: '/api/v1/posts/:id',
    tag: 'Posts',
    summary: 'A post with the status of every step and target, errors in words, and its Temporal UI link',
    responses: { 200: { description: 'The post', schema: postView } },
  },
];
