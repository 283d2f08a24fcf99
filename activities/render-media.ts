import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { and, asc, eq, sql } from 'drizzle-orm';
import type { OutputInfo } from 'sharp';
import { media, postMedia, postSteps, posts, publications, renditions } from '../db/schema.js';
import {
  type MediaPlatform,
  PLATFORM_RULES,
  type Placement,
  type PlacementRules,
  placementRules,
} from '../domain/media-rules.js';
import { type FitMode, type MediaProblem, targetAspect } from '../media/check.js';
import { type MediaFacts, probeImage, probeVideo, type VideoFacts } from '../media/probe.js';
import { type ImageFit, type ImageRendition, renderImage } from '../media/render-image.js';
import { MediaToolError, withoutPaths } from '../media/tools.js';
import {
  copyWithoutMetadata,
  extractFrame,
  planTranscode,
  runTranscode,
  type TranscodeProgress,
} from '../media/transcode.js';
import { type TargetReport, validateMedia } from '../media/validate.js';
import type { MediaRules } from '../platforms/publisher.js';
import type { ActivityDeps } from './deps.js';
import { livePost } from './live-post.js';
import { trackAttempt } from './track-attempt.js';

export { fitInside } from '../media/render-image.js';

export interface RenderMediaResult {
  renditions: number;
}

/** How often a render in progress tells Temporal it is alive (the activity's heartbeat timeout is 1 minute). */
const HEARTBEAT_EVERY_MS = 10_000;
/** How often a transcode's progress is written for the post's API view. */
const PROGRESS_EVERY_MS = 2_000;
/** Placements whose shape is the point (full-screen vertical): a fit the user names reframes to it. */
const REFRAMED: readonly Placement[] = ['reel', 'story', 'short'];

type MediaRow = typeof media.$inferSelect;
type Publication = typeof publications.$inferSelect;

/** The API's crop strategy in the terms of the checker and ffmpeg (video crops are centred). */
const videoFit = (fit: Publication['fit']): FitMode => (fit === 'attention' || fit === 'centre' ? 'crop' : 'blur');

/**
 * Makes one rendition of each of the post's media per target, to that target's platform rules
 * (domain/media-rules.ts): images auto-rotated, reframed as the post asks (attention or centre
 * crop, or pad on a blurred background), sized, converted to sRGB and stripped of metadata, each
 * source decoded once for all its targets; videos transcoded only when the target needs it, with
 * a cover frame, progress heartbeated and written to the target for the post's view, and ffmpeg
 * stopped when the activity is cancelled. What each rendition changed is recorded with it.
 * Finished renditions are kept, so a retry only does what is left.
 */
export function createRenderMedia(deps: ActivityDeps) {
  const { db, store, publishers } = deps;

  return async function renderMedia({ postId }: { postId: string }): Promise<RenderMediaResult> {
    return trackAttempt(
      deps,
      { postId, step: 'render' },
      async () => {
        const [post] = await db.select().from(posts).where(eq(posts.id, postId));
        if (!post) throw ApplicationFailure.nonRetryable(`Post ${postId} no longer exists`, 'PostMissing');
        if (['queued', 'scheduled', 'generating', 'awaiting_review'].includes(post.status)) {
          // The post starts rendering and its wait, if it had one, is over: one statement.
          const now = new Date().toISOString();
          await db.execute(sql`
          with post as (
            update ${posts} set status = 'rendering', updated_at = ${now}::timestamptz where ${livePost(postId)}
          )
          update ${postSteps} set status = 'succeeded', finished_at = ${now}::timestamptz
          where post_id = ${postId}::uuid and step = 'schedule' and status = 'running'`);
        }

        const items = await db
          .select({ position: postMedia.position, media })
          .from(postMedia)
          .innerJoin(media, eq(media.id, postMedia.mediaId))
          .where(eq(postMedia.postId, postId))
          .orderBy(asc(postMedia.position));
        const targets = await db.select().from(publications).where(eq(publications.postId, postId));
        const done = await db.select().from(renditions).where(eq(renditions.postId, postId));

        for (const item of items) {
          if (!(await store.exists(item.media.storageKey))) {
            throw ApplicationFailure.nonRetryable(
              `The uploaded file for media ${item.media.id} is missing from storage`,
              'MediaMissing',
            );
          }
        }
        const facts = await Promise.all(items.map((i) => factsOf(deps, i.media)));
        const files = items.map((i, n) => ({ mediaId: i.media.id, facts: facts[n]! }));
        const reports = validateMedia(
          targets.map((t) => ({
            key: t.targetKey,
            platform: t.format as MediaPlatform,
            placement: (t.placement ?? undefined) as Placement | undefined,
            fit: videoFit(t.fit),
          })),
          files,
        ).targets;
        const refused = reports.flatMap((r) => refusals(r));
        if (refused.length > 0) {
          // Checked when the post was created; this catches rules that changed since.
          throw ApplicationFailure.nonRetryable(`The media cannot be published: ${refused.join(' ')}`, 'MediaRefused');
        }

        // Heartbeats on a timer, not only between renditions: one large source can take a while,
        // and sharp and ffmpeg work off the event loop, so the timer keeps firing meanwhile.
        const context = Context.current();
        const state: { rendered: number; transcoding?: Record<string, unknown> } = { rendered: 0 };
        const beat = setInterval(() => context.heartbeat(state), HEARTBEAT_EVERY_MS);
        try {
          for (const [n, item] of items.entries()) {
            const missing: { target: Publication; placement: PlacementRules; problems: MediaProblem[] }[] = [];
            for (const target of targets) {
              const already = done.find((r) => r.targetKey === target.targetKey && r.position === item.position);
              if (already && (await store.exists(already.storageKey))) {
                state.rendered += 1;
                continue;
              }
              const file = reports.find((r) => r.key === target.targetKey)!.files[n]!;
              const rules = placementRules(target.format as MediaPlatform, file.placement)!;
              missing.push({ target, placement: rules, problems: file.problems });
            }
            if (missing.length === 0) continue;
            const itemFacts = facts[n]!;
            if (itemFacts.kind === 'image') {
              await renderImages(deps, postId, item, itemFacts, missing, publishers);
              state.rendered += missing.length;
            } else {
              for (const m of missing) {
                await renderVideo(deps, postId, item, itemFacts, m, context.cancellationSignal, (progress) => {
                  state.transcoding = progress;
                });
                state.rendered += 1;
                state.transcoding = undefined;
              }
            }
            // Between items only: after the last one the attempt completes, which says as much.
            if (n + 1 < items.length) context.heartbeat(state);
          }
        } finally {
          clearInterval(beat);
        }
        return { renditions: targets.length * items.length };
      },
      {
        // The step's success, written with the attempt's finish.
        onSuccess: () =>
          db
            .update(postSteps)
            .set({ status: 'succeeded', lastError: null, finishedAt: new Date() })
            .where(and(eq(postSteps.postId, postId), eq(postSteps.step, 'render')))
            .getSQL(),
      },
    );
  };
}

function refusals(report: TargetReport): string[] {
  return [
    ...report.problems.filter((p) => !p.fixable).map((p) => `${report.key}: ${p.message}`),
    ...report.files.flatMap((f) => f.problems.filter((p) => !p.fixable).map((p) => `${report.key}: ${p.message}`)),
  ];
}

/** What the file is: as recorded at upload, or read now for media uploaded before facts were kept. */
async function factsOf(deps: ActivityDeps, row: MediaRow): Promise<MediaFacts> {
  if (row.facts) return row.facts as unknown as MediaFacts;
  const path = deps.store.pathOf(row.storageKey);
  if (row.kind === 'video') {
    if (!deps.mediaTools) throw ApplicationFailure.nonRetryable('ffprobe is not installed on the worker', 'NoFfmpeg');
    return probeVideo(path, deps.mediaTools.ffprobe);
  }
  return probeImage(path);
}

/** An aspect at a bound of the range, moved just inside it so whole pixels cannot round it out. */
function insideRange(aspect: number, range: { min?: number; max?: number }): number {
  if (range.max !== undefined && aspect >= range.max) return range.max * 0.996;
  if (range.min !== undefined && aspect <= range.min) return range.min * 1.004;
  return aspect;
}

const publicId = () => randomBytes(18).toString('base64url');

async function renderImages(
  deps: ActivityDeps,
  postId: string,
  item: { position: number; media: MediaRow },
  facts: Extract<MediaFacts, { kind: 'image' }>,
  missing: { target: Publication; placement: PlacementRules; problems: MediaProblem[] }[],
  publishers: ActivityDeps['publishers'],
) {
  const { db, store } = deps;
  const requests = missing.map((m) => {
    const rules = m.placement.image ?? placementRules(m.target.format as MediaPlatform, 'thumbnail')!.image!;
    const manual = publishers[m.target.targetType].mediaRules(m.target.format);
    const sourceAspect = facts.width / facts.height;
    const reframe =
      m.target.fit !== null && REFRAMED.includes(m.placement.placement) && rules.preferredAspect !== undefined;
    const aspect = reframe
      ? rules.preferredAspect
      : rules.aspect
        ? insideRange(
            targetAspect(sourceAspect, { aspect: rules.aspect, preferredAspect: rules.preferredAspect }),
            rules.aspect,
          )
        : undefined;
    // A change of shape under half a percent is not worth a reframe, unless the source is outside
    // what the platform accepts: then even the smallest one is what makes the rendition acceptable.
    const outside =
      (rules.aspect?.min !== undefined && sourceAspect < rules.aspect.min) ||
      (rules.aspect?.max !== undefined && sourceAspect > rules.aspect.max);
    const image: ImageRendition['rules'] = {
      maxWidth: Math.min(manual.maxWidth, rules.width?.max ?? rules.box.long, rules.box.long),
      maxHeight: Math.min(manual.maxHeight, rules.height?.max ?? rules.box.long, rules.box.long),
      minWidth: rules.width?.min,
      format: rules.formats.includes('jpeg') ? 'jpeg' : manual.format,
      quality: manual.quality,
      aspect:
        aspect !== undefined && (outside || Math.abs(aspect - sourceAspect) / sourceAspect > 0.005)
          ? aspect
          : undefined,
      aspectRange: rules.aspect,
      fit: (m.target.fit ?? 'pad') as ImageFit,
      maxBytes: rules.maxBytes,
    };
    const key = `renditions/${postId}/${m.target.targetKey}/${item.position}.${image.format === 'png' ? 'png' : 'jpg'}`;
    return { m, image, key };
  });

  const staged = await Promise.all(requests.map((r) => store.staging(r.key)));
  let infos: OutputInfo[];
  try {
    infos = await renderSlots(() =>
      renderImage(
        store.pathOf(item.media.storageKey),
        requests.map((r, i) => ({ rules: r.image, path: staged[i]!.path })),
      ),
    );
    for (const s of staged) await s.commit();
  } catch (err) {
    await Promise.all(staged.map((s) => s.abort()));
    // File system trouble (disk full, permissions) may pass; a picture sharp cannot decode won't.
    if (isFileSystemError(err)) throw err;
    const paths = [store.pathOf(item.media.storageKey), ...staged.map((s) => s.path)];
    throw ApplicationFailure.nonRetryable(
      `Could not render the image: ${withoutPaths(err instanceof Error ? err.message : String(err), paths)}`,
      'RenderFailed',
    );
  }

  const rows = requests.map(({ m, image, key }, i): RenditionValues => {
    const info = infos[i]!;
    const changes = [
      ...m.problems.filter((p) => p.fixable).map((p) => p.fix),
      ...(image.aspect && !m.problems.some((p) => p.code === 'aspect_ratio_out_of_range')
        ? [
            `Reframed to ${PLATFORM_RULES[m.target.format as MediaPlatform].label} ${m.placement.label.toLowerCase()} shape (${image.fit}).`,
          ]
        : []),
      ...(info.width !== facts.width || info.height !== facts.height
        ? [`Resized from ${facts.width}×${facts.height} to ${info.width}×${info.height}.`]
        : []),
      ...(facts.hasExif ? ['Camera metadata (EXIF, including any GPS position) removed.'] : []),
    ];
    return {
      postId,
      targetKey: m.target.targetKey,
      position: item.position,
      mediaId: item.media.id,
      storageKey: key,
      mimeType: `image/${image.format}`,
      width: info.width,
      height: info.height,
      sizeBytes: info.size,
      changes: [...new Set(changes)],
      placement: m.placement.placement,
      durationSec: null,
      coverKey: null,
    };
  });
  await saveRenditions(db, rows);
}

async function renderVideo(
  deps: ActivityDeps,
  postId: string,
  item: { position: number; media: MediaRow },
  facts: VideoFacts,
  m: { target: Publication; placement: PlacementRules; problems: MediaProblem[] },
  signal: AbortSignal,
  onProgress: (progress: Record<string, unknown>) => void,
) {
  const { db, store, mediaTools } = deps;
  if (!mediaTools) {
    throw ApplicationFailure.nonRetryable('ffmpeg is not installed on the worker; see the README', 'NoFfmpeg');
  }
  const platform = m.target.format as MediaPlatform;
  const label = PLATFORM_RULES[platform].label;
  const reframe = m.target.fit !== null && REFRAMED.includes(m.placement.placement);
  const plan = planTranscode(facts, m.placement, { fit: videoFit(m.target.fit), reframe, preset: 'veryfast' }, label);
  if (plan.action === 'refuse') {
    throw ApplicationFailure.nonRetryable(plan.refused.map((p) => p.message).join(' '), 'MediaRefused');
  }
  const source = store.pathOf(item.media.storageKey);
  const base = `renditions/${postId}/${m.target.targetKey}/${item.position}`;
  const sourceExt = item.media.storageKey.split('.').pop() ?? 'mp4';
  const key = plan.action === 'none' ? `${base}.${sourceExt}` : `${base}.mp4`;
  const staged = await store.staging(key);

  const where = and(eq(publications.postId, postId), eq(publications.targetKey, m.target.targetKey));
  let lastWrite = 0;
  const report = (p: TranscodeProgress) => {
    const progress = {
      mediaId: item.media.id,
      position: item.position,
      fraction: p.fraction ?? null,
      speed: p.speed ?? null,
      outTimeSec: Math.round(p.outTimeSec * 10) / 10,
      done: p.done,
      updatedAt: new Date().toISOString(),
    };
    onProgress({ targetKey: m.target.targetKey, ...progress });
    const now = Date.now();
    if (!p.done && now - lastWrite < PROGRESS_EVERY_MS) return;
    lastWrite = now;
    void db
      .update(publications)
      .set({ renderProgress: progress })
      .where(where)
      .catch(() => {});
  };
  try {
    // One ffmpeg per core across the worker, like image decodes: the rest wait their turn, heartbeating.
    await renderSlots(async () => {
      const wrote = await runTranscode(plan, facts, source, staged.path, {
        ffmpeg: mediaTools.ffmpeg,
        fit: videoFit(m.target.fit),
        reframe,
        preset: 'veryfast',
        signal,
        onProgress: report,
      });
      // Acceptable as it is: the streams are copied, not re-encoded, but never the metadata (a phone's GPS position).
      if (!wrote) await copyWithoutMetadata(mediaTools.ffmpeg, source, staged.path, sourceExt, signal);
    });
    await staged.commit();
  } catch (err) {
    await staged.abort();
    if (signal.aborted) throw err;
    throw videoRenderFailure(err);
  }
  const output = await probeVideo(store.pathOf(key), mediaTools.ffprobe);
  await db
    .update(publications)
    .set({
      renderProgress: {
        mediaId: item.media.id,
        position: item.position,
        fraction: 1,
        done: true,
        updatedAt: new Date().toISOString(),
      },
    })
    .where(where);

  // The cover frame, sized for the platform's cover or thumbnail where it has one.
  const coverRules = PLATFORM_RULES[platform].placements.thumbnail?.image;
  const coverKey = `${base}-cover.jpg`;
  const cover = await store.staging(coverKey);
  try {
    await extractFrame(store.pathOf(key), cover.path, {
      ffmpeg: mediaTools.ffmpeg,
      durationSec: output.durationSec,
      box: coverRules?.box ?? m.placement.video?.box,
      signal,
    });
    await cover.commit();
  } catch (err) {
    await cover.abort();
    throw err;
  }

  await saveRenditions(db, [
    {
      postId,
      targetKey: m.target.targetKey,
      position: item.position,
      mediaId: item.media.id,
      storageKey: key,
      mimeType: plan.action === 'none' ? item.media.mimeType : 'video/mp4',
      width: output.width,
      height: output.height,
      sizeBytes: output.bytes,
      changes: plan.action === 'none' ? [] : [...new Set(plan.changes)],
      placement: m.placement.placement,
      durationSec: output.durationSec,
      coverKey,
    },
  ]);
}

/**
 * What a failed conversion throws. The machine's trouble passes, so it is thrown as it is and
 * Temporal tries again: a file system error, or ffmpeg killed by a signal (the OOM killer's
 * SIGKILL) or out of disk space, which arrive with an exit status, not an error code. Anything
 * else is ffmpeg refusing the input, and final.
 */
export function videoRenderFailure(err: unknown): unknown {
  if (isFileSystemError(err) || (err instanceof MediaToolError && err.passing)) return err;
  return ApplicationFailure.nonRetryable(
    `Could not convert the video: ${err instanceof Error ? err.message : String(err)}`,
    'RenderFailed',
  );
}

function isFileSystemError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && code.startsWith('E');
}

type RenditionValues = Omit<typeof renditions.$inferInsert, 'publicId' | 'createdAt'>;

/** Records renditions in one statement; one made again (a retry) replaces its row and gets a new public id. */
async function saveRenditions(db: ActivityDeps['db'], rows: RenditionValues[]) {
  if (rows.length === 0) return;
  const key: string[] = ['postId', 'targetKey', 'position'];
  const replaced = [...Object.keys(rows[0]!).filter((k) => !key.includes(k)), 'publicId'] as (keyof RenditionValues &
    keyof typeof renditions.$inferInsert)[];
  await db
    .insert(renditions)
    .values(rows.map((values) => ({ ...values, publicId: publicId() })))
    .onConflictDoUpdate({
      target: [renditions.postId, renditions.targetKey, renditions.position],
      set: Object.fromEntries(replaced.map((k) => [k, sql.raw(`excluded.${renditions[k].name}`)])),
    });
}

/**
 * How many decodes and transcodes run at once across every renderMedia in this worker: both are CPU- and
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

/** Renders one source for several size boxes with a single decode (no reframing): see media/render-image.ts. */
export function renderSource(sourcePath: string, requests: RenditionRequest[]): Promise<OutputInfo[]> {
  return renderImage(sourcePath, requests);
}
