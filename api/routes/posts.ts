import { createHash, randomUUID } from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/client';
import { and, desc, eq, inArray } from 'drizzle-orm';
import express, { Router } from 'express';
import { draftFromCaption, draftSchemaFor } from '../../ai/draft-schemas.js';
import { media, postMedia, postSteps, posts, publications } from '../../db/schema.js';
import type { Draft, ReviewPolicy } from '../../domain/drafts.js';
import { type PostPipelineInput, STEP_NAMES, workflowIdForPost } from '../../domain/pipeline.js';
import { OwnerIdAttribute, PostIdAttribute, PostStatusAttribute } from '../../domain/search-attributes.js';
import { safeError } from '../../runtime/errors.js';
import type { postPipeline } from '../../workflows/post-pipeline.js';
import { callerOf } from '../auth.js';
import { after, isUuid, toPage } from '../cursor.js';
import type { ApiDeps } from '../deps.js';
import type { RouteDoc } from '../openapi.js';
import { loadPostView, postSummary } from '../post-view.js';
import { type FieldError, fieldErrorsFromZod, Problem } from '../problem.js';
import { resolvePublishAt } from '../publish-at.js';
import { type CreatePostInput, createPostSchema, idempotencyKeySchema, listPostsQuery } from '../schemas/posts.js';

export function postRoutes(deps: ApiDeps): Router {
  const router = Router();
  const { db } = deps;
  const link = { uiUrl: deps.temporalUiUrl, namespace: deps.temporal.options.namespace };

  async function view(ownerId: string, postId: string) {
    const post = await loadPostView(db, ownerId, postId, link);
    if (!post) throw Problem.notFound(`Post ${postId}`);
    return post;
  }

  router.post('/api/v1/posts', express.json({ limit: '1mb' }), async (req, res) => {
    const { userId } = callerOf(req);
    const idempotencyKey = readIdempotencyKey(req.header('Idempotency-Key'));
    const parsed = createPostSchema.safeParse(req.body ?? undefined);
    if (!parsed.success) throw Problem.validation(fieldErrorsFromZod(parsed.error));
    const input = parsed.data;
    const requestHash = createHash('sha256').update(JSON.stringify(input)).digest('hex');

    if (idempotencyKey) {
      const replay = await findReplay(userId, idempotencyKey, requestHash);
      if (replay) {
        await startPipeline(replay);
        res.status(200).json(await view(userId, replay.id));
        return;
      }
    }
    await assertMediaExist(userId, input.mediaIds);

    const created = await insertPost(userId, input, requestHash, idempotencyKey);
    if (created.replayOf) {
      // Lost a race with an identical request carrying the same key: answer as a replay.
      await startPipeline(created.replayOf);
      res.status(200).json(await view(userId, created.replayOf.id));
      return;
    }
    const post = created.post;
    try {
      await startPipeline(post);
    } catch (err) {
      req.log?.error({ err: safeError(err), postId: post.id }, 'could not start the post pipeline');
      await settleFailedStart(post);
    }
    res
      .status(201)
      .location(`/api/v1/posts/${post.id}`)
      .json(await view(userId, post.id));
  });

  router.get('/api/v1/posts', async (req, res) => {
    const parsed = listPostsQuery.safeParse(req.query);
    if (!parsed.success) throw Problem.validation(fieldErrorsFromZod(parsed.error));
    const { limit, cursor, status } = parsed.data;
    const rows = await db
      .select()
      .from(posts)
      .where(
        and(
          eq(posts.ownerId, callerOf(req).userId),
          status ? eq(posts.status, status) : undefined,
          after(posts.createdAt, posts.id, cursor),
        ),
      )
      .orderBy(desc(posts.createdAt), desc(posts.id))
      .limit(limit + 1);
    res.json(toPage(rows, limit, postSummary));
  });

  router.get('/api/v1/posts/:id', async (req, res) => {
    const id = req.params.id;
    if (!isUuid(id)) throw Problem.notFound(`Post ${id}`);
    res.json(await view(callerOf(req).userId, id));
  });

  async function findReplay(ownerId: string, key: string, requestHash: string) {
    const [existing] = await db
      .select()
      .from(posts)
      .where(and(eq(posts.ownerId, ownerId), eq(posts.idempotencyKey, key)));
    if (!existing) return undefined;
    if (existing.requestHash !== requestHash) {
      throw new Problem(
        422,
        'Idempotency-Key reused',
        'This Idempotency-Key was already used with a different request body',
        [{ field: 'Idempotency-Key', message: 'already used for a different request; use a new key for a new post' }],
      );
    }
    return existing;
  }

  async function assertMediaExist(ownerId: string, ids: string[]) {
    if (ids.length === 0) return;
    // Another user's media is reported exactly like media that does not exist.
    const found = await db
      .select({ id: media.id })
      .from(media)
      .where(and(inArray(media.id, ids), eq(media.ownerId, ownerId)));
    const known = new Set(found.map((m) => m.id));
    const errors = ids.flatMap((id, i) =>
      known.has(id) ? [] : [{ field: `mediaIds[${i}]`, message: `no media with id ${id}; upload it first` }],
    );
    if (errors.length > 0) throw Problem.validation(errors);
  }

  async function insertPost(
    ownerId: string,
    input: CreatePostInput,
    requestHash: string,
    idempotencyKey: string | undefined,
  ) {
    const id = randomUUID();
    const { publishAt, timeZone } = resolvePublishAt(input.publishAt);
    const scheduled = publishAt !== null && publishAt.getTime() > Date.now();
    const review = resolveReview(input);
    const drafts = handWrittenDrafts(input);
    const skipped = new Set<string>([
      ...(input.brief ? [] : ['generate']),
      ...(review.mode === 'manual' ? [] : ['review']),
      ...(scheduled ? [] : ['schedule']),
    ]);
    try {
      const post = await db.transaction(async (tx) => {
        const [row] = await tx
          .insert(posts)
          .values({
            id,
            ownerId,
            caption: input.caption ?? null,
            brief: input.brief ?? null,
            reviewPolicy: review,
            status: input.brief ? 'generating' : 'queued',
            publishAt,
            timeZone,
            idempotencyKey: idempotencyKey ?? null,
            requestHash,
            workflowId: workflowIdForPost(id),
            // Millisecond precision, like the cursors that page through posts.
            createdAt: new Date(),
          })
          .returning();
        if (input.mediaIds.length > 0) {
          await tx
            .insert(postMedia)
            .values(input.mediaIds.map((mediaId, position) => ({ postId: id, mediaId, position })));
        }
        await tx.insert(publications).values(
          input.targets.map((t) => ({
            postId: id,
            targetKey: t.key ?? t.type,
            targetType: t.type,
            format: t.platform,
            draft: drafts[t.key ?? t.type] ?? null,
          })),
        );
        await tx.insert(postSteps).values(
          STEP_NAMES.map((step) => ({
            postId: id,
            step,
            status: skipped.has(step) ? ('skipped' as const) : ('pending' as const),
          })),
        );
        return row!;
      });
      return { post };
    } catch (err) {
      if (idempotencyKey && isUniqueViolation(err)) {
        const replayOf = await findReplay(ownerId, idempotencyKey, requestHash);
        if (replayOf) return { replayOf };
      }
      throw err;
    }
  }

  /** A hand-written caption becomes each target's draft, checked against that platform's limits. */
  function handWrittenDrafts(input: CreatePostInput): Record<string, Draft> {
    if (input.caption === undefined) return {};
    const drafts: Record<string, Draft> = {};
    const errors: FieldError[] = [];
    input.targets.forEach((t, i) => {
      const parsed = draftSchemaFor(t.platform).safeParse(draftFromCaption(t.platform, input.caption!));
      if (parsed.success) drafts[t.key ?? t.type] = parsed.data as Draft;
      else
        for (const issue of parsed.error.issues)
          errors.push({
            field: 'caption',
            message: `for targets[${i}] (${t.platform}): ${issue.path.join('.')} ${issue.message}`,
          });
    });
    if (errors.length > 0) throw Problem.validation(errors);
    return drafts;
  }

  function resolveReview(input: CreatePostInput): ReviewPolicy {
    const asked =
      input.review ??
      (input.brief ? { mode: 'manual' as const, onExpiry: 'cancel' as const } : { mode: 'auto' as const });
    if (asked.mode === 'auto') return { mode: 'auto' };
    return {
      mode: 'manual',
      ...(asked.deadline ? { deadline: new Date(asked.deadline).toISOString() } : {}),
      onExpiry: asked.onExpiry,
      maxRounds: asked.maxRounds ?? deps.reviewMaxRounds,
    };
  }

  /**
   * A failed start may still have reached Temporal (a timeout after the server accepted it).
   * Only a pipeline known not to exist allows removing the post; otherwise the post stays, marked.
   */
  async function settleFailedStart(post: typeof posts.$inferSelect): Promise<void> {
    try {
      await deps.temporal.workflow.getHandle(post.workflowId).describe();
      return; // It started after all.
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) {
        await db.delete(posts).where(eq(posts.id, post.id));
        throw new Problem(
          503,
          'Workflow engine unavailable',
          'The post pipeline could not be started; nothing was saved. Try again shortly.',
        );
      }
    }
    await db
      .update(posts)
      .set({
        error:
          'The pipeline may not have started: Temporal did not answer. Repeat the request with the same Idempotency-Key to make sure.',
        updatedAt: new Date(),
      })
      .where(eq(posts.id, post.id));
    throw new Problem(
      503,
      'Workflow engine unavailable',
      `Post ${post.id} was saved but its pipeline may not have started; repeat the request with the same Idempotency-Key to start it`,
    );
  }

  async function startPipeline(post: typeof posts.$inferSelect) {
    const targets = await db
      .select({ key: publications.targetKey, type: publications.targetType, format: publications.format })
      .from(publications)
      .where(eq(publications.postId, post.id))
      .orderBy(publications.targetKey);
    const input: PostPipelineInput = {
      postId: post.id,
      ownerId: post.ownerId ?? undefined,
      targets,
      publishAt: post.publishAt?.toISOString() ?? null,
      generate: post.brief !== null,
      review: post.reviewPolicy,
      retryWindowDays: deps.retryWindowDays,
    };
    try {
      await deps.temporal.workflow.start<typeof postPipeline>('postPipeline', {
        taskQueue: deps.taskQueue,
        workflowId: post.workflowId,
        args: [input],
        // The id is derived from the post: a repeat joins the running pipeline or is refused,
        // never a second one.
        workflowIdConflictPolicy: 'USE_EXISTING',
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        ...(deps.searchAttributes
          ? {
              typedSearchAttributes: [
                { key: PostIdAttribute, value: post.id },
                ...(post.ownerId ? [{ key: OwnerIdAttribute, value: post.ownerId }] : []),
                { key: PostStatusAttribute, value: post.status },
              ],
            }
          : {}),
      });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
  }

  return router;
}

function readIdempotencyKey(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const parsed = idempotencyKeySchema.safeParse(header);
  if (!parsed.success) throw Problem.validation(fieldErrorsFromZod(parsed.error, 'Idempotency-Key'));
  return parsed.data;
}

function isUniqueViolation(err: unknown): boolean {
  for (let e: unknown = err; e && typeof e === 'object'; e = (e as { cause?: unknown }).cause) {
    if ((e as { code?: unknown }).code === '23505') return true;
  }
  return false;
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
        description: 'A repeat with the same key returns the same post (200) instead of a second one',
      },
    ],
    responses: {
      201: { description: 'Created; the pipeline has started' },
      200: { description: 'A repeat of an earlier request with the same Idempotency-Key' },
    },
  },
  {
    method: 'get',
    path: '/api/v1/posts',
    tag: 'Posts',
    summary: 'Your posts, newest first',
    query: listPostsQuery,
    responses: { 200: { description: 'A page of posts with `nextCursor`' } },
  },
  {
    method: 'get',
    path: '/api/v1/posts/:id',
    tag: 'Posts',
    summary: 'A post with the status of every step and target, errors in words, and its Temporal UI link',
    responses: { 200: { description: 'The post' } },
  },
];
