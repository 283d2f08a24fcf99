import express, { type Request, Router } from 'express';
import { z } from 'zod';
import { cancelPost } from '../../use-cases/posts/cancel-post.js';
import { confirmTarget } from '../../use-cases/posts/confirm-target.js';
import { approvePost, rejectPost } from '../../use-cases/posts/decide-review.js';
import { editDraft } from '../../use-cases/posts/edit-draft.js';
import { reschedulePost } from '../../use-cases/posts/reschedule-post.js';
import { retryTarget } from '../../use-cases/posts/retry-target.js';
import type { PostActionRequest } from '../../use-cases/posts/send-update.js';
import { postAttempts, reviewQueue, viewPost } from '../../use-cases/posts/view-post.js';
import { callerOf } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import type { RouteDoc } from '../openapi.js';
import { parseOrThrow } from '../problem.js';
import {
  approveSchema,
  editDraftSchema,
  postView,
  rejectSchema,
  rescheduleSchema,
  reviewQueueView,
} from '../schemas/posts.js';
import { idempotencyKeyOf } from './posts.js';

const confirmSchema = z.strictObject({
  url: z
    .url({ protocol: /^https?$/, error: 'expected the http(s) address of the post on the platform' })
    .max(2000)
    .optional()
    .describe('Where you found the post on the platform'),
});

const cancelSchema = z.strictObject({
  /** Shown on the post instead of "Cancelled on request". */
  reason: z.string().trim().min(1, 'must not be empty').max(500, 'must be at most 500 characters').optional(),
});

const idempotencyKeyHeader = {
  name: 'Idempotency-Key',
  description:
    'Makes a retry safe: a repeat gets the first answer; the same key with another action or body is refused (422)',
};
const unavailable = { description: 'Temporal did not answer in time; repeat after Retry-After seconds' };

export const postActionDocs: RouteDoc[] = [
  {
    method: 'get',
    path: '/api/v1/reviews',
    tag: 'Review',
    summary: 'Your posts waiting for a review decision, with their drafts',
    responses: { 200: { description: 'The review queue', schema: reviewQueueView } },
  },
  {
    method: 'post',
    path: '/api/v1/posts/:id/review/approve',
    tag: 'Review',
    summary: 'Approve the drafts (optionally with edits, by target key)',
    body: approveSchema,
    headers: [idempotencyKeyHeader],
    responses: {
      200: { description: 'Approved; the pipeline goes on', schema: postView },
      409: { description: 'The post is not waiting for review (or its deadline has passed), with the reason' },
      503: unavailable,
    },
  },
  {
    method: 'post',
    path: '/api/v1/posts/:id/review/reject',
    tag: 'Review',
    summary: 'Send the drafts back with feedback; the AI writes a new round',
    body: rejectSchema,
    headers: [idempotencyKeyHeader],
    responses: {
      200: { description: 'A new round is being drafted', schema: postView },
      409: {
        description: 'The post is not waiting for review, was written by hand, or has no rounds left, with the reason',
      },
      503: unavailable,
    },
  },
  {
    method: 'put',
    path: '/api/v1/posts/:id/drafts/:targetKey',
    tag: 'Review',
    summary: "Replace one target's draft while the post waits for review",
    body: editDraftSchema,
    headers: [idempotencyKeyHeader],
    responses: {
      200: { description: 'Saved', schema: postView },
      409: { description: 'The post is not waiting for review, with the reason' },
      503: unavailable,
    },
  },
  {
    method: 'post',
    path: '/api/v1/posts/:id/reschedule',
    tag: 'Posts',
    summary:
      'Move the publish time (before publishing starts); while the review is open its deadline moves by the same shift',
    body: rescheduleSchema,
    headers: [idempotencyKeyHeader],
    responses: {
      200: { description: 'Rescheduled', schema: postView },
      409: {
        description:
          'Too late, with the reason: publishing has started, the post has ended, or the review deadline would move into the past',
      },
      503: unavailable,
    },
  },
  {
    method: 'post',
    path: '/api/v1/posts/:id/cancel',
    tag: 'Posts',
    summary: 'Cancel a post that has not started publishing',
    body: cancelSchema,
    headers: [idempotencyKeyHeader],
    responses: {
      200: { description: 'Cancelled: it took effect, nothing will be published', schema: postView },
      409: { description: 'Too late (publishing has started or the post has ended), with the reason' },
      503: unavailable,
    },
  },
  {
    method: 'post',
    path: '/api/v1/posts/:id/targets/:targetKey/retry',
    tag: 'Posts',
    summary: 'Publish one failed target again, leaving the others alone',
    headers: [idempotencyKeyHeader],
    responses: {
      202: { description: 'The retry is under way', schema: postView },
      409: {
        description:
          'The target has not failed, its retry window has closed, or it needs a picture the post does not have (its AI image could not be made), with the reason',
      },
      503: unavailable,
    },
  },
  {
    method: 'post',
    path: '/api/v1/posts/:id/targets/:targetKey/confirm',
    tag: 'Posts',
    summary: 'Record a target as published after checking the account (the way out of "outcome unknown" besides retry)',
    body: confirmSchema,
    headers: [idempotencyKeyHeader],
    responses: {
      200: { description: 'Recorded as published; it will not be sent again', schema: postView },
      409: { description: 'The target is published already, or its retry window has closed, with the reason' },
      503: unavailable,
    },
  },
  {
    method: 'get',
    path: '/api/v1/posts/:id/attempts',
    tag: 'Posts',
    summary: 'Every attempt of every step: time, duration and error in words',
    responses: {
      200: {
        description: 'Oldest first',
        schema: z.object({
          items: z.array(
            z.object({
              step: z.string(),
              targetKey: z.string().nullable(),
              attempt: z.number().int(),
              outcome: z.enum(['running', 'succeeded', 'failed']),
              error: z.string().nullable(),
              startedAt: z.iso.datetime(),
              finishedAt: z.iso.datetime().nullable(),
              durationMs: z.number().int().nullable(),
            }),
          ),
          workflowUrl: z.string().nullable(),
        }),
      },
    },
  },
];

/** Everything a person does to a post after creating it: review, edit, reschedule, cancel, retry. */
export function postActionRoutes(deps: ApiDeps): Router {
  const router = Router();
  const { db } = deps;
  const json = express.json({ limit: '256kb' });
  const link = { uiUrl: deps.temporalUiUrl, namespace: deps.temporal.options.namespace };
  const actions = { db, temporal: deps.temporal, callTimeoutMs: deps.temporalCallTimeoutMs };

  const actionOf = (req: Request): PostActionRequest => ({
    ownerId: callerOf(req).userId,
    postId: String(req.params.id),
    idempotencyKey: idempotencyKeyOf(req),
  });
  const view = (req: Request) => viewPost(db, callerOf(req).userId, String(req.params.id), link);

  router.get('/api/v1/reviews', async (req, res) => {
    res.json({ items: await reviewQueue(db, callerOf(req).userId, link) });
  });

  router.post('/api/v1/posts/:id/review/approve', json, async (req, res) => {
    const input = parseOrThrow(approveSchema, req.body ?? {});
    await approvePost(actions, actionOf(req), input);
    res.json(await view(req));
  });

  router.post('/api/v1/posts/:id/review/reject', json, async (req, res) => {
    const input = parseOrThrow(rejectSchema, req.body);
    await rejectPost(actions, actionOf(req), input);
    res.json(await view(req));
  });

  router.put('/api/v1/posts/:id/drafts/:targetKey', json, async (req, res) => {
    const input = parseOrThrow(editDraftSchema, req.body);
    await editDraft(actions, actionOf(req), { targetKey: String(req.params.targetKey), draft: input.draft });
    res.json(await view(req));
  });

  router.post('/api/v1/posts/:id/reschedule', json, async (req, res) => {
    const input = parseOrThrow(rescheduleSchema, req.body);
    await reschedulePost(actions, actionOf(req), input);
    res.json(await view(req));
  });

  router.post('/api/v1/posts/:id/cancel', json, async (req, res) => {
    const input = parseOrThrow(cancelSchema, req.body ?? {});
    await cancelPost(actions, actionOf(req), input);
    res.json(await view(req));
  });

  router.post('/api/v1/posts/:id/targets/:targetKey/retry', async (req, res) => {
    await retryTarget(actions, actionOf(req), { targetKey: String(req.params.targetKey) });
    res.status(202).json(await view(req));
  });

  router.post('/api/v1/posts/:id/targets/:targetKey/confirm', json, async (req, res) => {
    const input = parseOrThrow(confirmSchema, req.body ?? {});
    await confirmTarget(actions, actionOf(req), { targetKey: String(req.params.targetKey), url: input.url });
    res.json(await view(req));
  });

  router.get('/api/v1/posts/:id/attempts', async (req, res) => {
    res.json(await postAttempts(db, callerOf(req).userId, String(req.params.id), link));
  });

  return router;
}
