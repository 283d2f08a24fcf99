import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { type MediaPlatform, type Placement, type PlacementRules, placementRules } from '../../domain/media-rules.js';
import { findMediaTools } from '../../media/tools.js';

// Test media made on the spot with the system's ffmpeg: synthetic pictures and tones, tiny and
// short unless size or length is what the test is about.

const run = promisify(execFile);
export const tools = findMediaTools({});

export interface VideoSpec {
  width?: number;
  height?: number;
  seconds?: number;
  fps?: number;
  codec?: 'h264' | 'hevc' | 'vp9';
  /** Silent when false. */
  audio?: boolean | 'opus' | 'mp3';
  audioRate?: number;
  audioChannels?: number;
  /** Picked from the file name's extension unless given. */
  format?: 'mp4' | 'mov' | 'matroska' | 'webm';
  /** Write the moov atom first (default true for mp4/mov). */
  faststart?: boolean;
  /** Drop frames irregularly: variable frame rate. */
  variableFrameRate?: boolean;
  /** Display rotation written into the container (mp4/mov). */
  rotate?: 90 | 180 | 270;
  /** Video bit rate, e.g. "2M"; noise is added so the encoder spends it. */
  bitrate?: string;
  /** A GPS "location" tag, as phones write it. */
  location?: string;
  /** e.g. yuv422p (H.264 only). */
  pixelFormat?: string;
  /** Interlaced, top field first (H.264 only). */
  interlaced?: boolean;
}

export async function makeVideo(path: string, spec: VideoSpec = {}): Promise<string> {
  const { width = 180, height = 320, seconds = 2, fps = 30, codec = 'h264', audio = true } = spec;
  const format = spec.format ?? (path.endsWith('.webm') ? 'webm' : path.endsWith('.mkv') ? 'matroska' : 'mp4');
  const filters = [
    ...(spec.bitrate ? ['noise=alls=60:allf=t'] : []),
    ...(spec.variableFrameRate ? ["select='lt(mod(n\\,10)\\,3)+eq(mod(n\\,7)\\,0)'"] : []),
  ];
  const audioCodec = audio === 'opus' ? 'libopus' : audio === 'mp3' ? 'libmp3lame' : 'aac';
  const videoArgs =
    codec === 'hevc'
      ? ['-c:v', 'libx265', '-preset', 'ultrafast', '-x265-params', 'log-level=error', '-tag:v', 'hvc1']
      : codec === 'vp9'
        ? ['-c:v', 'libvpx-vp9', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', spec.bitrate ?? '200k']
        : [
            ...['-c:v', 'libx264', '-preset', 'ultrafast'],
            ...(spec.bitrate ? ['-b:v', spec.bitrate] : ['-crf', '30']),
            ...(spec.interlaced ? ['-flags', '+ilme+ildct', '-top', '1'] : []),
          ];
  const args = [
    '-hide_banner',
    '-loglevel',
    'error',
    '-y',
    '-f',
    'lavfi',
    '-i',
    `testsrc2=s=${width}x${height}:r=${fps}:d=${seconds}`,
    ...(audio
      ? [
          '-f',
          'lavfi',
          '-i',
          `sine=frequency=440:sample_rate=${spec.audioRate ?? 44100}:d=${seconds}`,
          '-ac',
          String(spec.audioChannels ?? 1),
        ]
      : []),
    ...(filters.length ? ['-vf', filters.join(',')] : []),
    ...(spec.variableFrameRate ? ['-fps_mode', 'vfr'] : []),
    ...videoArgs,
    '-pix_fmt',
    spec.pixelFormat ?? 'yuv420p',
    ...(audio ? ['-c:a', audioCodec, '-b:a', '64k'] : []),
    ...(spec.location ? ['-metadata', `location=${spec.location}`] : []),
    ...((format === 'mp4' || format === 'mov') && spec.faststart !== false ? ['-movflags', '+faststart'] : []),
    '-f',
    format,
    path,
  ];
  await run(tools.ffmpeg, args);
  if (spec.rotate) {
    const rotated = `${path}.rotated.${format === 'mov' ? 'mov' : 'mp4'}`;
    await run(tools.ffmpeg, [
      ...['-hide_banner', '-loglevel', 'error', '-y', '-i', path, '-c', 'copy'],
      ...['-metadata:s:v:0', `rotate=${spec.rotate}`],
      ...(spec.faststart !== false ? ['-movflags', '+faststart'] : []),
      ...['-f', format, rotated],
    ]);
    await rename(rotated, path);
  }
  return path;
}

/** Reads every global and stream tag of a file (to prove metadata was stripped). */
export async function tagsOf(path: string): Promise<Record<string, string>> {
  const { stdout } = await run(tools.ffprobe, ['-v', 'error', '-print_format', 'json', '-show_format', path]);
  return (JSON.parse(stdout) as { format?: { tags?: Record<string, string> } }).format?.tags ?? {};
}

export async function tempDir(prefix: string) {
  const dir = await mkdtemp(join(tmpdir(), `${prefix}-`));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** A placement's rules, which the test names and therefore must exist. */
export function rulesOf(platform: MediaPlatform, placement: Placement): PlacementRules {
  const rules = placementRules(platform, placement);
  if (!rules) throw new Error(`no ${platform} ${placement}`);
  return rules;
}

export interface GifSpec {
  width?: number;
  height?: number;
  /** One colour per frame; with `noise`, the frames are noisy pictures instead (large files). */
  frames?: string[];
  noise?: boolean;
  /** Hundredths of a second each frame shows. */
  delayMs?: number;
  /** A comment block and an XMP packet, written after the colour table, as editors write them. */
  metadata?: { comment: string; xmp: string };
}

/** An animated GIF made with sharp, looping for ever, optionally carrying metadata blocks. */
export async function animatedGif(spec: GifSpec = {}): Promise<Buffer> {
  const { width = 120, height = 90, frames = ['#ff0000', '#00ff00', '#0000ff'], delayMs = 200 } = spec;
  const pictures = frames.map((colour) => {
    // Random pixels: nothing for LZW to find, so the file is about a byte per pixel per frame.
    if (spec.noise) return Promise.resolve(randomBytes(width * height * 3));
    return sharp({ create: { width, height, channels: 3, background: colour } })
      .raw()
      .toBuffer();
  });
  const gif = await sharp(Buffer.concat(await Promise.all(pictures)), {
    raw: { width, height: height * frames.length, channels: 3, pageHeight: height },
  })
    // The quickest quantising: noise looks like noise whatever the palette.
    .gif({ loop: 0, delay: frames.map(() => delayMs), ...(spec.noise ? { effort: 1, dither: 0 } : {}) })
    .toBuffer();
  if (!spec.metadata) return gif;
  const packed = gif[10]!;
  const tableEnd = 13 + (packed & 0x80 ? 3 * 2 ** ((packed & 0x07) + 1) : 0);
  const subBlocks = (data: Buffer) => {
    const parts: Buffer[] = [];
    for (let at = 0; at < data.length; at += 255) {
      const part = data.subarray(at, at + 255);
      parts.push(Buffer.from([part.length]), part);
    }
    return Buffer.concat([...parts, Buffer.from([0])]);
  };
  const comment = Buffer.concat([Buffer.from([0x21, 0xfe]), subBlocks(Buffer.from(spec.metadata.comment))]);
  const xmp = Buffer.concat([
    Buffer.from([0x21, 0xff, 11]),
    Buffer.from('XMP DataXMP'),
    subBlocks(Buffer.from(spec.metadata.xmp)),
  ]);
  return Buffer.concat([gif.subarray(0, tableEnd), comment, xmp, gif.subarray(tableEnd)]);
}
