import { open, stat } from 'node:fs/promises';
import sharp, { type Metadata } from 'sharp';
import type { VideoContainer } from '../domain/media-rules.js';
import { formatSeconds, MediaToolTimeoutError, runTool, withoutPaths } from './tools.js';

// The facts about a media file that the platform rules speak of, read from the file itself
// (ffprobe for video, sharp for images), never from its name or the client's claims.

export interface VideoFacts {
  kind: 'video';
  bytes: number;
  /** Known containers by name; anything else is `other` (see formatName). */
  container: VideoContainer | 'other';
  /** ffprobe's format name, e.g. "mov,mp4,m4a,3gp,3g2,mj2". */
  formatName: string;
  durationSec: number;
  /** As displayed, after rotation. */
  width: number;
  height: number;
  /** As stored in the stream, before rotation. */
  codedWidth: number;
  codedHeight: number;
  /** The display rotation in degrees (0, 90, 180 or 270), from the display matrix or a rotate tag. */
  rotation: 0 | 90 | 180 | 270;
  videoCodec: string;
  pixelFormat?: string;
  /** Frames per second: the average over the file. */
  frameRate: number;
  /** Frame intervals vary noticeably (typical of phone recordings). */
  variableFrameRate: boolean;
  interlaced: boolean;
  /**
   * Bits per second: the stream's own figure, else Matroska's statistics tags, else the container's
   * rate less the sound's (an upper bound). Undefined when nothing tells: never read it as 0.
   */
  videoBitrate?: number;
  hasAudio: boolean;
  audioCodec?: string;
  /** ffprobe's profile name, e.g. "LC", "HE-AAC", "HE-AACv2", "Main" for AAC. */
  audioProfile?: string;
  audioSampleRate?: number;
  audioChannels?: number;
  /** Bits per second: the stream's own figure, its statistics tags, else measured over its first packets. */
  audioBitrate?: number;
  /** MP4/MOV only: the index (moov) precedes the media data (mdat). */
  faststart?: boolean;
}

export interface ImageFacts {
  kind: 'image';
  bytes: number;
  /** sharp's format name: jpeg, png, webp, gif, heif, tiff, … */
  format: string;
  /** As displayed, after EXIF orientation. */
  width: number;
  height: number;
  /** EXIF orientation 1..8 (1 when absent). */
  orientation: number;
  /** Colour space, e.g. srgb, cmyk, b-w. */
  space?: string;
  hasIccProfile: boolean;
  hasExif: boolean;
}

export type MediaFacts = VideoFacts | ImageFacts;

export class ProbeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProbeError';
  }
}

/** ffprobe did not finish reading the file in time and was killed. */
export class ProbeTimeoutError extends ProbeError {
  constructor(readonly timeoutMs: number) {
    super(`could not read this video within ${formatSeconds(timeoutMs)}`);
    this.name = 'ProbeTimeoutError';
  }
}

/**
 * How long reading a video's facts may take, all of ffprobe's runs together. A sound file is read
 * in well under a second; a crafted one can make ffprobe spin or wait forever, holding an upload
 * request (or a render) and its process.
 */
export const PROBE_TIMEOUT_MS = 30_000;

export interface ProbeOptions {
  signal?: AbortSignal | undefined;
  /** Default PROBE_TIMEOUT_MS. */
  timeoutMs?: number | undefined;
}

// --- ffprobe JSON ------------------------------------------------------------------------------

interface ProbeStream {
  codec_type?: string;
  codec_name?: string;
  profile?: string;
  width?: number;
  height?: number;
  pix_fmt?: string;
  field_order?: string;
  r_frame_rate?: string;
  avg_frame_rate?: string;
  bit_rate?: string;
  duration?: string;
  sample_rate?: string;
  channels?: number;
  tags?: Record<string, string>;
  side_data_list?: { side_data_type?: string; rotation?: number }[];
  disposition?: { attached_pic?: number };
}

export interface ProbeJson {
  streams?: ProbeStream[];
  format?: {
    format_name?: string;
    duration?: string;
    size?: string;
    bit_rate?: string;
    tags?: Record<string, string>;
  };
}

/** What ffprobe's JSON cannot tell, read from the file separately. */
export interface ProbeExtras {
  bytes: number;
  /** Sorted presentation times (seconds) of the first video packets. */
  packetTimes?: number[];
  /** The EBML DocType of a Matroska file ("webm" or "matroska"). */
  matroskaDocType?: string;
  faststart?: boolean;
  /** Bytes and seconds of the first audio packets, for a sound whose bit rate the file does not state. */
  audioSample?: { bytes: number; seconds: number };
}

const parseRate = (rate: string | undefined): number => {
  if (!rate) return 0;
  const [num, den] = rate.split('/').map(Number);
  if (num === undefined || !Number.isFinite(num)) return 0;
  if (den === undefined) return num;
  return den > 0 ? num / den : 0;
};

const parseNumber = (value: string | undefined): number | undefined => {
  if (value === undefined) return undefined;
  const n = Number(value);
  return Number.isFinite(n) ? n : undefined;
};

/** Matroska's "DURATION" tag: "00:01:02.500000000". */
const parseClock = (value: string | undefined): number | undefined => {
  const m = value?.match(/^(\d+):(\d{2}):(\d{2}(?:\.\d+)?)$/);
  return m ? Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]) : undefined;
};

/** A tag by its name, or with the language suffix mkvmerge adds ("BPS-eng"). */
const tagOf = (tags: Record<string, string> | undefined, name: string) =>
  tags?.[name] ?? Object.entries(tags ?? {}).find(([key]) => key.startsWith(`${name}-`))?.[1];

/**
 * A stream's bit rate as the file states it. Matroska keeps none per stream; mkvmerge (and some
 * other muxers) write statistics tags instead, which ffprobe passes on. ffmpeg's muxer writes none.
 */
function statedBitrate(stream: ProbeStream | undefined): number | undefined {
  if (!stream) return undefined;
  const stated = parseNumber(stream.bit_rate) ?? parseNumber(tagOf(stream.tags, 'BPS'));
  if (stated !== undefined && stated > 0) return stated;
  const bytes = parseNumber(tagOf(stream.tags, 'NUMBER_OF_BYTES'));
  const seconds = parseNumber(stream.duration) ?? parseClock(tagOf(stream.tags, 'DURATION'));
  return bytes !== undefined && seconds ? Math.round((bytes * 8) / seconds) : undefined;
}

function normaliseRotation(degrees: number): 0 | 90 | 180 | 270 {
  const quarter = Math.round((((degrees % 360) + 360) % 360) / 90) % 4;
  return ([0, 90, 180, 270] as const)[quarter] ?? 0;
}

function containerOf(formatName: string, tags: Record<string, string> | undefined, docType?: string) {
  const names = formatName.split(',');
  if (names.includes('mov') || names.includes('mp4')) {
    return tags?.major_brand?.trim() === 'qt' ? 'mov' : 'mp4';
  }
  if (names.includes('matroska') || names.includes('webm')) return docType === 'webm' ? 'webm' : 'mkv';
  if (names.includes('avi')) return 'avi';
  return 'other';
}

/**
 * Frame intervals that stray from the typical one by more than a quarter, in more than 2 % of
 * intervals, mean variable frame rate; timestamp rounding in constant-rate files stays far below.
 */
export function isVariableFrameRate(sortedTimes: number[]): boolean {
  const deltas: number[] = [];
  for (let i = 1; i < sortedTimes.length; i++) {
    const d = sortedTimes[i]! - sortedTimes[i - 1]!;
    if (d > 0) deltas.push(d);
  }
  if (deltas.length < 4) return false;
  const median = [...deltas].sort((a, b) => a - b)[Math.floor(deltas.length / 2)]!;
  const off = deltas.filter((d) => Math.abs(d - median) > median * 0.25).length;
  return off > Math.max(1, deltas.length * 0.02);
}

/** Turns ffprobe's `-show_format -show_streams` JSON into facts; pure, so tests can feed it JSON. */
export function videoFactsFromProbe(json: ProbeJson, extras: ProbeExtras): VideoFacts {
  const streams = json.streams ?? [];
  const video = streams.find((s) => s.codec_type === 'video' && !s.disposition?.attached_pic);
  if (!video?.codec_name || !video.width || !video.height) throw new ProbeError('the file has no video track');
  const audio = streams.find((s) => s.codec_type === 'audio');
  const formatName = json.format?.format_name ?? '';

  const matrix = video.side_data_list?.find((d) => d.side_data_type === 'Display Matrix');
  const rotation = normaliseRotation(matrix?.rotation ?? parseNumber(video.tags?.rotate) ?? 0);
  const sideways = rotation === 90 || rotation === 270;

  const durationSec =
    parseNumber(json.format?.duration) ?? parseNumber(video.duration) ?? parseClock(video.tags?.DURATION) ?? 0;
  const avg = parseRate(video.avg_frame_rate);
  const frameRate = avg > 0 ? avg : parseRate(video.r_frame_rate);

  const sample = extras.audioSample;
  const audioBitrate =
    statedBitrate(audio) ??
    (sample && sample.seconds > 0 ? Math.round((sample.bytes * 8) / sample.seconds) : undefined);
  // The container's rate covers every stream and its own overhead, so what is left after the sound
  // can only overstate the video's: safe against a maximum.
  const total = parseNumber(json.format?.bit_rate);
  const videoBitrate =
    statedBitrate(video) ?? (total !== undefined && total > 0 ? Math.max(0, total - (audioBitrate ?? 0)) : undefined);

  return {
    kind: 'video',
    bytes: extras.bytes,
    container: containerOf(formatName, json.format?.tags, extras.matroskaDocType),
    formatName,
    durationSec,
    width: sideways ? video.height : video.width,
    height: sideways ? video.width : video.height,
    codedWidth: video.width,
    codedHeight: video.height,
    rotation,
    videoCodec: video.codec_name,
    pixelFormat: video.pix_fmt,
    frameRate: Math.round(frameRate * 1000) / 1000,
    variableFrameRate: extras.packetTimes ? isVariableFrameRate(extras.packetTimes) : false,
    interlaced: !!video.field_order && !['progressive', 'unknown'].includes(video.field_order),
    videoBitrate,
    hasAudio: !!audio,
    audioCodec: audio?.codec_name,
    audioProfile: audio?.profile,
    audioSampleRate: parseNumber(audio?.sample_rate),
    audioChannels: audio?.channels,
    audioBitrate,
    faststart: extras.faststart,
  };
}

// --- reading the file ----------------------------------------------------------------------------

async function readHead(path: string, length: number, position = 0): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(length);
    const { bytesRead } = await handle.read(buffer, 0, length, position);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/**
 * Walks the top-level ISO-BMFF boxes (a few 16-byte reads, whatever the file size) and tells
 * whether `moov` comes before `mdat`. Undefined when neither is found.
 */
export async function moovBeforeMdat(path: string): Promise<boolean | undefined> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    const header = Buffer.alloc(16);
    let position = 0;
    for (let boxes = 0; position + 8 <= size && boxes < 10_000; boxes++) {
      const { bytesRead } = await handle.read(header, 0, 16, position);
      if (bytesRead < 8) return undefined;
      let boxSize = header.readUInt32BE(0);
      const type = header.toString('latin1', 4, 8);
      if (type === 'moov') return true;
      if (type === 'mdat') return false;
      if (boxSize === 1) {
        if (bytesRead < 16) return undefined;
        boxSize = Number(header.readBigUInt64BE(8));
      } else if (boxSize === 0) {
        return undefined;
      }
      if (boxSize < 8) return undefined;
      position += boxSize;
    }
    return undefined;
  } finally {
    await handle.close();
  }
}

function matroskaDocType(head: Buffer): string | undefined {
  if (head.readUInt32BE(0) !== 0x1a45dfa3) return undefined;
  const at = head.indexOf(Buffer.from([0x42, 0x82]));
  if (at < 0) return undefined;
  const text = head.toString('latin1', at + 3, at + 3 + 8);
  return text.startsWith('webm') ? 'webm' : text.startsWith('matroska') ? 'matroska' : undefined;
}

/** Probes a video file with ffprobe (two short runs: the header, then the first few hundred packets). */
export async function probeVideo(path: string, ffprobe: string, options: ProbeOptions = {}): Promise<VideoFacts> {
  const { signal } = options;
  const timeoutMs = options.timeoutMs ?? PROBE_TIMEOUT_MS;
  const deadline = Date.now() + timeoutMs;
  // One deadline for every run: each gets what is left of it.
  const run = (args: string[], maxStdoutBytes: number) =>
    runTool(ffprobe, args, { signal, maxStdoutBytes, timeoutMs: Math.max(1, deadline - Date.now()) });
  // The later runs only refine the facts (frame timing, the sound's rate): their failure is no
  // reason to refuse the file, but running out of time is.
  const refinement = (error: unknown): string => {
    if (signal?.aborted) throw error;
    if (error instanceof MediaToolTimeoutError) throw new ProbeTimeoutError(timeoutMs);
    return '';
  };

  const { size } = await stat(path);
  let json: ProbeJson;
  try {
    const out = await run(
      ['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams', path],
      4 * 1024 * 1024,
    );
    json = JSON.parse(out) as ProbeJson;
  } catch (error) {
    if (signal?.aborted) throw error;
    if (error instanceof MediaToolTimeoutError) throw new ProbeTimeoutError(timeoutMs);
    throw new ProbeError(`the file could not be read as a video (${withoutPaths((error as Error).message, [path])})`);
  }
  const hasVideo = json.streams?.some((s) => s.codec_type === 'video' && !s.disposition?.attached_pic);
  const formatName = json.format?.format_name ?? '';
  if (!hasVideo || /(^|,)(image2|png_pipe|jpeg_pipe|webp_pipe|gif)(,|$)/.test(formatName)) {
    throw new ProbeError('the file has no video track');
  }

  const packets = await run(
    [
      '-v',
      'error',
      '-select_streams',
      'v:0',
      '-read_intervals',
      '%+#300',
      '-show_entries',
      'packet=pts_time',
      '-of',
      'csv=p=0',
      path,
    ],
    1024 * 1024,
  ).catch(refinement);
  const packetTimes = packets
    .split('\n')
    .map((l) => Number.parseFloat(l))
    .filter((n) => Number.isFinite(n))
    .sort((a, b) => a - b);

  const audio = json.streams?.find((s) => s.codec_type === 'audio');
  const audioSample =
    audio && statedBitrate(audio) === undefined
      ? await sampleAudio(path, (args) => run(args, 1024 * 1024).catch(refinement))
      : undefined;

  const head = await readHead(path, 64);
  const isIsoBmff = head.toString('latin1', 4, 8) === 'ftyp';
  return videoFactsFromProbe(json, {
    bytes: size,
    packetTimes,
    matroskaDocType: matroskaDocType(head),
    faststart: isIsoBmff ? await moovBeforeMdat(path) : undefined,
    audioSample,
  });
}

/**
 * Sizes and durations of the first 500 audio packets (about 10 s of AAC): enough to tell a sound's
 * rate without reading a long file to its end.
 */
async function sampleAudio(
  path: string,
  run: (args: string[]) => Promise<string>,
): Promise<{ bytes: number; seconds: number } | undefined> {
  const out = await run([
    ...['-v', 'error', '-select_streams', 'a:0', '-read_intervals', '%+#500'],
    ...['-show_entries', 'packet=duration_time,size', '-of', 'csv=p=0', path],
  ]);
  let bytes = 0;
  let seconds = 0;
  for (const line of out.split('\n')) {
    const [duration, packetSize] = line.split(',').map(Number);
    if (!Number.isFinite(duration) || !Number.isFinite(packetSize) || duration! <= 0) continue;
    seconds += duration!;
    bytes += packetSize!;
  }
  return seconds > 0 ? { bytes, seconds } : undefined;
}

/** Reads an image's facts with sharp (header only; the pixels are not decoded). */
export async function probeImage(path: string): Promise<ImageFacts> {
  const { size } = await stat(path);
  let meta: Metadata;
  try {
    meta = await sharp(path).metadata();
  } catch (error) {
    throw new ProbeError(`the file could not be read as an image (${withoutPaths((error as Error).message, [path])})`);
  }
  if (!meta.format || !meta.width || !meta.height) throw new ProbeError('the file could not be read as an image');
  const orientation = meta.orientation ?? 1;
  const sideways = orientation >= 5;
  return {
    kind: 'image',
    bytes: size,
    format: meta.format,
    width: sideways ? meta.height : meta.width,
    height: sideways ? meta.width : meta.height,
    orientation,
    space: meta.space,
    hasIccProfile: !!meta.icc,
    hasExif: !!meta.exif,
  };
}
