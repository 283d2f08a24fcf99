import type { ImageRules, PlacementRules, Range, VideoRules } from '../domain/media-rules.js';
import type { ImageFacts, MediaFacts, VideoFacts } from './probe.js';

// Media facts against one target's rules: every problem in words, and whether the render step will
// fix it. Duration is never fixable: cutting someone's video without asking changes what it says.

export type FitMode = 'crop' | 'pad' | 'blur';

export const MEDIA_PROBLEM_CODES = [
  'kind_not_accepted',
  'format_not_accepted',
  'container_not_accepted',
  'video_codec_not_accepted',
  'audio_codec_not_accepted',
  'too_long',
  'too_short',
  'frame_rate_too_high',
  'frame_rate_too_low',
  'variable_frame_rate',
  'aspect_ratio_out_of_range',
  'dimensions_too_large',
  'dimensions_too_small',
  'video_bitrate_too_high',
  'audio_not_accepted',
  'index_not_at_start',
  'interlaced',
  'pixel_format_not_accepted',
  'file_too_large',
  'colour_space_not_srgb',
  // About a target's media as a whole (media/validate.ts):
  'placement_not_available',
  'no_media',
  'too_many_items',
  'too_few_items',
  'mixed_media_not_accepted',
] as const;
export type MediaProblemCode = (typeof MEDIA_PROBLEM_CODES)[number];

export interface MediaProblem {
  code: MediaProblemCode;
  /** What is wrong, in words a person can act on. */
  message: string;
  /** The render step will fix it without the user doing anything. */
  fixable: boolean;
  /** What the fix will do (present when fixable), or what the user can do (when not). */
  fix: string;
}

export interface CheckOptions {
  /** e.g. "Instagram"; prefixes the placement's label in messages. */
  platformLabel?: string;
  /** How a wrong aspect ratio is corrected; the user chooses. Default: pad (nothing is cut). */
  fit?: FitMode;
}

const CHROMA_420 = /^(yuvj?420p|yuv420p\d+(le|be)|nv12|nv21|p010(le|be)?)$/;

// Lowest video bitrate a re-encode may use to fit a size limit before the picture falls apart.
export const MIN_VIDEO_BITRATE = 300_000;
const AUDIO_BITRATE = 128_000;

/**
 * The AAC bit rate a re-encode asks for: 128 kbit/s, kept 5 % inside a floor or cap near it.
 * ffmpeg's encoder lands a little off the rate it is asked for (128,031 bit/s for 128k on a short
 * clip with Debian's ffmpeg 5.1.9), which Instagram's "128 kbps" would count as too much and
 * Facebook's "≥128 kbps" as too little.
 */
export function audioBitrateFor(rules: VideoRules): number {
  let rate = AUDIO_BITRATE;
  if (rules.minAudioBitrate !== undefined) rate = Math.max(rate, Math.ceil(rules.minAudioBitrate / 0.95 / 1000) * 1000);
  const cap = rules.maxAudioBitrate;
  if (cap !== undefined && rate > cap * 0.95) rate = Math.floor((cap * 0.95) / 1000) * 1000;
  return rate;
}

// --- words -----------------------------------------------------------------------------------------

export function formatDuration(seconds: number): string {
  const s = Math.round(seconds * 10) / 10;
  if (s < 60) return `${s} s`;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = Math.round(s % 60);
  return [h ? `${h} h` : '', m ? `${m} min` : '', rest ? `${rest} s` : ''].filter(Boolean).join(' ');
}

export function formatBytes(bytes: number): string {
  const units = ['bytes', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return unit === 0 ? `${bytes} bytes` : `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

const NAMED_RATIOS: [number, string][] = [
  [9 / 16, '9:16'],
  [4 / 5, '4:5'],
  [3 / 4, '3:4'],
  [1, '1:1'],
  [4 / 3, '4:3'],
  [16 / 9, '16:9'],
  [1.91, '1.91:1'],
];

export function formatAspect(ratio: number): string {
  const named = NAMED_RATIOS.find(([r]) => Math.abs(r - ratio) / r < 0.01);
  return named ? named[1] : `${ratio.toFixed(2)}:1`;
}

const formatRate = (bps: number) => `${(bps / 1_000_000).toFixed(1)} Mbit/s`;
const codecName: Record<string, string> = {
  h264: 'H.264',
  hevc: 'H.265 (HEVC)',
  vp8: 'VP8',
  vp9: 'VP9',
  av1: 'AV1',
  aac: 'AAC',
  mp3: 'MP3',
  opus: 'Opus',
  vorbis: 'Vorbis',
};
export const describeCodec = (codec: string) => codecName[codec] ?? codec;
const list = (items: readonly string[]) => items.map(describeCodec).join(', ');
const upper = (items: readonly string[]) => items.map((i) => i.toUpperCase()).join(', ');

// --- geometry shared with the transcoder ---------------------------------------------------------------

const within = (value: number, range: Range | undefined) =>
  !range || ((range.min === undefined || value >= range.min) && (range.max === undefined || value <= range.max));

/**
 * The aspect ratio a rendition must have: the source's when the rules accept it, else the nearest
 * accepted one, snapped to the platform's preferred ratio when that is within 2 %.
 */
export function targetAspect(sourceAspect: number, rules: { aspect?: Range; preferredAspect?: number }): number {
  if (within(sourceAspect, rules.aspect)) return sourceAspect;
  const min = rules.aspect?.min ?? 0;
  const max = rules.aspect?.max ?? Number.POSITIVE_INFINITY;
  const clamped = Math.min(max, Math.max(min, sourceAspect));
  const preferred = rules.preferredAspect;
  if (preferred && within(preferred, rules.aspect) && Math.abs(clamped - preferred) / preferred < 0.02) {
    return preferred;
  }
  return clamped;
}

/** "aspect ratio 9:16" for a narrow tolerance band, else "aspect ratios 4:5 to 1.91:1". */
function describeAspects(range: Range): string {
  if (range.min !== undefined && range.max !== undefined && formatAspect(range.min) === formatAspect(range.max)) {
    return `only the aspect ratio ${formatAspect(range.min)}`;
  }
  return `aspect ratios ${describeRange(range, formatAspect)}`;
}

const fitWords: Record<FitMode, string> = {
  crop: 'crop',
  pad: 'pad with black bars',
  blur: 'pad on a blurred copy of itself',
};

function describeRange(range: Range, format: (n: number) => string): string {
  if (range.min !== undefined && range.max !== undefined) return `${format(range.min)} to ${format(range.max)}`;
  if (range.max !== undefined) return `at most ${format(range.max)}`;
  return `at least ${format(range.min ?? 0)}`;
}

// --- the largest video we take at all ------------------------------------------------------------

/**
 * No destination takes more than 4096 pixels on a side (TikTok's 360–4096 px is the most any
 * platform in platform-apis.md names; Instagram reels stop at 1920 wide, our export at 3840), so
 * anything larger is scaled down by us, and ffmpeg holds several decoded frames while it does: a
 * 16384×16384 frame is 400 MB in 4:2:0, gigabytes with a decoder's reference and threaded frames.
 * Twice TikTok's side still lets 8K camera and phone footage in (7680×4320, DCI 8192×4320); the
 * area is capped at DCI 8K's, so a side of 8192 only comes with a short other side.
 */
export const MAX_VIDEO_SIDE = 8192;
export const MAX_VIDEO_PIXELS = 8192 * 4320;

/** Why a video is too large to be worked on at all, or undefined when it is not. */
export function videoSizeRefusal(facts: Pick<VideoFacts, 'width' | 'height'>): string | undefined {
  const { width, height } = facts;
  if (width <= MAX_VIDEO_SIDE && height <= MAX_VIDEO_SIDE && width * height <= MAX_VIDEO_PIXELS) return undefined;
  return (
    `the video is ${width}×${height} pixels; at most ${MAX_VIDEO_SIDE} pixels on a side and ` +
    `${Math.floor(MAX_VIDEO_PIXELS / 100_000) / 10} megapixels (8K) are accepted`
  );
}

// --- checks ----------------------------------------------------------------------------------------

/** Every problem of one file for one target; an empty list means it can be sent as it is. */
export function checkMedia(facts: MediaFacts, rules: PlacementRules, options: CheckOptions = {}): MediaProblem[] {
  const where = options.platformLabel ? `${options.platformLabel} ${rules.label.toLowerCase()}` : rules.label;
  if (facts.kind === 'video') {
    if (!rules.video) {
      return [
        {
          code: 'kind_not_accepted',
          message: `${where} takes images, not videos.`,
          fixable: false,
          fix: 'Choose an image, or a placement that takes video.',
        },
      ];
    }
    return checkVideo(facts, rules.video, where, options.fit ?? 'pad');
  }
  if (!rules.image) {
    return [
      {
        code: 'kind_not_accepted',
        message: `${where} takes videos, not images.`,
        fixable: false,
        fix: 'Choose a video, or a placement that takes images.',
      },
    ];
  }
  return checkImage(facts, rules.image, where, options.fit ?? 'pad');
}

function checkVideo(facts: VideoFacts, rules: VideoRules, where: string, fit: FitMode): MediaProblem[] {
  const problems: MediaProblem[] = [];
  const add = (code: MediaProblemCode, message: string, fixable: boolean, fix: string) =>
    problems.push({ code, message, fixable, fix });

  // Refused at upload since the bound exists; files uploaded before it are refused here, before ffmpeg.
  const oversized = videoSizeRefusal(facts);
  if (oversized) {
    add(
      'dimensions_too_large',
      `${oversized[0]!.toUpperCase()}${oversized.slice(1)}.`,
      false,
      'Export it at 4K (3840×2160) or smaller and upload it again.',
    );
  }

  const { durationSec } = rules;
  if (durationSec.max !== undefined && facts.durationSec > durationSec.max) {
    add(
      'too_long',
      `The video is ${formatDuration(facts.durationSec)} long; ${where} accepts at most ${formatDuration(durationSec.max)}.`,
      false,
      `Trim it to ${formatDuration(durationSec.max)} or less and upload it again; it is never cut automatically.`,
    );
  }
  if (durationSec.min !== undefined && facts.durationSec < durationSec.min) {
    add(
      'too_short',
      `The video is ${formatDuration(facts.durationSec)} long; ${where} needs at least ${formatDuration(durationSec.min)}.`,
      false,
      `Upload a video of at least ${formatDuration(durationSec.min)}.`,
    );
  }
  if (!(rules.containers as readonly string[]).includes(facts.container)) {
    add(
      'container_not_accepted',
      `The file is ${facts.container === 'other' ? `in the ${facts.formatName} format` : `a ${facts.container.toUpperCase()} file`}; ${where} accepts ${upper(rules.containers)}.`,
      true,
      'It will be converted to MP4.',
    );
  }
  if (!(rules.videoCodecs as readonly string[]).includes(facts.videoCodec)) {
    add(
      'video_codec_not_accepted',
      `The video is encoded as ${describeCodec(facts.videoCodec)}; ${where} accepts ${list(rules.videoCodecs)}.`,
      true,
      'The video will be re-encoded as H.264.',
    );
  }
  if (facts.hasAudio && facts.audioCodec && !(rules.audioCodecs as readonly string[]).includes(facts.audioCodec)) {
    add(
      'audio_codec_not_accepted',
      `The sound is encoded as ${describeCodec(facts.audioCodec)}; ${where} accepts ${list(rules.audioCodecs)}.`,
      true,
      'The sound will be re-encoded as AAC.',
    );
  }
  if (facts.hasAudio) {
    // What the file does not say cannot be shown to meet a bound, so it is re-encoded, not assumed fine.
    const what: string[] = [];
    const bounded = (
      value: number | undefined,
      min: number | undefined,
      max: number | undefined,
      describe: (n: number) => string,
      unknown: string,
    ) => {
      if (min === undefined && max === undefined) return;
      if (value === undefined) what.push(unknown);
      else if (max !== undefined && value > max) what.push(`${describe(value)} (at most ${describe(max)})`);
      else if (min !== undefined && value < min) what.push(`${describe(value)} (at least ${describe(min)})`);
    };
    bounded(
      facts.audioSampleRate,
      rules.minAudioSampleRate,
      rules.maxAudioSampleRate,
      (n) => `${n} Hz`,
      'an unknown sample rate',
    );
    bounded(
      facts.audioChannels,
      rules.minAudioChannels,
      rules.maxAudioChannels,
      (n) => `${n} channel${n === 1 ? '' : 's'}`,
      'an unknown number of channels',
    );
    bounded(
      facts.audioBitrate,
      rules.minAudioBitrate,
      rules.maxAudioBitrate,
      (n) => `${Math.round(n / 1000)} kbit/s`,
      'a bit rate the file does not state',
    );
    if (rules.aacProfiles && facts.audioCodec === 'aac' && !rules.aacProfiles.includes(facts.audioProfile ?? '')) {
      what.push(
        `${facts.audioProfile ? `the ${facts.audioProfile} profile` : 'an unknown AAC profile'} (only ${rules.aacProfiles.map((p) => `AAC-${p}`).join(', ')})`,
      );
    }
    if (what.length > 0) {
      add(
        'audio_not_accepted',
        `The sound has ${what.join(', ')} for ${where}.`,
        true,
        `The sound will be re-encoded as stereo AAC-LC at 48 kHz, ${audioBitrateFor(rules) / 1000} kbit/s.`,
      );
    }
  }
  const rate = rules.frameRate;
  if (rate?.max !== undefined && facts.frameRate > rate.max + 0.01) {
    add(
      'frame_rate_too_high',
      `The video has ${facts.frameRate} frames per second; ${where} accepts at most ${rate.max}.`,
      true,
      `The frame rate will be lowered to ${rate.max} per second.`,
    );
  }
  if (rate?.min !== undefined && facts.frameRate < rate.min - 0.01) {
    add(
      'frame_rate_too_low',
      `The video has ${facts.frameRate} frames per second; ${where} needs at least ${rate.min}.`,
      true,
      `Frames will be repeated to reach ${rate.min} per second; motion will look the same.`,
    );
  }
  if (rules.constantFrameRate && facts.variableFrameRate) {
    add(
      'variable_frame_rate',
      `The video has a variable frame rate; ${where} needs a constant one.`,
      true,
      'It will be converted to a constant frame rate.',
    );
  }
  problems.push(...checkGeometry(facts, rules, where, fit));
  if (
    rules.maxVideoBitrate !== undefined &&
    (facts.videoBitrate === undefined || facts.videoBitrate > rules.maxVideoBitrate)
  ) {
    add(
      'video_bitrate_too_high',
      facts.videoBitrate === undefined
        ? `The file does not say the video's bit rate; ${where} accepts at most ${formatRate(rules.maxVideoBitrate)}.`
        : `The video's bit rate is ${formatRate(facts.videoBitrate)}; ${where} accepts at most ${formatRate(rules.maxVideoBitrate)}.`,
      true,
      `It will be re-encoded at ${formatRate(rules.maxVideoBitrate)} or less.`,
    );
  }
  if (rules.progressive && facts.interlaced) {
    add('interlaced', `The video is interlaced; ${where} needs progressive frames.`, true, 'It will be deinterlaced.');
  }
  if (rules.chroma420 && facts.pixelFormat && !CHROMA_420.test(facts.pixelFormat)) {
    add(
      'pixel_format_not_accepted',
      `The video's pixel format is ${facts.pixelFormat}; ${where} needs 4:2:0 colour (yuv420p).`,
      true,
      'It will be re-encoded in 4:2:0 colour.',
    );
  }
  if (rules.faststart && facts.faststart === false) {
    add(
      'index_not_at_start',
      `The file's index (moov atom) is at its end; ${where} needs it at the start.`,
      true,
      'The index will be moved to the start (no re-encoding).',
    );
  }
  if (rules.maxBytes !== undefined && facts.bytes > rules.maxBytes) {
    const smallest = (facts.durationSec * (MIN_VIDEO_BITRATE + (facts.hasAudio ? audioBitrateFor(rules) : 0))) / 8;
    const fixable = smallest <= rules.maxBytes * 0.95;
    add(
      'file_too_large',
      `The file is ${formatBytes(facts.bytes)}; ${where} accepts at most ${formatBytes(rules.maxBytes)}.`,
      fixable,
      fixable
        ? `It will be re-encoded at a lower bit rate to fit under ${formatBytes(rules.maxBytes)}.`
        : 'It is too long to fit at a watchable quality: upload a shorter video.',
    );
  }
  return problems;
}

function checkGeometry(
  facts: { width: number; height: number },
  rules: { aspect?: Range; preferredAspect?: number; width?: Range; height?: Range },
  where: string,
  fit: FitMode,
): MediaProblem[] {
  const problems: MediaProblem[] = [];
  const aspect = facts.width / facts.height;
  if (!within(aspect, rules.aspect)) {
    const target = targetAspect(aspect, rules);
    problems.push({
      code: 'aspect_ratio_out_of_range',
      message: `The picture is ${facts.width}×${facts.height} (${formatAspect(aspect)}); ${where} accepts ${describeAspects(rules.aspect ?? {})}.`,
      fixable: true,
      fix: `It will be reframed to ${formatAspect(target)} (${fitWords[fit]}).`,
    });
  }
  const tooLarge =
    (rules.width?.max !== undefined && facts.width > rules.width.max) ||
    (rules.height?.max !== undefined && facts.height > rules.height.max);
  const tooSmall =
    (rules.width?.min !== undefined && facts.width < rules.width.min) ||
    (rules.height?.min !== undefined && facts.height < rules.height.min);
  // Only the sides a rule bounds are named ("width at most 1440 pixels"), never "at least 0".
  const sides = (['width', 'height'] as const)
    .filter((side) => rules[side]?.min !== undefined || rules[side]?.max !== undefined)
    .map((side) => `${side} ${describeRange(rules[side]!, (n) => `${n}`)}`);
  const bounds = `${sides.join(' and ')} pixels`;
  if (tooLarge) {
    problems.push({
      code: 'dimensions_too_large',
      message: `The picture is ${facts.width}×${facts.height}; ${where} accepts ${bounds}.`,
      fixable: true,
      fix: 'It will be scaled down to fit.',
    });
  }
  if (tooSmall) {
    problems.push({
      code: 'dimensions_too_small',
      message: `The picture is ${facts.width}×${facts.height}; ${where} accepts ${bounds}.`,
      fixable: true,
      fix: 'It will be scaled up to the minimum size, which may look soft.',
    });
  }
  return problems;
}

const imageFormatName: Record<string, string> = {
  jpeg: 'JPEG',
  png: 'PNG',
  webp: 'WebP',
  gif: 'GIF',
  heif: 'HEIF/AVIF',
};

function checkImage(facts: ImageFacts, rules: ImageRules, where: string, fit: FitMode): MediaProblem[] {
  const problems: MediaProblem[] = [];
  const accepted = rules.formats as readonly string[];
  const format = facts.format === 'heif' ? 'avif' : facts.format;
  if (!accepted.includes(format)) {
    problems.push({
      code: 'format_not_accepted',
      message: `The image is ${imageFormatName[facts.format] ?? facts.format.toUpperCase()}; ${where} accepts ${rules.formats.map((f) => imageFormatName[f] ?? f.toUpperCase()).join(', ')}.`,
      fixable: true,
      fix: `It will be converted to ${imageFormatName[rules.formats[0] ?? 'jpeg']}.`,
    });
  }
  problems.push(...checkGeometry(facts, rules, where, fit));
  if (rules.srgb && facts.space && facts.space !== 'srgb' && facts.space !== 'b-w') {
    problems.push({
      code: 'colour_space_not_srgb',
      message: `The image's colours are ${facts.space.toUpperCase()}; ${where} shows sRGB.`,
      fixable: true,
      fix: 'Its colours will be converted to sRGB.',
    });
  }
  if (facts.bytes > rules.maxBytes) {
    problems.push({
      code: 'file_too_large',
      message: `The image is ${formatBytes(facts.bytes)}; ${where} accepts at most ${formatBytes(rules.maxBytes)}.`,
      fixable: true,
      fix: `It will be re-compressed (and scaled down if needed) to fit under ${formatBytes(rules.maxBytes)}.`,
    });
  }
  return problems;
}

/** True when every problem will be fixed by the render step. */
export const allFixable = (problems: MediaProblem[]) => problems.every((p) => p.fixable);
