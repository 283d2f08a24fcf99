import { pipeline } from 'node:stream/promises';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { and, asc, eq } from 'drizzle-orm';
import sharp, { type OutputInfo } from 'sharp';
import { media, postMedia, postSteps, posts, publications, renditions } from '../db/schema.js';
import type { MediaRules } from '../platforms/publisher.js';
import type { ActivityDeps } from './deps.js';
import { livePost } from './live-post.js';
import { trackAttempt } from './track-attempt.js';

export interface RenderMediaResult {
  renditions: number;
}

/**
 * Makes one rendition of each of the post's images per target, sized to the target's rules,
 * auto-rotated and stripped of EXIF and other metadata. Finished renditions are kept, so a retry
 * only does what is left.
 */
export function createRenderMedia(deps: ActivityDeps) {
  const { db, store, publishers } = deps;

  return async function renderMedia({ postId }: { postId: string }): Promise<RenderMediaResult> {
    return trackAttempt(deps, { postId, step: 'render' }, async () => {
      const [post] = await db.select().from(posts).where(eq(posts.id, postId));
      if (!post) throw ApplicationFailure.nonRetryable(`Post ${postId} no longer exists`, 'PostMissing');
      if (['queued', 'scheduled', 'generating', 'awaiting_review'].includes(post.status)) {
        await db.update(posts).set({ status: 'rendering', updatedAt: new Date() }).where(livePost(postId));
        await db
          .update(postSteps)
          .set({ status: 'succeeded', finishedAt: new Date() })
          .where(and(eq(postSteps.postId, postId), eq(postSteps.step, 'schedule'), eq(postSteps.status, 'running')));
      }

      const items = await db
        .select({ position: postMedia.position, media })
        .from(postMedia)
        .innerJoin(media, eq(media.id, postMedia.mediaId))
        .where(eq(postMedia.postId, postId))
        .orderBy(asc(postMedia.position));
      const targets = await db.select().from(publications).where(eq(publications.postId, postId));
      const done = await db.select().from(renditions).where(eq(renditions.postId, postId));

      let count = 0;
      for (const target of targets) {
        const rules = publishers[target.targetType].mediaRules(target.format);
        for (const item of items) {
          count += 1;
          const already = done.find((r) => r.targetKey === target.targetKey && r.position === item.position);
          if (already && (await store.exists(already.storageKey))) continue;
          if (!(await store.exists(item.media.storageKey))) {
            throw ApplicationFailure.nonRetryable(
              `The uploaded file for media ${item.media.id} is missing from storage`,
              'MediaMissing',
            );
          }
          const key = `renditions/${postId}/${target.targetKey}/${item.position}.${rules.format === 'png' ? 'png' : 'jpg'}`;
          const info = await renderOne(deps, item.media.storageKey, key, rules);
          await db
            .insert(renditions)
            .values({
              postId,
              targetKey: target.targetKey,
              position: item.position,
              mediaId: item.media.id,
              storageKey: key,
              mimeType: `image/${rules.format}`,
              width: info.width,
              height: info.height,
              sizeBytes: info.size,
            })
            .onConflictDoUpdate({
              target: [renditions.postId, renditions.targetKey, renditions.position],
              set: { storageKey: key, width: info.width, height: info.height, sizeBytes: info.size },
            });
          Context.current().heartbeat({ rendered: count });
        }
      }
      await db
        .update(postSteps)
        .set({ status: 'succeeded', lastError: null, finishedAt: new Date() })
        .where(and(eq(postSteps.postId, postId), eq(postSteps.step, 'render')));
      return { renditions: count };
    });
  };
}

async function renderOne(deps: ActivityDeps, sourceKey: string, key: string, rules: MediaRules) {
  const { store } = deps;
  // sharp writes no metadata unless asked to, so EXIF (GPS, camera serials) is dropped here;
  // rotate() first bakes the EXIF orientation into the pixels.
  const transform = sharp({ failOn: 'error' })
    .rotate()
    .resize({ width: rules.maxWidth, height: rules.maxHeight, fit: 'inside', withoutEnlargement: true });
  const encoded =
    rules.format === 'png'
      ? transform.png()
      : transform.flatten({ background: '#ffffff' }).jpeg({ quality: rules.quality, mozjpeg: true });
  let info: OutputInfo | undefined;
  encoded.on('info', (i: OutputInfo) => {
    info = i;
  });
  const out = await store.writer(key);
  try {
    await pipeline(store.read(sourceKey), encoded, out.stream);
    await out.commit();
  } catch (err) {
    await out.abort();
    // File system trouble (disk full, permissions) may pass; a picture sharp cannot decode won't.
    if ((err as NodeJS.ErrnoException).code?.startsWith('E')) throw err;
    throw ApplicationFailure.nonRetryable(
      `Could not render the image: ${err instanceof Error ? err.message : String(err)}`,
      'RenderFailed',
    );
  }
  if (!info) throw new Error('sharp reported no output size');
  return info;
}
