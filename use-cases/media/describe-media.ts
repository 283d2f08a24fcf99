import sharp from 'sharp';
import type { media } from '../../db/schema.js';
import { ValidationError } from '../../domain/errors.js';
import { videoSizeRefusal } from '../../media/check.js';
import {
  type MediaFacts,
  PROBE_TIMEOUT_MS,
  ProbeError,
  ProbeTimeoutError,
  probeImage,
  probeVideo,
} from '../../media/probe.js';
import type { MediaTools } from '../../media/tools.js';
import { extractFrame } from '../../media/transcode.js';
import type { MediaStore } from '../../storage/media-store.js';

/** The media library shows thumbnails this size (long side). */
const THUMBNAIL_BOX = { long: 320, short: 320 };

export type FactColumns = Pick<
  typeof media.$inferInsert,
  | 'kind'
  | 'width'
  | 'height'
  | 'durationSec'
  | 'frameRate'
  | 'rotation'
  | 'videoCodec'
  | 'audioCodec'
  | 'facts'
  | 'thumbnailKey'
>;

export const thumbnailKeyOf = (mediaId: string) => `thumbnails/${mediaId}.jpg`;

/** Columns for what the file is, read from the file itself. */
export function factColumns(facts: MediaFacts, thumbnailKey: string | null): FactColumns {
  const common = { width: facts.width, height: facts.height, facts: facts as unknown as Record<string, unknown> };
  if (facts.kind === 'image') return { ...common, kind: 'image', thumbnailKey };
  return {
    ...common,
    kind: 'video',
    durationSec: facts.durationSec,
    frameRate: facts.frameRate,
    rotation: facts.rotation,
    videoCodec: facts.videoCodec,
    audioCodec: facts.audioCodec ?? null,
    thumbnailKey,
  };
}

/**
 * Probes a received file (ffprobe for video, sharp for images) and writes its library thumbnail
 * under `thumbnails/<id>.jpg`. A video that ffprobe cannot read, or not within the deadline, or
 * whose picture is too large to be worked on, is refused in words.
 */
export async function describeMedia(
  deps: {
    store: MediaStore;
    tools?: MediaTools | undefined;
    /** How long ffprobe, and then ffmpeg for the thumbnail, may each take; default PROBE_TIMEOUT_MS. */
    probeTimeoutMs?: number | undefined;
  },
  mediaId: string,
  path: string,
  kind: 'image' | 'video',
): Promise<FactColumns> {
  const field = (message: string) => new ValidationError([{ field: 'file', message }]);
  let facts: MediaFacts;
  if (kind === 'video') {
    if (!deps.tools) {
      throw field('videos cannot be accepted on this server: ffmpeg is not installed (see the README)');
    }
    try {
      facts = await probeVideo(path, deps.tools.ffprobe, { timeoutMs: deps.probeTimeoutMs });
    } catch (err) {
      if (err instanceof ProbeTimeoutError) throw field(`${err.message}; it may be damaged`);
      if (err instanceof ProbeError) throw field(`looks like a video but cannot be read: ${err.message}`);
      throw err;
    }
    // Before the thumbnail: decoding even one frame of a huge picture costs gigabytes.
    const oversized = videoSizeRefusal(facts);
    if (oversized) throw field(oversized);
  } else {
    facts = await probeImage(path);
  }
  const key = thumbnailKeyOf(mediaId);
  const staged = await deps.store.staging(key);
  try {
    if (facts.kind === 'video') {
      await extractFrame(path, staged.path, {
        ffmpeg: deps.tools!.ffmpeg,
        durationSec: facts.durationSec,
        box: THUMBNAIL_BOX,
        timeoutMs: deps.probeTimeoutMs ?? PROBE_TIMEOUT_MS,
      });
    } else {
      await sharp(path, { failOn: 'error' })
        .autoOrient()
        .resize({ width: THUMBNAIL_BOX.long, height: THUMBNAIL_BOX.long, fit: 'inside', withoutEnlargement: true })
        .toColourspace('srgb')
        .flatten({ background: '#ffffff' })
        .jpeg({ quality: 80 })
        .toFile(staged.path);
    }
    await staged.commit();
  } catch {
    // A thumbnail is a convenience: the library shows none rather than refusing the file.
    await staged.abort();
    return factColumns(facts, null);
  }
  return factColumns(facts, key);
}
