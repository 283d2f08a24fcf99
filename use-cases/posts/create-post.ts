import { createHash, randomUUID } from 'node:crypto';
import { and, eq, inArray, sql } from 'drizzle-orm';
import { draftFromCaption, draftSchemaFor } from '../../ai/draft-schemas.js';
import type { Database } from '../../db/client.js';
import { hasSqlState } from '../../db/errors.js';
import { connections, media, postMedia, postSteps, posts, publications } from '../../db/schema.js';
import type { Brief, Draft, DraftFormat, ReviewPolicy } from '../../domain/drafts.js';
import { type FieldError, ValidationError } from '../../domain/errors.js';
import {
  isFinalStatus,
  type PostPipelineInput,
  STEP_NAMES,
  type TargetType,
  workflowIdForPost,
} from '../../domain/pipeline.js';
import type { QuotaSettings } from '../../domain/quotas.js';
import type { PostRow } from './ownership.js';
import { assertNotPast, type PublishAtInput, resolvePublishAt } from './publish-at.js';
import { assertPostMediaPossible, type MediaTarget, ownMedia } from './validate-media.js';
import { assertTargetsUsable } from './validate-targets.js';
import { byTargetKey, type PostParts } from './view-post.js';

const UNIQUE_VIOLATION = '23505';
const FOREIGN_KEY_VIOLATION = '23503';

/** A post as asked for (the API's validated body, or a campaign's slot). */
export interface NewPost {
  caption?: string | undefined;
  brief?: Brief | undefined;
  mediaIds: string[];
  targets: ({
    type: TargetType;
    key?: string | undefined;
    platform: DraftFormat;
    /** Platform targets: the connected account to publish through; their other fields are options. */
    connectionId?: string | undefined;
  } & Partial<Pick<MediaTarget, 'placement' | 'fit'>> &
    Record<string, unknown>)[];
  publishAt?: PublishAtInput;
  review?:
    | { mode: 'auto' }
    | { mode: 'manual'; deadline?: string | undefined; onExpiry: 'cancel' | 'approve'; maxRounds?: number | undefined }
    | undefined;
}

export interface CreatePostDeps {
  db: Database;
  /** Revision rounds a reviewer gets unless the post says otherwise. */
  reviewMaxRounds: number;
  /** Days failed targets stay retryable. */
  retryWindowDays: number;
  /** TIKTOK_APP_AUDITED (default false: TikTok then allows only private posts). */
  tiktokAudited?: boolean;
  /** The publishing budgets (YOUTUBE_UNITS_PER_DAY...), to refuse a post that could never fit one. */
  quotas?: QuotaSettings;
  /** TEMPORAL_UPLOAD_TASK_QUEUE, for the pipeline's platform uploads. */
  uploadTaskQueue?: string | undefined;
  /** An AI endpoint is configured, so a brief's image will be made (default true). */
  aiImages?: boolean;
}

/** What to start, when the post's pipeline still needs starting. */
export interface PipelineToStart {
  workflowId: string;
  input: PostPipelineInput;
  post: PostRow;
}

export type CreatedPost = {
  post: PostRow;
  /**
   * The pipeline to start: always for a new post; for a repeat only when its first start was never
   * confirmed and the post has not ended. Null means there is nothing to start, ever.
   */
  pipeline: PipelineToStart | null;
} & (
  | {
      created: true;
      /** The rows just written, for the new post's view without reading them back. */
      parts: PostParts;
    }
  /** The Idempotency-Key named an earlier post: the answer comes from that post. */
  | { created: false }
);

/**
 * Validates and saves a post (one transaction), returning its pipeline's input. Starting the
 * pipeline is a separate step (start-pipeline.ts): the API starts it as a top-level workflow, a
 * campaign as a child with the same workflow id. A repeat with a seen Idempotency-Key answers from
 * the post's own state and never asks for a second run of a post whose pipeline ran.
 */
export async function createPost(
  deps: CreatePostDeps,
  request: {
    ownerId: string;
    post: NewPost;
    idempotencyKey?: string | undefined;
    /**
     * A campaign's slot post is due at its slot or, late within its catch-up window, now; a retry
     * of its activity may come after that: a passed time then means "publish now". A person's
     * passed time is refused instead.
     */
    passedTimeMeansNow?: boolean;
  },
): Promise<CreatedPost> {
  const { ownerId, post: input, idempotencyKey } = request;
  const requestHash = createHash('sha256').update(JSON.stringify(input)).digest('hex');
  if (idempotencyKey) {
    // A repeat answers from the post it made, whenever it comes.
    const earlier = await findByKey(deps.db, ownerId, idempotencyKey, requestHash);
    if (earlier) return replay(deps, earlier);
  }
  if (!request.passedTimeMeansNow) {
    assertNotPast(resolvePublishAt(input.publishAt).publishAt);
    const deadline = input.review?.mode === 'manual' ? input.review.deadline : undefined;
    if (deadline) assertNotPast(new Date(deadline), 'review.deadline', 'or leave it out for no deadline');
  }
  const refs = [
    ...input.mediaIds.map((id, i) => ({ id, field: `mediaIds[${i}]` })),
    ...(input.brief?.sourceMediaIds ?? []).map((id, i) => ({ id, field: `brief.sourceMediaIds[${i}]` })),
  ];
  const owned = await ownMedia(
    deps.db,
    ownerId,
    refs.map((r) => r.id),
  );
  assertOwnMedia(owned, refs);
  // Every target's media against its platform's rules: refused now (422), not at publish time.
  const files = owned.filter((row) => input.mediaIds.includes(row.id));
  await assertTargetsUsable(deps.db, ownerId, input.targets, files, {
    tiktokAudited: deps.tiktokAudited ?? false,
    generatesImage: input.brief?.generateImage === true,
    ...(deps.quotas ? { quotas: deps.quotas } : {}),
  });
  assertPostMediaPossible(files, input, deps.aiImages ?? true);
  const values = newPostRows(deps, ownerId, input, requestHash, idempotencyKey);
  try {
    const { post, written, steps } = await deps.db.transaction(async (tx) => {
      const briefMedia = input.brief?.sourceMediaIds ?? [];
      if (briefMedia.length > 0) {
        // No foreign key holds a brief's source media: its rows are held here instead, so a delete
        // of one waits for this post (and then sees it), or this post for the delete (and is refused).
        const held = await tx
          .select({ id: media.id })
          .from(media)
          .where(and(inArray(media.id, briefMedia), eq(media.ownerId, ownerId)))
          .for('key share');
        assertOwnMedia(
          held,
          refs.filter((r) => r.field.startsWith('brief.')),
        );
      }
      const [row] = await tx.insert(posts).values(values.post).returning();
      if (values.media.length > 0) await tx.insert(postMedia).values(values.media);
      return {
        post: row!,
        written: await tx.insert(publications).values(values.publications).returning(),
        steps: await tx.insert(postSteps).values(values.steps).returning(),
      };
    });
    const targets = values.publications.map((p) => ({
      key: p.targetKey,
      type: p.targetType,
      format: p.format,
      ...(p.options?.scheduleOn === 'youtube' && values.post.publishAt ? { early: true } : {}),
    }));
    const parts: PostParts = {
      media: input.mediaIds.map((id) => files.find((row) => row.id === id)!),
      steps,
      targets: written,
      rounds: [],
      renditions: [],
    };
    return { post, created: true, pipeline: pipelineOf(deps, post, targets), parts };
  } catch (err) {
    if (idempotencyKey && hasSqlState(err, UNIQUE_VIOLATION)) {
      // Lost a race with an identical request carrying the same key: answer as its repeat.
      const earlier = await findByKey(deps.db, ownerId, idempotencyKey, requestHash);
      if (earlier) return replay(deps, earlier);
    }
    // Media deleted since the check above (its post_media row met the row gone: SQLSTATE 23503) is
    // named like media never uploaded; any other missing row (a connection) stays the failure it is.
    if (hasSqlState(err, FOREIGN_KEY_VIOLATION)) {
      assertOwnMedia(
        await ownMedia(
          deps.db,
          ownerId,
          refs.map((r) => r.id),
        ),
        refs,
      );
    }
    throw err;
  }
}

/** The pipeline's input for a saved post; targets in key order, as the workflow has always had them. */
export function pipelineOf(
  deps: Pick<CreatePostDeps, 'retryWindowDays' | 'uploadTaskQueue'>,
  post: PostRow,
  targets: PostPipelineInput['targets'],
): PipelineToStart {
  return {
    workflowId: post.workflowId,
    post,
    input: {
      postId: post.id,
      ownerId: post.ownerId ?? undefined,
      targets: [...targets].sort((a, b) => byTargetKey({ targetKey: a.key }, { targetKey: b.key })),
      publishAt: post.publishAt?.toISOString() ?? null,
      generate: post.brief !== null,
      review: post.reviewPolicy,
      retryWindowDays: deps.retryWindowDays,
      ...(post.timeZone ? { timeZone: post.timeZone } : {}),
      ...(deps.uploadTaskQueue ? { uploadTaskQueue: deps.uploadTaskQueue } : {}),
    },
  };
}

async function replay(deps: CreatePostDeps, post: PostRow): Promise<CreatedPost> {
  // A confirmed start, or a post that has ended, is never started again: after the namespace's
  // retention Temporal would accept a second run and publish a post that was cancelled.
  if (post.pipelineStartedAt !== null || isFinalStatus(post.status)) return { post, created: false, pipeline: null };
  return { post, created: false, pipeline: await savedPipeline(deps, post) };
}

/** A saved post's pipeline input, rebuilt from its rows, for a start Temporal never confirmed. */
export async function savedPipeline(
  deps: Pick<CreatePostDeps, 'db' | 'retryWindowDays' | 'uploadTaskQueue'>,
  post: PostRow,
): Promise<PipelineToStart> {
  const rows = await deps.db
    .select({
      key: publications.targetKey,
      type: publications.targetType,
      format: publications.format,
      options: publications.options,
    })
    .from(publications)
    .where(eq(publications.postId, post.id));
  const targets = rows.map(({ options, ...t }) => ({
    ...t,
    ...(options?.scheduleOn === 'youtube' && post.publishAt ? { early: true } : {}),
  }));
  return pipelineOf(deps, post, targets);
}

async function findByKey(db: Database, ownerId: string, key: string, requestHash: string) {
  const [existing] = await db
    .select()
    .from(posts)
    .where(and(eq(posts.ownerId, ownerId), eq(posts.idempotencyKey, key)));
  if (!existing) return undefined;
  if (existing.requestHash !== requestHash) {
    throw new ValidationError([
      { field: 'Idempotency-Key', message: 'already used for a different request; use a new key for a new post' },
    ]);
  }
  return existing;
}

/** Another user's media is reported exactly like media that does not exist. */
function assertOwnMedia(owned: readonly { id: string }[], refs: { id: string; field: string }[]) {
  const known = new Set(owned.map((m) => m.id));
  const errors = refs.flatMap(({ id, field }) =>
    known.has(id) ? [] : [{ field, message: `no media with id ${id}; upload it first` }],
  );
  if (errors.length > 0) throw new ValidationError(errors);
}

function newPostRows(
  deps: CreatePostDeps,
  ownerId: string,
  input: NewPost,
  requestHash: string,
  idempotencyKey: string | undefined,
) {
  const id = randomUUID();
  const { publishAt, timeZone } = resolvePublishAt(input.publishAt);
  const scheduled = publishAt !== null && publishAt.getTime() > Date.now();
  const review = resolveReview(deps, input);
  const drafts = handWrittenDrafts(input);
  const skipped = new Set<string>([
    ...(input.brief ? [] : ['generate']),
    ...(review.mode === 'manual' ? [] : ['review']),
    ...(scheduled ? [] : ['schedule']),
  ]);
  return {
    post: {
      id,
      ownerId,
      caption: input.caption ?? null,
      brief: input.brief ?? null,
      reviewPolicy: review,
      status: input.brief ? ('generating' as const) : ('queued' as const),
      publishAt,
      timeZone,
      idempotencyKey: idempotencyKey ?? null,
      requestHash,
      workflowId: workflowIdForPost(id),
      // Millisecond precision, like the cursors that page through posts.
      createdAt: new Date(),
    },
    media: input.mediaIds.map((mediaId, position) => ({ postId: id, mediaId, position })),
    publications: input.targets.map((t) => {
      const { type: _type, key: _key, platform: _platform, placement, fit, connectionId, ...options } = t;
      return {
        postId: id,
        targetKey: t.key ?? t.type,
        targetType: t.type,
        format: t.platform,
        placement: placement ?? null,
        fit: fit ?? null,
        draft: drafts[t.key ?? t.type] ?? null,
        connectionId: connectionId ?? null,
        // Read in the insert itself (the connection was checked just before): no extra round trip.
        platformAccountId: connectionId
          ? sql<string>`(select ${connections.platformAccountId} from ${connections} where ${connections.id} = ${connectionId})`
          : null,
        options: connectionId ? options : null,
      };
    }),
    steps: STEP_NAMES.map((step) => ({
      postId: id,
      step,
      status: skipped.has(step) ? ('skipped' as const) : ('pending' as const),
    })),
  };
}

/** A hand-written caption becomes each target's draft, checked against that platform's limits. */
function handWrittenDrafts(input: NewPost): Record<string, Draft> {
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
  if (errors.length > 0) throw new ValidationError(errors);
  return drafts;
}

function resolveReview(deps: CreatePostDeps, input: NewPost): ReviewPolicy {
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
