import { randomUUID } from 'node:crypto';
import { readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { PlacementRules, VideoRules } from '../domain/media-rules.js';
import {
  audioBitrateFor,
  checkMedia,
  type FitMode,
  formatAspect,
  type MediaProblem,
  type MediaProblemCode,
  MIN_VIDEO_BITRATE,
  targetAspect,
} from './check.js';
import type { VideoFacts } from './probe.js';
import { runTool } from './tools.js';

// Plans the least work that makes a video acceptable to one target (nothing, a remux, or a full
// H.264/AAC encode), then runs ffmpeg file to file. ffmpeg reads and writes the files itself, so the
// Node process holds only progress lines: memory does not grow with the video's length.

export interface TranscodeOptions {
  /** How a wrong aspect ratio is corrected (the user's choice). Default: pad. */
  fit?: FitMode;
  /** Reframe to the placement's preferred aspect (e.g. 9:16) even when the source's is accepted. */
  reframe?: boolean;
  /** x264 speed/size trade-off. */
  preset?: 'ultrafast' | 'superfast' | 'veryfast' | 'faster' | 'fast' | 'medium';
}

export interface OutputShape {
  width: number;
  height: number;
  /** Frames per second forced on the output; undefined keeps the source's timing. */
  frameRate?: number;
  /** Bits per second the video may peak at. */
  maxVideoBitrate: number;
  audio: boolean;
  /** The sound is already acceptable AAC: copied, not re-encoded. */
  copyAudio: boolean;
  /** Bits per second the sound is encoded at when it is re-encoded. */
  audioBitrate: number;
  deinterlace: boolean;
}

export type TranscodePlan =
  | { action: 'refuse'; problems: MediaProblem[]; refused: MediaProblem[] }
  | { action: 'none'; problems: []; changes: [] }
  | {
      action: 'remux';
      problems: MediaProblem[];
      changes: string[];
      /** Copied as it is. */
      videoCodec: string;
      reencodeAudio: boolean;
      audio: boolean;
      /** Bits per second the sound is encoded at when it is re-encoded. */
      audioBitrate: number;
    }
  | {
      action: 'transcode';
      problems: MediaProblem[];
      changes: string[];
      fit: FitMode;
      /** The crop (in source display pixels) or the padded canvas, before scaling. */
      frame: { width: number; height: number };
      output: OutputShape;
    };

const VIDEO_CODES: MediaProblemCode[] = [
  'video_codec_not_accepted',
  'frame_rate_too_high',
  'frame_rate_too_low',
  'variable_frame_rate',
  'aspect_ratio_out_of_range',
  'dimensions_too_large',
  'dimensions_too_small',
  'video_bitrate_too_high',
  'interlaced',
  'pixel_format_not_accepted',
  'file_too_large',
];
const AUDIO_CODES: MediaProblemCode[] = ['audio_codec_not_accepted', 'audio_not_accepted'];
// Codecs MP4 carries that every platform reads; anything else is re-encoded rather than rewrapped.
const MP4_SAFE_VIDEO = ['h264', 'hevc'];
const MP4_SAFE_AUDIO = ['aac'];
const even = (n: number) => Math.max(2, Math.round(n / 2) * 2);
const evenDown = (n: number) => Math.max(2, Math.floor(n / 2) * 2);

/** A reasonable peak for the picture size: about 8 Mbit/s for 1080p at 30 fps, never under 0.5. */
function defaultBitrateCap(width: number, height: number, fps: number): number {
  const perPixel = 8_000_000 / (1920 * 1080);
  return Math.max(500_000, Math.round(width * height * perPixel * Math.max(1, fps / 30)));
}

export function planTranscode(
  facts: VideoFacts,
  placement: PlacementRules,
  options: TranscodeOptions = {},
  platformLabel?: string,
): TranscodePlan {
  const rules = placement.video;
  const fit = options.fit ?? 'pad';
  const problems = checkMedia(facts, placement, { platformLabel, fit });
  const refused = problems.filter((p) => !p.fixable);
  if (refused.length > 0 || !rules) return { action: 'refuse', problems, refused };

  const sourceAspect = facts.width / facts.height;
  const reframeTo =
    options.reframe &&
    rules.preferredAspect &&
    Math.abs(sourceAspect - rules.preferredAspect) / rules.preferredAspect > 0.01
      ? rules.preferredAspect
      : undefined;
  const codes = new Set(problems.map((p) => p.code));
  const needsVideo = reframeTo !== undefined || VIDEO_CODES.some((c) => codes.has(c));
  const needsAudio = AUDIO_CODES.some((c) => codes.has(c));
  const needsContainer = codes.has('container_not_accepted') || codes.has('index_not_at_start');

  if (!needsVideo && !needsAudio && !needsContainer) return { action: 'none', problems: [], changes: [] };

  const changes = problems.map((p) => p.fix);
  const audioMustChange = needsAudio || (facts.hasAudio && !MP4_SAFE_AUDIO.includes(facts.audioCodec ?? ''));
  if (!needsVideo && MP4_SAFE_VIDEO.includes(facts.videoCodec)) {
    if (audioMustChange && !needsAudio) changes.push('The sound will be re-encoded as AAC to fit in MP4.');
    return {
      action: 'remux',
      problems,
      changes,
      videoCodec: facts.videoCodec,
      reencodeAudio: audioMustChange,
      audio: facts.hasAudio,
      audioBitrate: audioBitrateFor(rules),
    };
  }

  const aspect = reframeTo ?? targetAspect(sourceAspect, rules);
  if (reframeTo !== undefined) {
    changes.push(`Reframed to ${formatAspect(reframeTo)} as chosen (${fit === 'crop' ? 'cropped' : 'padded'}).`);
  }
  if (!codes.has('video_codec_not_accepted')) changes.push('The video will be re-encoded as H.264.');
  if (facts.rotation !== 0) changes.push(`The ${facts.rotation}° rotation will be applied to the picture itself.`);

  // The frame before scaling: the centred crop, or the canvas the picture is padded onto.
  const { width: w, height: h } = facts;
  const narrower = aspect < sourceAspect;
  const frame =
    fit === 'crop'
      ? narrower
        ? { width: evenDown(h * aspect), height: evenDown(h) }
        : { width: evenDown(w), height: evenDown(w / aspect) }
      : narrower
        ? { width: even(w), height: even(w / aspect) }
        : { width: even(h * aspect), height: even(h) };

  const output = outputShape(facts, rules, frame, aspect, codes);
  return { action: 'transcode', problems, changes, fit, frame, output };
}

function outputShape(
  facts: VideoFacts,
  rules: VideoRules,
  frame: { width: number; height: number },
  aspect: number,
  codes: Set<MediaProblemCode>,
): OutputShape {
  const portrait = frame.height > frame.width;
  const [boxW, boxH] = portrait ? [rules.box.short, rules.box.long] : [rules.box.long, rules.box.short];
  let scale = Math.min(
    1,
    boxW / frame.width,
    boxH / frame.height,
    (rules.width?.max ?? Number.POSITIVE_INFINITY) / frame.width,
    (rules.height?.max ?? Number.POSITIVE_INFINITY) / frame.height,
  );
  scale = Math.max(scale, (rules.width?.min ?? 0) / frame.width, (rules.height?.min ?? 0) / frame.height);
  // Derive one side from the other so rounding to even pixels cannot push the aspect out of range.
  let width = even(frame.width * scale);
  let height = even(width / aspect);
  if (height < (rules.height?.min ?? 0)) {
    height = even(rules.height?.min ?? 0);
    width = even(height * aspect);
  }

  const rate = rules.frameRate;
  const retime =
    codes.has('frame_rate_too_high') || codes.has('frame_rate_too_low') || codes.has('variable_frame_rate');
  const clampRate = (fps: number) => Math.min(rate?.max ?? 60, Math.max(rate?.min ?? 1, fps));
  const frameRate = retime ? clampRate(Math.round(facts.frameRate) || 30) : undefined;
  const fps = frameRate ?? (facts.frameRate || 30);

  let maxVideoBitrate = Math.min(
    rules.maxVideoBitrate ?? Number.POSITIVE_INFINITY,
    defaultBitrateCap(width, height, fps),
  );
  if (rules.maxBytes !== undefined && facts.durationSec > 0) {
    // 10 % headroom for the container and the encoder overshooting its average.
    const budget = (rules.maxBytes * 8 * 0.9) / facts.durationSec - (facts.hasAudio ? audioBitrateFor(rules) : 0);
    maxVideoBitrate = Math.min(maxVideoBitrate, Math.max(MIN_VIDEO_BITRATE, Math.floor(budget)));
  }
  const copyAudio = facts.hasAudio && facts.audioCodec === 'aac' && !AUDIO_CODES.some((c) => codes.has(c));
  return {
    width,
    height,
    frameRate,
    maxVideoBitrate,
    audio: facts.hasAudio,
    copyAudio,
    audioBitrate: audioBitrateFor(rules),
    deinterlace: facts.interlaced,
  };
}

/** The ffmpeg filter graph for a transcode plan, ending in the label [v]. */
export function filterGraph(plan: Extract<TranscodePlan, { action: 'transcode' }>): string {
  const { frame, output, fit } = plan;
  const { width: W, height: H } = output;
  const source = output.deinterlace ? '[0:v:0]yadif,' : '[0:v:0]';
  const tail = `${output.frameRate ? `,fps=${output.frameRate}` : ''},setsar=1,format=yuv420p[v]`;
  if (fit === 'crop') {
    return `${source}crop=${frame.width}:${frame.height},scale=${W}:${H}:flags=bicubic${tail}`;
  }
  // Fit the picture inside the output, then fill the rest.
  const inner = `scale=${W}:${H}:force_original_aspect_ratio=decrease:force_divisible_by=2:flags=bicubic`;
  if (fit === 'pad') {
    return `${source}${inner},pad=${W}:${H}:(ow-iw)/2:(oh-ih)/2:color=black${tail}`;
  }
  const radius = Math.max(1, Math.min(20, Math.floor(Math.min(W, H) / 8)));
  return (
    `${source}split=2[bg][fg];` +
    `[bg]scale=${W}:${H}:force_original_aspect_ratio=increase,crop=${W}:${H},boxblur=${radius}:2[blurred];` +
    `[fg]${inner}[sharp];` +
    `[blurred][sharp]overlay=(W-w)/2:(H-h)/2${tail}`
  );
}

/**
 * How every MP4/MOV is laid out: the index (moov) first, and no edit lists. Instagram refuses edit
 * lists ("MOV or MP4 …, no edit lists, moov atom at the front", platform-apis.md 3.7); ffmpeg
 * writes one whenever AAC's priming or B-frames put a track's first sample before zero. With edit
 * lists off alone, ffmpeg shifts every track by that much and stretches the first video frame over
 * the gap (a 60 fps clip then averages 58.6); negative composition offsets (ctts version 1) let
 * each track start at zero instead, so the picture keeps its timing and only the sound's priming
 * (about 21 ms) plays at its start.
 */
export const MP4_LAYOUT: readonly string[] = ['-movflags', '+faststart+negative_cts_offsets', '-use_editlist', '0'];

/** ffmpeg's arguments for a remux or transcode plan. */
export function ffmpegArgs(
  plan: Extract<TranscodePlan, { action: 'remux' | 'transcode' }>,
  input: string,
  output: string,
  options: TranscodeOptions = {},
): string[] {
  const common = ['-hide_banner', '-nostdin', '-loglevel', 'error', '-nostats', '-progress', 'pipe:1', '-y'];
  // Strip metadata: phones record the place a video was shot (a GPS "location" tag).
  const tail = ['-map_metadata', '-1', '-map_chapters', '-1', ...MP4_LAYOUT, '-f', 'mp4', output];
  const audioEncode = (bitrate: number) => [
    '-c:a',
    'aac',
    '-profile:a',
    'aac_low',
    '-b:a',
    `${bitrate / 1000}k`,
    '-ar',
    '48000',
    '-ac',
    '2',
  ];
  if (plan.action === 'remux') {
    const audio = plan.audio
      ? ['-map', '0:a:0', ...(plan.reencodeAudio ? audioEncode(plan.audioBitrate) : ['-c:a', 'copy'])]
      : [];
    // Apple players and Instagram read HEVC in MP4 only under the hvc1 tag.
    const tag = plan.videoCodec === 'hevc' ? ['-tag:v', 'hvc1'] : [];
    return [...common, '-i', input, '-map', '0:v:0', '-c:v', 'copy', ...tag, ...audio, ...tail];
  }
  const { output: shape } = plan;
  const gop = Math.round(2 * (shape.frameRate ?? 30));
  const kbps = Math.round(shape.maxVideoBitrate / 1000);
  return [
    ...common,
    '-i',
    input,
    '-filter_complex',
    filterGraph(plan),
    '-map',
    '[v]',
    ...(shape.audio
      ? ['-map', '0:a:0', ...(shape.copyAudio ? ['-c:a', 'copy'] : audioEncode(shape.audioBitrate))]
      : ['-an']),
    '-c:v',
    'libx264',
    '-preset',
    options.preset ?? 'veryfast',
    '-crf',
    '21',
    '-profile:v',
    'high',
    '-maxrate',
    `${kbps}k`,
    '-bufsize',
    `${kbps * 2}k`,
    '-g',
    String(gop),
    ...(shape.frameRate ? ['-fps_mode', 'cfr'] : []),
    ...tail,
  ];
}

const COPY_MUXERS: Record<string, string> = { mp4: 'mp4', mov: 'mov', webm: 'webm', mkv: 'matroska' };

/**
 * ffmpeg's arguments for keeping a file that is acceptable as it is: its streams copied into the
 * same container (named by the extension), every global and stream tag and chapter dropped.
 */
export function copyWithoutMetadataArgs(input: string, output: string, ext: string): string[] {
  const muxer = COPY_MUXERS[ext.toLowerCase()] ?? 'mp4';
  const layout = muxer === 'mp4' || muxer === 'mov' ? MP4_LAYOUT : [];
  return [
    ...['-hide_banner', '-nostdin', '-loglevel', 'error', '-y', '-i', input],
    ...['-map', '0:v:0', '-map', '0:a:0?', '-c', 'copy'],
    ...['-map_metadata', '-1', '-map_metadata:s:v', '-1', '-map_metadata:s:a', '-1', '-map_chapters', '-1'],
    ...layout,
    ...['-f', muxer, output],
  ];
}

/** Runs copyWithoutMetadataArgs, for a plan of `none`: a phone's GPS position never leaves with the file. */
export async function copyWithoutMetadata(
  ffmpeg: string,
  input: string,
  output: string,
  ext: string,
  signal?: AbortSignal,
): Promise<void> {
  await runTool(ffmpeg, copyWithoutMetadataArgs(input, output, ext), { signal });
}

export interface TranscodeProgress {
  /** Seconds of output written so far. */
  outTimeSec: number;
  /** 0..1 when the duration is known. */
  fraction?: number;
  /** Encoding speed relative to real time (e.g. 2.5 = 2.5× faster than playback). */
  speed?: number;
  done: boolean;
}

/** Parses ffmpeg's `-progress` key=value lines; emits one report per block. */
export function progressParser(durationSec: number, onProgress: (p: TranscodeProgress) => void) {
  let outTimeSec = 0;
  let speed: number | undefined;
  return (line: string) => {
    const eq = line.indexOf('=');
    if (eq < 0) return;
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    if (key === 'out_time_us' || key === 'out_time_ms') {
      // Both keys carry microseconds (ffmpeg's historical naming).
      const us = Number(value);
      if (Number.isFinite(us) && us >= 0) outTimeSec = us / 1_000_000;
    } else if (key === 'speed') {
      const s = Number.parseFloat(value);
      speed = Number.isFinite(s) ? s : undefined;
    } else if (key === 'progress') {
      const done = value === 'end';
      const fraction = durationSec > 0 ? Math.min(1, done ? 1 : outTimeSec / durationSec) : undefined;
      onProgress({ outTimeSec, fraction, speed, done });
    }
  };
}

export interface RunOptions extends TranscodeOptions {
  ffmpeg: string;
  onProgress?: (p: TranscodeProgress) => void;
  signal?: AbortSignal;
  /** Default STALL_TIMEOUT_MS. */
  stallTimeoutMs?: number;
}

/**
 * How long an encode may go without reporting progress (ffmpeg reports twice a second while it
 * works; one 8K frame at the slowest preset takes seconds, not minutes). A file that makes it spin
 * would otherwise hold the render's attempt for the activity's two hours, heartbeats and all.
 */
export const STALL_TIMEOUT_MS = 5 * 60_000;

/**
 * Runs a plan: writes `output` atomically (a temporary name, then rename), or copies nothing when
 * the plan is `none` (returns false: use the source as it is). Refused plans throw.
 */
export async function runTranscode(
  plan: TranscodePlan,
  facts: VideoFacts,
  input: string,
  output: string,
  options: RunOptions,
): Promise<boolean> {
  if (plan.action === 'refuse') throw new Error(plan.refused.map((p) => p.message).join(' '));
  if (plan.action === 'none') return false;
  const partial = `${output}.${randomUUID()}.partial`;
  const args = ffmpegArgs(plan, input, partial, options);
  const onLine = options.onProgress ? progressParser(facts.durationSec, options.onProgress) : () => {};
  try {
    await runTool(options.ffmpeg, args, {
      onLine,
      signal: options.signal,
      stallTimeoutMs: options.stallTimeoutMs ?? STALL_TIMEOUT_MS,
    });
    await rename(partial, output);
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  }
  return true;
}

export interface FrameOptions {
  ffmpeg: string;
  /** Seconds into the video; default: 1 s, or the middle of a shorter video. */
  atSec?: number;
  durationSec?: number;
  /** Largest long and short side; the picture is only ever scaled down. */
  box?: { long: number; short: number };
  signal?: AbortSignal;
  /** Default FRAME_TIMEOUT_MS. */
  timeoutMs?: number;
}

/**
 * How long taking one frame may take: seeking and decoding a frame or two is a second or so even
 * for 8K; a file that makes ffmpeg spin would otherwise hold its caller (an upload, a render) forever.
 */
export const FRAME_TIMEOUT_MS = 60_000;

/**
 * One frame as a JPEG (rotation applied, metadata stripped): the cover frame at full size, or a
 * thumbnail with a small box. Seeking before the input reads only around that point.
 */
export async function extractFrame(input: string, output: string, options: FrameOptions): Promise<void> {
  const duration = options.durationSec ?? 0;
  const at = options.atSec ?? (duration > 0 && duration < 2 ? duration / 2 : 1);
  const seek = duration > 0 ? Math.min(at, Math.max(0, duration - 0.1)) : at;
  const box = options.box;
  const scale = box
    ? `scale='if(gt(iw,ih),min(iw,${box.long}),min(iw,${box.short}))':'if(gt(iw,ih),min(ih,${box.short}),min(ih,${box.long}))':force_original_aspect_ratio=decrease:force_divisible_by=2,`
    : '';
  const partial = `${output}.${randomUUID()}.partial`;
  const args = [
    '-hide_banner',
    '-nostdin',
    '-loglevel',
    'error',
    '-y',
    '-ss',
    seek.toFixed(3),
    '-i',
    input,
    '-frames:v',
    '1',
    '-vf',
    `${scale}format=yuvj420p`,
    '-map_metadata',
    '-1',
    '-q:v',
    '3',
    '-f',
    'image2',
    '-c:v',
    'mjpeg',
    partial,
  ];
  try {
    await runTool(options.ffmpeg, args, { signal: options.signal, timeoutMs: options.timeoutMs ?? FRAME_TIMEOUT_MS });
    await rename(partial, output);
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  }
}

/** A partial output untouched this long has no writer left: ffmpeg writes every second or so while it works. */
export const STALE_PARTIAL_MS = 6 * 3600_000;

/**
 * Removes the partial outputs under `dir` (a post's renditions) that nobody has written to for
 * `olderThanMs`. Every run writes a partial of its own and removes it when it fails, but a worker
 * killed outright (SIGKILL, the OOM killer) removes nothing, and its ffmpeg may go on writing for
 * a while: judged by the last write, a partial still being written is left alone. Returns how many
 * were removed.
 */
export async function removeStalePartials(dir: string, olderThanMs = STALE_PARTIAL_MS): Promise<number> {
  let entries: { name: string; parentPath: string; isFile(): boolean }[];
  try {
    entries = await readdir(dir, { recursive: true, withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw error;
  }
  const before = Date.now() - olderThanMs;
  let removed = 0;
  for (const entry of entries) {
    if (!entry.isFile() || !/\.partial(-|$)/.test(entry.name)) continue;
    const path = join(entry.parentPath, entry.name);
    const info = await stat(path).catch(() => undefined);
    if (!info || info.mtimeMs >= before) continue;
    await rm(path, { force: true });
    removed += 1;
  }
  return removed;
}
