import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { and, asc, eq, sql } from 'drizzle-orm';
import type { OutputInfo } from 'sharp';
import { media, postMedia, postSteps, posts, publications, renditions } from '../db/schema.js';
import {
  type ImageRules,
  type MediaPlatform,
  PLATFORM_RULES,
  type Placement,
  type PlacementRules,
  placementRules,
} from '../domain/media-rules.js';
import { type FitMode, formatAspect, type MediaProblem, targetAspect } from '../media/check.js';
import { type MediaFacts, probeImage, probeVideo, type VideoFacts } from '../media/probe.js';
import { type ImageFit, type ImageRendition, type RenderedImage, renderImage } from '../media/render-image.js';
import { MediaToolError, withoutPaths } from '../media/tools.js';
import {
  copyWithoutMetadata,
  extractFrame,
  planTranscode,
  removeStalePartials,
  runTranscode,
  STALL_TIMEOUT_MS,
  type TranscodePlan,
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
 * source decoded once for all its targets, every item of an Instagram carousel framed to its first
 * item's shape, a GIF passed on as it is where the platform takes GIF; videos transcoded only when the target needs it, with
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
        // Only a try that died can have left partial outputs behind (its ffmpeg perhaps still writing).
        // Judged by the last write, so a partial still being written is kept whatever its age.
        if (Context.current().info.attempt > 1)
          await removeStalePartials(store.pathOf(`renditions/${postId}`), 2 * STALL_TIMEOUT_MS);
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
        // Checked when the post was created; this catches rules that changed since. A post with no
        // media at all (its brief's image could not be made) renders nothing: the targets that need
        // media fail when publishing, each saying why, and the others publish.
        const refused = reports.flatMap((r) => refusals(r, { noMedia: items.length === 0 }));
        if (refused.length > 0) {
          throw ApplicationFailure.nonRetryable(`The media cannot be published: ${refused.join(' ')}`, 'MediaRefused');
        }
        const carousels = carouselShapes(targets, reports, facts);

        // Heartbeats on a timer, not only between renditions: one large source can take a while,
        // and sharp and ffmpeg work off the event loop, so the timer keeps firing meanwhile.
        const context = Context.current();
        const state: { rendered: number; transcoding?: Record<string, unknown> } = { rendered: 0 };
        const beat = setInterval(() => context.heartbeat(state), HEARTBEAT_EVERY_MS);
        try {
          for (const [n, item] of items.entries()) {
            const missing: Missing[] = [];
            for (const target of targets) {
              const already = done.find((r) => r.targetKey === target.targetKey && r.position === item.position);
              if (already && (await store.exists(already.storageKey))) {
                state.rendered += 1;
                continue;
              }
              const file = reports.find((r) => r.key === target.targetKey)!.files[n]!;
              const rules = placementRules(target.format as MediaPlatform, file.placement)!;
              const carousel = carousels.get(target.targetKey);
              missing.push({
                target,
                placement: rules,
                problems: file.problems,
                carousel: carousel === undefined ? undefined : { aspect: carousel, first: n === 0 },
              });
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

function refusals(report: TargetReport, post: { noMedia: boolean }): string[] {
  return [
    ...report.problems
      .filter((p) => !p.fixable && !(post.noMedia && p.code === 'no_media'))
      .map((p) => `${report.key}: ${p.message}`),
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

/** One file still to render for one target; `carousel` when it is an item of an Instagram carousel. */
interface Missing {
  target: Publication;
  placement: PlacementRules;
  problems: MediaProblem[];
  carousel?: { aspect: number; first: boolean } | undefined;
}

/**
 * The aspect every item of each Instagram carousel is rendered to, by target key. Instagram shows
 * every item of a carousel at the first item's aspect and crops the others to it (platform-apis.md
 * 3.5), which would cut off parts of them nobody chose to lose; so every item is framed to that
 * aspect here, by the fit the user chose. The first item keeps its own shape when every item may
 * have it; otherwise it takes the nearest one they all may (4:5 to 1.91:1 for pictures, to 16:9
 * once a video is among them, 3.7).
 */
function carouselShapes(targets: Publication[], reports: TargetReport[], facts: MediaFacts[]): Map<string, number> {
  const shapes = new Map<string, number>();
  const first = facts[0];
  if (!first || facts.length < 2) return shapes;
  for (const target of targets) {
    if (target.format !== 'instagram') continue;
    const files = reports.find((r) => r.key === target.targetKey)?.files ?? [];
    // A story takes only the first file; anything else with several files goes as a carousel.
    if (files.length < 2 || files.some((f) => f.placement === 'story' || f.placement === 'thumbnail')) continue;
    let min = 0;
    let max = Number.POSITIVE_INFINITY;
    for (const [i, file] of files.entries()) {
      const rules = placementRules('instagram', file.placement);
      const aspect = (facts[i]?.kind === 'video' ? rules?.video : rules?.image)?.aspect;
      min = Math.max(min, aspect?.min ?? 0);
      max = Math.min(max, aspect?.max ?? Number.POSITIVE_INFINITY);
    }
    const own = first.width / first.height;
    const range = { min, max };
    shapes.set(
      target.targetKey,
      own >= min && own <= max ? own : insideRange(targetAspect(own, { aspect: range }), range),
    );
  }
  return shapes;
}

const carouselFitWords: Record<ImageFit | FitMode, string> = {
  attention: 'cropped around what draws the eye',
  centre: 'cropped around the centre',
  crop: 'cropped around the centre',
  pad: 'padded on a blurred background',
  blur: 'padded on a blurred background',
};

/** What reframing a carousel item did and why, in words for the post's view. */
function carouselNote(carousel: { aspect: number; first: boolean }, fit: ImageFit | FitMode): string {
  const shape = `${formatAspect(carousel.aspect)} (${carouselFitWords[fit]})`;
  return carousel.first
    ? `Reframed to ${shape}, the nearest shape Instagram takes for every item of this carousel; the other items are framed to it too, as Instagram shows them all at the first item's shape.`
    : `Reframed to ${shape} to match the carousel's first item: Instagram shows every item at the first item's shape and would otherwise crop this one.`;
}

/**
 * Whether a GIF goes to the target as it is (its metadata removed): where the platform takes GIF
 * (Facebook photos, platform-apis.md 4.3) and the file already meets every rule, an animation
 * stays an animation; anything to fix in it is fixed on a still picture instead.
 */
function gifAsItIs(
  facts: Extract<MediaFacts, { kind: 'image' }>,
  rules: ImageRules,
  problems: MediaProblem[],
  reframeTo: number | undefined,
): boolean {
  return facts.format === 'gif' && rules.formats.includes('gif') && problems.length === 0 && reframeTo === undefined;
}

/** Why a moving picture went out as its first frame, in words for the post's view. */
function firstFrameNote(facts: Extract<MediaFacts, { kind: 'image' }>, rules: ImageRules, m: Missing): string {
  const name = (format: string) => (format === 'webp' ? 'WebP' : format.toUpperCase());
  const what = `Animated ${name(facts.format)} sent as its first frame`;
  const where = `${PLATFORM_RULES[m.target.format as MediaPlatform].label} ${m.placement.label.toLowerCase()}`;
  if (facts.format === 'gif' && rules.formats.includes('gif')) {
    const why = m.problems.map((p) => p.message).join(' ') || 'it needs reframing.';
    return `${what}, as only a still picture can be changed to fit what ${where} takes: ${why}`;
  }
  return `${what}: ${where} takes still pictures only (${rules.formats.map(name).join(', ')}).`;
}

const publicId = () => randomBytes(18).toString('base64url');

async function renderImages(
  deps: ActivityDeps,
  postId: string,
  item: { position: number; media: MediaRow },
  facts: Extract<MediaFacts, { kind: 'image' }>,
  missing: Missing[],
  publishers: ActivityDeps['publishers'],
) {
  const { db, store } = deps;
  const requests = missing.map((m) => {
    const rules = m.placement.image ?? placementRules(m.target.format as MediaPlatform, 'thumbnail')!.image!;
    const manual = publishers[m.target.targetType].mediaRules(m.target.format);
    const sourceAspect = facts.width / facts.height;
    const reframe =
      m.target.fit !== null && REFRAMED.includes(m.placement.placement) && rules.preferredAspect !== undefined;
    const aspect = m.carousel
      ? m.carousel.aspect
      : reframe
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
    const reframeTo =
      aspect !== undefined && (outside || Math.abs(aspect - sourceAspect) / sourceAspect > 0.005) ? aspect : undefined;
    const image: ImageRendition['rules'] = {
      maxWidth: Math.min(manual.maxWidth, rules.width?.max ?? rules.box.long, rules.box.long),
      maxHeight: Math.min(manual.maxHeight, rules.height?.max ?? rules.box.long, rules.box.long),
      minWidth: rules.width?.min,
      format: gifAsItIs(facts, rules, m.problems, reframeTo)
        ? 'gif'
        : rules.formats.includes('jpeg')
          ? 'jpeg'
          : manual.format,
      quality: manual.quality,
      aspect: reframeTo,
      aspectRange: rules.aspect,
      fit: (m.target.fit ?? 'pad') as ImageFit,
      maxBytes: rules.maxBytes,
    };
    const key = `renditions/${postId}/${m.target.targetKey}/${item.position}.${image.format === 'jpeg' ? 'jpg' : image.format}`;
    return { m, rules, image, key };
  });

  const staged = await Promise.all(requests.map((r) => store.staging(r.key)));
  let infos: RenderedImage[];
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

  const rows = requests.map(({ m, rules, image, key }, i): RenditionValues => {
    const info = infos[i]!;
    // A carousel item's shape is the carousel's, whatever the check of the file alone said.
    const reframing = m.carousel
      ? image.aspect
        ? [carouselNote(m.carousel, image.fit ?? 'pad')]
        : []
      : image.aspect && !m.problems.some((p) => p.code === 'aspect_ratio_out_of_range')
        ? [
            `Reframed to ${PLATFORM_RULES[m.target.format as MediaPlatform].label} ${m.placement.label.toLowerCase()} shape (${image.fit}).`,
          ]
        : [];
    const changes = [
      ...m.problems
        .filter((p) => p.fixable && !(m.carousel && p.code === 'aspect_ratio_out_of_range'))
        .map((p) => p.fix),
      ...reframing,
      ...(info.width !== facts.width || info.height !== facts.height
        ? [`Resized from ${facts.width}×${facts.height} to ${info.width}×${info.height}.`]
        : []),
      ...(facts.hasExif ? ['Camera metadata (EXIF, including any GPS position) removed.'] : []),
      ...(info.firstFrameOnly ? [firstFrameNote(facts, rules, m)] : []),
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
  m: Missing,
  signal: AbortSignal,
  onProgress: (progress: Record<string, unknown>) => void,
) {
  const { db, store, mediaTools } = deps;
  if (!mediaTools) {
    throw ApplicationFailure.nonRetryable('ffmpeg is not installed on the worker; see the README', 'NoFfmpeg');
  }
  const platform = m.target.format as MediaPlatform;
  const label = PLATFORM_RULES[platform].label;
  const reframe = !m.carousel && m.target.fit !== null && REFRAMED.includes(m.placement.placement);
  const placement = m.carousel ? carouselPlacement(m.placement, m.carousel.aspect) : m.placement;
  const plan = planTranscode(facts, placement, { fit: videoFit(m.target.fit), reframe, preset: 'veryfast' }, label);
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
      changes: plan.action === 'none' ? [] : [...new Set(videoChanges(plan, m))],
      placement: m.placement.placement,
      durationSec: output.durationSec,
      coverKey,
    },
  ]);
}

/**
 * The placement's rules with the carousel's aspect as the only one accepted (within the 1 % a
 * transcode lets pass): the transcoder then reframes the video to it, by the user's fit.
 */
function carouselPlacement(placement: PlacementRules, aspect: number): PlacementRules {
  const video = placement.video;
  if (!video) return placement;
  const min = Math.max(aspect / 1.01, video.aspect?.min ?? 0);
  const max = Math.min(aspect * 1.01, video.aspect?.max ?? Number.POSITIVE_INFINITY);
  return { ...placement, video: { ...video, aspect: { min, max }, preferredAspect: aspect } };
}

/** What a transcode changed; for a carousel item, its reframing told as the carousel's. */
function videoChanges(plan: Extract<TranscodePlan, { changes: string[] }>, m: Missing): string[] {
  if (!m.carousel) return plan.changes;
  const reframed = plan.problems.find((p) => p.code === 'aspect_ratio_out_of_range');
  if (!reframed) return plan.changes;
  return [
    ...plan.changes.filter((c) => c !== reframed.fix),
    carouselNote(m.carousel, plan.action === 'transcode' ? plan.fit : videoFit(m.target.fit)),
  ];
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
