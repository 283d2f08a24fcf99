import { WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import type { UpdateDefinition } from '@temporalio/common';
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import { and, asc, desc, eq } from 'drizzle-orm';
import express, { type Request, Router } from 'express';
import { z } from 'zod';
import { attempts, posts } from '../../db/schema.js';
import { CANCELLABLE_STATUSES } from '../../domain/pipeline.js';
import {
  approveUpdate,
  editDraftUpdate,
  rejectUpdate,
  rescheduleUpdate,
  retryTargetUpdate,
} from '../../workflows/messages.js';
import { callerOf } from '../auth.js';
import { isUuid } from '../cursor.js';
import type { ApiDeps } from '../deps.js';
import type { RouteDoc } from '../openapi.js';
import { loadPostView, temporalUiLink } from '../post-view.js';
import { Problem, parseOrThrow } from '../problem.js';
import { resolvePublishAt } from '../publish-at.js';
import { approveSchema, editDraftSchema, rejectSchema, rescheduleSchema } from '../schemas/posts.js';

export const postActionDocs: RouteDoc[] = [
  {
    method: 'get',
    path: '/api/v1/reviews',
    tag: 'Review',
    summary: 'Your posts waiting for a review decision, with their drafts',
    responses: { 200: { description: 'The review queue' } },
  },
  {
    method: 'post',
    path: '/api/v1/posts/:id/review/approve',
    tag: 'Review',
    summary: 'Approve the drafts (optionally with edits, by target key)',
    body: approveSchema,
    responses: { 200: { description: 'Approved; the pipeline goes on' } },
  },
  {
    method: 'post',
    path: '/api/v1/posts/:id/review/reject',
    tag: 'Review',
    summary: 'Send the drafts back with feedback; the AI writes a new round',
    body: rejectSchema,
    responses: { 200: { description: 'A new round is being drafted' } },
  },
  {
    method: 'put',
    path: '/api/v1/posts/:id/drafts/:targetKey',
    tag: 'Review',
    summary: "Replace one target's draft while the post waits for review",
    body: editDraftSchema,
    responses: { 200: { description: 'Saved' } },
  },
  {
    method: 'post',
    path: '/api/v1/posts/:id/reschedule',
    tag: 'Posts',
    summary: 'Move the publish time (before publishing starts)',
    body: rescheduleSchema,
    responses: { 200: { description: 'Rescheduled' } },
  },
  {
    method: 'post',
    path: '/api/v1/posts/:id/cancel',
    tag: 'Posts',
    summary: 'Cancel a post that has not started publishing',
    responses: { 202: { description: 'Cancelling' } },
  },
  {
    method: 'post',
    path: '/api/v1/posts/:id/targets/:targetKey/retry',
    tag: 'Posts',
    summary: 'Publish one failed target again, leaving the others alone',
    responses: { 202: { description: 'The retry is under way' } },
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
  const namespace = deps.temporal.options.namespace;
  const link = { uiUrl: deps.temporalUiUrl, namespace };

  async function ownPost(req: Request) {
    const id = String(req.params.id);
    const { userId } = callerOf(req);
    const [post] = isUuid(id)
      ? await db
          .select()
          .from(posts)
          .where(and(eq(posts.id, id), eq(posts.ownerId, userId)))
      : [];
    if (!post) throw Problem.notFound(`Post ${id}`);
    return post;
  }

  async function send<Ret, Args extends [unknown]>(
    workflowId: string,
    def: UpdateDefinition<Ret, Args>,
    args: Args,
  ): Promise<Ret> {
    try {
      return await deps.temporal.workflow.getHandle(workflowId).executeUpdate(def, { args });
    } catch (err) {
      throw updateProblem(err);
    }
  }

  const view = async (req: Request, postId: string) => loadPostView(db, callerOf(req).userId, postId, link);

  router.get('/api/v1/reviews', async (req, res) => {
    const rows = await db
      .select({ id: posts.id })
      .from(posts)
      .where(and(eq(posts.ownerId, callerOf(req).userId), eq(posts.status, 'awaiting_review')))
      .orderBy(desc(posts.updatedAt))
      .limit(100);
    res.json({ items: await Promise.all(rows.map((r) => view(req, r.id))) });
  });

  router.post('/api/v1/posts/:id/review/approve', json, async (req, res) => {
    const post = await ownPost(req);
    const input = parseOrThrow(approveSchema, req.body ?? {});
    await send(post.workflowId, approveUpdate, [{ ...(input.edits ? { edits: input.edits } : {}) }]);
    res.json(await view(req, post.id));
  });

  router.post('/api/v1/posts/:id/review/reject', json, async (req, res) => {
    const post = await ownPost(req);
    const input = parseOrThrow(rejectSchema, req.body);
    await send(post.workflowId, rejectUpdate, [{ feedback: input.feedback }]);
    res.json(await view(req, post.id));
  });

  router.put('/api/v1/posts/:id/drafts/:targetKey', json, async (req, res) => {
    const post = await ownPost(req);
    const input = parseOrThrow(editDraftSchema, req.body);
    await send(post.workflowId, editDraftUpdate, [{ targetKey: String(req.params.targetKey), draft: input.draft }]);
    res.json(await view(req, post.id));
  });

  router.post('/api/v1/posts/:id/reschedule', json, async (req, res) => {
    const post = await ownPost(req);
    const input = parseOrThrow(rescheduleSchema, req.body);
    const { publishAt, timeZone } = resolvePublishAt(input.publishAt);
    await send(post.workflowId, rescheduleUpdate, [{ publishAt: publishAt!.toISOString() }]);
    await db.update(posts).set({ timeZone }).where(eq(posts.id, post.id));
    res.json(await view(req, post.id));
  });

  router.post('/api/v1/posts/:id/cancel', async (req, res) => {
    const post = await ownPost(req);
    if (!CANCELLABLE_STATUSES.includes(post.status)) {
      throw new Problem(
        409,
        'Too late to cancel',
        `The post is ${post.status.replace('_', ' ')}; only posts not yet publishing can be cancelled`,
      );
    }
    try {
      await deps.temporal.workflow.getHandle(post.workflowId).cancel();
    } catch (err) {
      throw updateProblem(err);
    }
    res.status(202).json(await view(req, post.id));
  });

  router.post('/api/v1/posts/:id/targets/:targetKey/retry', async (req, res) => {
    const post = await ownPost(req);
    await send(post.workflowId, retryTargetUpdate, [{ targetKey: String(req.params.targetKey) }]);
    res.status(202).json(await view(req, post.id));
  });

  router.get('/api/v1/posts/:id/attempts', async (req, res) => {
    const post = await ownPost(req);
    const rows = await db.select().from(attempts).where(eq(attempts.postId, post.id)).orderBy(asc(attempts.startedAt));
    res.json({
      items: rows.map((a) => ({
        step: a.step,
        targetKey: a.targetKey,
        attempt: a.attempt,
        outcome: a.outcome,
        error: a.error,
        startedAt: a.startedAt.toISOString(),
        finishedAt: a.finishedAt?.toISOString() ?? null,
        durationMs: a.finishedAt ? a.finishedAt.getTime() - a.startedAt.getTime() : null,
      })),
      workflowUrl: temporalUiLink(deps.temporalUiUrl, namespace, post.workflowId),
    });
  });

  return router;
}

/** Turns a refused or failed Update into words a person can act on. */
function updateProblem(err: unknown): Problem {
  if (err instanceof WorkflowNotFoundError || /already completed|not found/i.test(String((err as Error)?.message))) {
    return new Problem(409, 'Pipeline finished', "This post's pipeline has finished; it can no longer be changed");
  }
  if (err instanceof WorkflowUpdateFailedError) {
    let cause: unknown = err.cause;
    while (cause instanceof ActivityFailure && cause.cause) cause = cause.cause;
    const message = cause instanceof Error ? cause.message : 'The request was refused';
    if (cause instanceof ApplicationFailure && cause.type === 'InvalidDraft') {
      return Problem.validation([{ field: 'draft', message }]);
    }
    const field = /^(feedback|targetKey|publishAt): (.*)$/.exec(message);
    if (field) return Problem.validation([{ field: field[1]!, message: field[2]! }]);
    return new Problem(409, 'Not possible now', message);
  }
  return err instanceof Problem
    ? err
    : new Problem(503, 'Workflow engine unavailable', 'Temporal did not answer; try again shortly');
}
