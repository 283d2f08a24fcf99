import { and, asc, eq } from 'drizzle-orm';
import { OFFLINE_NOTE } from '../ai/offline-generator.js';
import type { Database } from '../db/client.js';
import { generations, media, postMedia, postSteps, posts, publications } from '../db/schema.js';
import { STEP_NAMES } from '../domain/pipeline.js';
import { mediaView } from './routes/media.js';

export function temporalUiLink(uiUrl: string | undefined, namespace: string, workflowId: string): string | null {
  if (!uiUrl) return null;
  return `${uiUrl.replace(/\/$/, '')}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

/** The full status of one post: every step, every target, errors in words, and the workflow link. */
export async function loadPostView(
  db: Database,
  ownerId: string,
  postId: string,
  link: { uiUrl?: string | undefined; namespace: string },
) {
  const [post] = await db
    .select()
    .from(posts)
    .where(and(eq(posts.id, postId), eq(posts.ownerId, ownerId)));
  if (!post) return undefined;
  const [items, steps, targets, rounds] = await Promise.all([
    db
      .select({ media })
      .from(postMedia)
      .innerJoin(media, eq(media.id, postMedia.mediaId))
      .where(eq(postMedia.postId, postId))
      .orderBy(asc(postMedia.position)),
    db.select().from(postSteps).where(eq(postSteps.postId, postId)),
    db.select().from(publications).where(eq(publications.postId, postId)).orderBy(asc(publications.targetKey)),
    db.select().from(generations).where(eq(generations.postId, postId)).orderBy(asc(generations.round)),
  ]);
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
    media: items.map((i) => mediaView(i.media)),
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
      publishedAt: iso(t.publishedAt),
    })),
    workflow: { id: post.workflowId, url: temporalUiLink(link.uiUrl, link.namespace, post.workflowId) },
  };
}

export function postSummary(post: typeof posts.$inferSelect) {
  return {
    id: post.id,
    caption: post.caption,
    status: post.status,
    publishAt: iso(post.publishAt),
    timeZone: post.timeZone,
    createdAt: post.createdAt.toISOString(),
    updatedAt: post.updatedAt.toISOString(),
  };
}
