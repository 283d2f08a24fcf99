import { availableParallelism } from 'node:os';
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

/** How often a render in progress tells Temporal it is alive (the activity's heartbeat timeout is 1 minute). */
const HEARTBEAT_EVERY_MS = 10_000;

/**
 * Makes one rendition of each of the post's images per target, sized to the target's rules,
 * auto-rotated, converted to sRGB and stripped of EXIF and other metadata. Each source is decoded
 * once for all its targets. Finished renditions are kept, so a retry only does what is left.
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

      // Heartbeats on a timer, not only between renditions: one large source can take a while,
      // and sharp works off the event loop, so the timer keeps firing meanwhile.
      const context = Context.current();
      let rendered = 0;
      const beat = setInterval(() => context.heartbeat({ rendered }), HEARTBEAT_EVERY_MS);
      try {
        for (const item of items) {
          const missing: { targetKey: string; rules: MediaRules; key: string }[] = [];
          for (const target of targets) {
            const already = done.find((r) => r.targetKey === target.targetKey && r.position === item.position);
            if (already && (await store.exists(already.storageKey))) {
              rendered += 1;
              continue;
            }
            const rules = publishers[target.targetType].mediaRules(target.format);
            const key = `renditions/${postId}/${target.targetKey}/${item.position}.${rules.format === 'png' ? 'png' : 'jpg'}`;
            missing.push({ targetKey: target.targetKey, rules, key });
          }
          if (missing.length === 0) continue;
          if (!(await store.exists(item.media.storageKey))) {
            throw ApplicationFailure.nonRetryable(
              `The uploaded file for media ${item.media.id} is missing from storage`,
              'MediaMissing',
            );
          }

          const staged = await Promise.all(missing.map((m) => store.staging(m.key)));
          let infos: OutputInfo[];
          try {
            infos = await renderSlots(() =>
              renderSource(
                store.pathOf(item.media.storageKey),
                missing.map((m, i) => ({ rules: m.rules, path: staged[i]!.path })),
              ),
            );
            for (const s of staged) await s.commit();
          } catch (err) {
            await Promise.all(staged.map((s) => s.abort()));
            // File system trouble (disk full, permissions) may pass; a picture sharp cannot decode won't.
            if ((err as NodeJS.ErrnoException).code?.startsWith('E')) throw err;
            throw ApplicationFailure.nonRetryable(
              `Could not render the image: ${err instanceof Error ? err.message : String(err)}`,
              'RenderFailed',
            );
          }

          for (const [i, m] of missing.entries()) {
            const info = infos[i]!;
            await db
              .insert(renditions)
              .values({
                postId,
                targetKey: m.targetKey,
                position: item.position,
                mediaId: item.media.id,
                storageKey: m.key,
                mimeType: `image/${m.rules.format}`,
                width: info.width,
                height: info.height,
                sizeBytes: info.size,
              })
              .onConflictDoUpdate({
                target: [renditions.postId, renditions.targetKey, renditions.position],
                set: { storageKey: m.key, width: info.width, height: info.height, sizeBytes: info.size },
              });
            rendered += 1;
          }
          context.heartbeat({ rendered });
        }
      } finally {
        clearInterval(beat);
      }
      await db
        .update(postSteps)
        .set({ status: 'succeeded', lastError: null, finishedAt: new Date() })
        .where(and(eq(postSteps.postId, postId), eq(postSteps.step, 'render')));
      return { renditions: targets.length * items.length };
    });
  };
}

/**
 * Decodes at once, across every renderMedia running in this worker: decoding is CPU- and
 * memory-bound (a 12-megapixel photo is ~36 MB of pixels), so more at a time than there are cores
 * only adds memory. The rest wait their turn, heartbeating.
 */
const renderSlots = createSlots(Math.max(2, availableParallelism()));

function createSlots(size: number) {
  let free = size;
  const waiting: (() => void)[] = [];
  return async function withSlot<T>(work: () => Promise<T>): Promise<T> {
    if (free > 0) free -= 1;
    else await new Promise<void>((resolve) => waiting.push(resolve));
    try {
      return await work();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else free += 1;
    }
  };
}

export interface RenditionRequest {
  rules: MediaRules;
  /** Where to write the encoded file. */
  path: string;
}

/** The size `fit: inside` without enlargement gives a width x height picture in a box. */
export function fitInside(width: number, height: number, rules: Pick<MediaRules, 'maxWidth' | 'maxHeight'>) {
  const scale = Math.min(1, rules.maxWidth / width, rules.maxHeight / height);
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

/**
 * Renders one source image for several targets with a single decode: the source is decoded,
 * auto-rotated (EXIF orientation), converted to sRGB and shrunk once to the largest size any
 * target needs (so JPEG shrink-on-load still applies), and every rendition is resized from that
 * in memory and encoded. Nothing of the source's metadata (EXIF, GPS, XMP, ICC) is written out.
 */
export async function renderSource(sourcePath: string, requests: RenditionRequest[]): Promise<OutputInfo[]> {
  const header = await sharp(sourcePath, { failOn: 'error' }).metadata();
  // Dimensions as displayed, after the EXIF orientation is applied.
  const width = header.autoOrient?.width ?? header.width;
  const height = header.autoOrient?.height ?? header.height;
  if (!width || !height) throw new Error('the image has no dimensions');

  const sizes = requests.map((r) => fitInside(width, height, r.rules));
  const largest = sizes.reduce((a, b) => (b.width * b.height > a.width * a.height ? b : a));
  const allJpeg = requests.every((r) => r.rules.format !== 'png');

  let decoder = sharp(sourcePath, { failOn: 'error' }).autoOrient();
  if (largest.width !== width || largest.height !== height) {
    decoder = decoder.resize({ width: largest.width, height: largest.height, fit: 'fill' });
  }
  // JPEG has no transparency: flatten once here when no target keeps it.
  if (allJpeg) decoder = decoder.flatten({ background: '#ffffff' });
  const { data, info } = await decoder.toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  const raw = { width: info.width, height: info.height, channels: info.channels };

  return Promise.all(
    requests.map((request, i) => {
      const size = sizes[i]!;
      let image = sharp(data, { raw });
      if (size.width !== raw.width || size.height !== raw.height) {
        image = image.resize({ width: size.width, height: size.height, fit: 'fill' });
      }
      // libjpeg-turbo with Huffman optimisation: mozjpeg's trellis search costs ~6x the time
      // for files about a tenth smaller, which no platform asks for.
      const encoded =
        request.rules.format === 'png'
          ? image.png()
          : image.flatten({ background: '#ffffff' }).jpeg({ quality: request.rules.quality, optimiseCoding: true });
      return encoded.toFile(request.path);
    }),
  );
}
