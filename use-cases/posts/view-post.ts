import { and, asc, desc, eq } from 'drizzle-orm';
import { OFFLINE_NOTE } from '../../ai/offline-generator.js';
import type { Database } from '../../db/client.js';
import {
  attempts,
  generations,
  media,
  postMedia,
  postSteps,
  posts,
  publications,
  renditions,
} from '../../db/schema.js';
import type { PostStatus } from '../../domain/pipeline.js';
import { STEP_NAMES } from '../../domain/pipeline.js';
import { mediaView } from '../media/media-view.js';
import { ownPost, type PostRow } from './ownership.js';

/** Where the Temporal Web UI is, so each post links to its workflow. */
export interface WorkflowLink {
  uiUrl?: string | undefined;
  namespace: string;
}

export function temporalUiLink(uiUrl: string | undefined, namespace: string, workflowId: string): string | null {
  if (!uiUrl) return null;
  return `${uiUrl.replace(/\/$/, '')}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export type PostView = Awaited<ReturnType<typeof viewOf>>;

/** The full status of the caller's post: every step, every target, errors in words, the workflow link. */
export async function viewPost(db: Database, ownerId: string, postId: string, link: WorkflowLink): Promise<PostView> {
  return viewOf(db, await ownPost(db, ownerId, postId), link);
}

/** What a post's view is made of besides its row: media in position order, rounds in order. */
export interface PostParts {
  media: (typeof media.$inferSelect)[];
  steps: (typeof postSteps.$inferSelect)[];
  targets: (typeof publications.$inferSelect)[];
  rounds: (typeof generations.$inferSelect)[];
  renditions: (typeof renditions.$inferSelect)[];
}

/** The same for a row already loaded (and already checked to be the caller's). */
export async function viewOf(db: Database, post: PostRow, link: WorkflowLink) {
  const postId = post.id;
  const [items, steps, targets, rounds, made] = await Promise.all([
    db
      .select({ media })
      .from(postMedia)
      .innerJoin(media, eq(media.id, postMedia.mediaId))
      .where(eq(postMedia.postId, postId))
      .orderBy(asc(postMedia.position)),
    db.select().from(postSteps).where(eq(postSteps.postId, postId)),
    db.select().from(publications).where(eq(publications.postId, postId)),
    db.select().from(generations).where(eq(generations.postId, postId)).orderBy(asc(generations.round)),
    db.select().from(renditions).where(eq(renditions.postId, postId)).orderBy(asc(renditions.position)),
  ]);
  return viewFrom(post, { media: items.map((i) => i.media), steps, targets, rounds, renditions: made }, link);
}

/** Targets in key order by code point, as the workflow has them, whatever the database's collation. */
export const byTargetKey = (a: { targetKey: string }, b: { targetKey: string }) =>
  a.targetKey < b.targetKey ? -1 : a.targetKey > b.targetKey ? 1 : 0;

/** The view of a post from rows in hand (a post just created holds them already). */
export function viewFrom(post: PostRow, parts: PostParts, link: WorkflowLink) {
  const { steps, rounds, renditions: made } = parts;
  const targets = [...parts.targets].sort(byTargetKey);
  const latest = rounds.at(-1);
  return {
    ...postSummary(post),
    error: post.error,
    brief: post.brief,
    review: { ...post.reviewPolicy, round: post.reviewRound },
    generation: latest
      ? {
          mode: latest.mode,
          ...(latest.mode === 'offline' ? { note: OFFLINE_NOTE } : {}),
          model: latest.model,
          rounds: rounds.map((g) => ({
            round: g.round,
            mode: g.mode,
            model: g.model,
            promptTokens: g.promptTokens,
            completionTokens: g.completionTokens,
            latencyMs: g.latencyMs,
            feedback: g.feedback,
            createdAt: g.createdAt.toISOString(),
          })),
        }
      : null,
    media: parts.media.map(mediaView),
    steps: STEP_NAMES.flatMap((name) => {
      const s = steps.find((row) => row.step === name);
      return s
        ? [
            {
              name,
              status: s.status,
              attempts: s.attempts,
              error: s.lastError,
              startedAt: iso(s.startedAt),
              finishedAt: iso(s.finishedAt),
            },
          ]
        : [];
    }),
    targets: targets.map((t) => ({
      key: t.targetKey,
      type: t.targetType,
      platform: t.format,
      draft: t.draft,
      status: t.status,
      attempts: t.attempts,
      error: t.lastError,
      result: t.result,
      // Where it went on the platform, for a person to open.
      platformPostId: (t.result?.platformPostId as string | null | undefined) ?? null,
      url: (t.result?.url as string | null | undefined) ?? null,
      connectionId: t.connectionId,
      // Whose clock publishes it: ours at the post's time, or the platform's own schedule.
      clock: t.options?.scheduleOn === 'youtube' ? ('youtube' as const) : ('app' as const),
      options: t.options,
      // Bytes sent of the whole file while a platform upload runs (a progress bar).
      uploadProgress: t.uploadProgress,
      ...(t.status === 'unknown'
        ? {
            outcomeUnknown: {
              reason: t.lastError,
              confirm: `/api/v1/posts/${t.postId}/targets/${t.targetKey}/confirm`,
              retry: `/api/v1/posts/${t.postId}/targets/${t.targetKey}/retry`,
            },
          }
        : {}),
      publishedAt: iso(t.publishedAt),
      placement: t.placement,
      fit: t.fit,
      // The render step's progress (long transcodes) and what it changed per file (issue 10).
      renderProgress: t.renderProgress,
      renditions: made
        .filter((r) => r.targetKey === t.targetKey)
        .map((r) => ({
          position: r.position,
          mediaId: r.mediaId,
          placement: r.placement,
          mimeType: r.mimeType,
          width: r.width,
          height: r.height,
          sizeBytes: r.sizeBytes,
          durationSec: r.durationSec,
          changes: r.changes,
        })),
    })),
    workflow: { id: post.workflowId, url: temporalUiLink(link.uiUrl, link.namespace, post.workflowId) },
  };
}

export function postSummary(post: PostRow) {
  return {
    id: post.id,
    caption: post.caption,
    // What a post drafted from a brief is called in lists: its caption stays null.
    topic: post.brief?.topic ?? null,
    status: post.status,
    publishAt: iso(post.publishAt),
    timeZone: post.timeZone,
    createdAt: post.createdAt.toISOString(),
    updatedAt: post.updatedAt.toISOString(),
  };
}

/** The caller's posts waiting for a decision, newest activity first, with their drafts. */
export async function reviewQueue(db: Database, ownerId: string, link: WorkflowLink): Promise<PostView[]> {
  const rows = await db
    .select()
    .from(posts)
    .where(and(eq(posts.ownerId, ownerId), eq(posts.status, 'awaiting_review' satisfies PostStatus)))
    .orderBy(desc(posts.updatedAt))
    .limit(100);
  return Promise.all(rows.map((row) => viewOf(db, row, link)));
}

/** Every attempt of every step of the caller's post, oldest first. */
export async function postAttempts(db: Database, ownerId: string, postId: string, link: WorkflowLink) {
  const post = await ownPost(db, ownerId, postId);
  const rows = await db.select().from(attempts).where(eq(attempts.postId, post.id)).orderBy(asc(attempts.startedAt));
  return {
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
    workflowUrl: temporalUiLink(link.uiUrl, link.namespace, post.workflowId),
  };
}
