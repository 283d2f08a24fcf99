import { execFile } from 'node:child_process';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PlacementRules } from '../domain/media-rules.js';
import { checkMedia } from '../media/check.js';
import { probeVideo, type VideoFacts, videoFactsFromProbe } from '../media/probe.js';
import { copyWithoutMetadata, planTranscode, runTranscode } from '../media/transcode.js';
import { makeVideo, rulesOf, tempDir, tools } from './helpers/media-files.js';

// What a platform receives is judged from the file ffmpeg wrote, probed again and, for the MP4
// structure, read box by box: the planner's own idea of its output is never trusted.

const run = promisify(execFile);

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('delivery'));
});
afterAll(async () => {
  await cleanup?.();
});

const file = (name: string) => join(dir, name);

/** A clip from ffmpeg's lavfi sources with the encoder arguments given. */
async function lavfiClip(path: string, seconds: number, size: string, args: string[]): Promise<string> {
  await run(tools.ffmpeg, [
    ...['-hide_banner', '-loglevel', 'error', '-y'],
    ...['-f', 'lavfi', '-i', `testsrc2=s=${size}:r=30:d=${seconds}`],
    ...['-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=48000:d=${seconds}`],
    ...args,
    path,
  ]);
  return path;
}

let outputs = 0;
async function render(source: string, rules: PlacementRules) {
  const facts = await probeVideo(source, tools.ffprobe);
  const plan = planTranscode(facts, rules, { preset: 'ultrafast' });
  const output = file(`out-${++outputs}.mp4`);
  const wrote = await runTranscode(plan, facts, source, output, { ffmpeg: tools.ffmpeg, preset: 'ultrafast' });
  const result: VideoFacts = wrote ? await probeVideo(output, tools.ffprobe) : facts;
  return { facts, plan, result, output, wrote };
}

const CONTAINER_BOXES = new Set(['moov', 'trak', 'edts', 'mdia', 'minf', 'stbl', 'dinf', 'udta', 'mvex']);

/** The types of every box inside moov (ISO-BMFF), read from the file's structure, not its bytes at large. */
async function moovBoxTypes(path: string): Promise<string[]> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    const header = Buffer.alloc(16);
    for (let position = 0; position + 8 <= size; ) {
      await handle.read(header, 0, 16, position);
      let boxSize = header.readUInt32BE(0);
      let headerSize = 8;
      if (boxSize === 1) {
        boxSize = Number(header.readBigUInt64BE(8));
        headerSize = 16;
      } else if (boxSize === 0) {
        boxSize = size - position;
      }
      if (header.toString('latin1', 4, 8) === 'moov') {
        const body = Buffer.alloc(boxSize - headerSize);
        await handle.read(body, 0, body.length, position + headerSize);
        return ['moov', ...childTypes(body)];
      }
      position += boxSize;
    }
    throw new Error(`${path} has no moov box`);
  } finally {
    await handle.close();
  }
}

function childTypes(body: Buffer): string[] {
  const types: string[] = [];
  for (let at = 0; at + 8 <= body.length; ) {
    const boxSize = body.readUInt32BE(at);
    const type = body.toString('latin1', at + 4, at + 8);
    if (boxSize < 8) break;
    types.push(type);
    if (CONTAINER_BOXES.has(type)) types.push(...childTypes(body.subarray(at + 8, at + boxSize)));
    at += boxSize;
  }
  return types;
}

describe('bit rates that ffprobe does not state per stream are estimated, never taken as 0', () => {
  it('re-encodes a 40 Mbit/s H.264 + 320 kbit/s AAC Matroska file for an Instagram Reel instead of copying it', async () => {
    const source = await lavfiClip(file('hot.mkv'), 4, '360x640', [
      ...['-vf', 'noise=alls=60:allf=t', '-c:v', 'libx264', '-preset', 'ultrafast'],
      ...['-b:v', '40M', '-maxrate', '40M', '-bufsize', '40M', '-pix_fmt', 'yuv420p'],
      ...['-c:a', 'aac', '-b:a', '320k', '-ac', '2', '-f', 'matroska'],
    ]);
    const rules = rulesOf('instagram', 'reel');
    const { facts, plan, result } = await render(source, rules);
    expect(facts.container).toBe('mkv');
    expect(facts.videoBitrate).toBeGreaterThan(25_000_000);
    expect(facts.audioBitrate).toBeGreaterThan(128_000);
    expect(plan.problems.map((p) => p.code)).toEqual(
      expect.arrayContaining(['video_bitrate_too_high', 'audio_not_accepted']),
    );
    expect(plan.action).toBe('transcode');
    expect(plan.action === 'transcode' && plan.output.copyAudio).toBe(false);
    expect(result.videoBitrate).toBeLessThanOrEqual(25_000_000);
    expect(result.audioBitrate).toBeLessThanOrEqual(128_000);
    expect(checkMedia(result, rules)).toEqual([]);
  });

  it('reads Matroska statistics tags (BPS, NUMBER_OF_BYTES) as mkvmerge writes them', () => {
    const facts = videoFactsFromProbe(
      {
        streams: [
          {
            codec_type: 'video',
            codec_name: 'h264',
            width: 1080,
            height: 1920,
            tags: { 'BPS-eng': '40000000', DURATION: '00:00:10.000000000' },
          },
          {
            codec_type: 'audio',
            codec_name: 'aac',
            tags: { 'NUMBER_OF_BYTES-eng': '400000', DURATION: '00:00:10.000000000' },
          },
        ],
        format: { format_name: 'matroska,webm', duration: '10.0', bit_rate: '40400000' },
      },
      { bytes: 50_500_000 },
    );
    expect(facts).toMatchObject({ videoBitrate: 40_000_000, audioBitrate: 320_000 });
  });

  it('takes the container rate, less the sound, when the video stream states none', () => {
    const facts = videoFactsFromProbe(
      {
        streams: [
          { codec_type: 'video', codec_name: 'h264', width: 1080, height: 1920 },
          { codec_type: 'audio', codec_name: 'aac', bit_rate: '320000' },
        ],
        format: { format_name: 'matroska,webm', duration: '10.0', bit_rate: '40320000' },
      },
      { bytes: 50_400_000 },
    );
    expect(facts.videoBitrate).toBe(40_000_000);
  });

  it('treats a bit rate nobody can tell as needing a re-encode where a maximum applies', () => {
    const facts = videoFactsFromProbe(
      {
        streams: [
          { codec_type: 'video', codec_name: 'h264', width: 1080, height: 1920, avg_frame_rate: '30/1' },
          { codec_type: 'audio', codec_name: 'aac', profile: 'LC', sample_rate: '48000', channels: 2 },
        ],
        format: { format_name: 'mov,mp4,m4a,3gp,3g2,mj2', duration: '10.0' },
      },
      { bytes: 5_000_000, faststart: true },
    );
    expect(facts.videoBitrate).toBeUndefined();
    expect(facts.audioBitrate).toBeUndefined();
    const codes = checkMedia({ ...facts, pixelFormat: 'yuv420p' }, rulesOf('instagram', 'reel')).map((p) => p.code);
    expect(codes).toEqual(['audio_not_accepted', 'video_bitrate_too_high']);
  });
});

describe('MP4 renditions for Instagram carry no edit list', () => {
  const expectPlayableWithoutEditList = async (output: string, source: VideoFacts) => {
    const types = await moovBoxTypes(output);
    expect(types).toContain('trak');
    expect(types.filter((t) => t === 'elst' || t === 'edts')).toEqual([]);
    const result = await probeVideo(output, tools.ffprobe);
    expect(Math.abs(result.durationSec - source.durationSec)).toBeLessThan(0.1);
    // Without edit lists ffmpeg would otherwise stretch the first frame: the timing must survive.
    expect(result.frameRate).toBe(source.frameRate);
    expect(result).toMatchObject({ faststart: true, hasAudio: true, audioCodec: 'aac' });
  };

  it('when the index is moved to the front (remux)', async () => {
    const source = await makeVideo(file('index-at-end.mp4'), {
      width: 360,
      height: 640,
      seconds: 3.2,
      faststart: false,
      audioRate: 48000,
    });
    expect(await moovBoxTypes(source)).toContain('elst');
    const { facts, plan, output } = await render(source, rulesOf('instagram', 'reel'));
    expect(plan.action).toBe('remux');
    await expectPlayableWithoutEditList(output, facts);
  });

  it('when the video is re-encoded (transcode, sound re-encoded to AAC)', async () => {
    const source = await makeVideo(file('opus.webm'), {
      codec: 'vp9',
      audio: 'opus',
      width: 360,
      height: 640,
      seconds: 3.2,
    });
    const { facts, plan, output } = await render(source, rulesOf('instagram', 'reel'));
    expect(plan.action).toBe('transcode');
    await expectPlayableWithoutEditList(output, facts);
  });

  it('when an acceptable file is only copied without its metadata', async () => {
    const source = await makeVideo(file('fine.mp4'), { width: 360, height: 640, seconds: 3.2, audioRate: 48000 });
    const facts = await probeVideo(source, tools.ffprobe);
    expect(planTranscode(facts, rulesOf('instagram', 'reel')).action).toBe('none');
    const output = file('copied.mp4');
    await copyWithoutMetadata(tools.ffmpeg, source, output, 'mp4');
    await expectPlayableWithoutEditList(output, facts);
  });
});

describe('Facebook Reels get AAC-LC 48 kHz stereo at 128 kbit/s or more (platform-apis.md 4.6)', () => {
  const heAac = (): VideoFacts =>
    videoFactsFromProbe(
      {
        streams: [
          {
            codec_type: 'video',
            codec_name: 'h264',
            width: 1080,
            height: 1920,
            pix_fmt: 'yuv420p',
            field_order: 'progressive',
            avg_frame_rate: '30/1',
            bit_rate: '6000000',
          },
          {
            codec_type: 'audio',
            codec_name: 'aac',
            profile: 'HE-AAC',
            sample_rate: '44100',
            channels: 1,
            bit_rate: '64000',
          },
        ],
        format: { format_name: 'mov,mp4,m4a,3gp,3g2,mj2', duration: '20.0', bit_rate: '6070000' },
      },
      { bytes: 15_175_000, faststart: true },
    );

  it('reads the AAC profile and does not send HE-AAC 44.1 kHz mono 64 kbit/s unchanged', () => {
    const facts = heAac();
    expect(facts.audioProfile).toBe('HE-AAC');
    for (const placement of ['reel', 'story'] as const) {
      const plan = planTranscode(facts, rulesOf('facebook', placement));
      expect(plan.action).not.toBe('none');
      expect(plan.problems.map((p) => p.code)).toEqual(['audio_not_accepted']);
      expect(plan.problems[0]!.message).toMatch(/HE-AAC/);
    }
    // A file that is right in every respect is still sent as it is.
    const right = { ...facts, audioProfile: 'LC', audioSampleRate: 48_000, audioChannels: 2, audioBitrate: 160_000 };
    expect(planTranscode(right, rulesOf('facebook', 'reel')).action).toBe('none');
  });

  it.each([
    [
      'AAC Main profile, 48 kHz stereo 160 kbit/s',
      ['-profile:a', 'aac_main', '-ar', '48000', '-ac', '2', '-b:a', '160k'],
    ],
    ['AAC-LC at 44.1 kHz mono 64 kbit/s', ['-ar', '44100', '-ac', '1', '-b:a', '64k']],
  ])('re-encodes %s to AAC-LC 48 kHz stereo', async (name, audioArgs) => {
    const source = await lavfiClip(file(`${name.replace(/\W+/g, '-')}.mp4`), 3.5, '540x960', [
      ...['-c:v', 'libx264', '-preset', 'ultrafast', '-crf', '30', '-pix_fmt', 'yuv420p'],
      ...['-c:a', 'aac', ...audioArgs, '-movflags', '+faststart', '-f', 'mp4'],
    ]);
    const rules = rulesOf('facebook', 'reel');
    const { plan, result } = await render(source, rules);
    expect(plan.action).not.toBe('none');
    expect(plan.problems.map((p) => p.code)).toEqual(['audio_not_accepted']);
    expect(result).toMatchObject({ audioCodec: 'aac', audioProfile: 'LC', audioSampleRate: 48_000, audioChannels: 2 });
    expect(result.audioBitrate).toBeGreaterThanOrEqual(128_000);
    expect(checkMedia(result, rules)).toEqual([]);
  });

  it('gives Page videos 48 kHz sound (platform-apis.md 4.9)', async () => {
    const source = await lavfiClip(file('page-44k.mp4'), 3.5, '640x360', [
      ...['-c:v', 'libx264', '-preset', 'ultrafast', '-crf', '30', '-pix_fmt', 'yuv420p'],
      ...['-c:a', 'aac', '-ar', '44100', '-ac', '1', '-b:a', '64k', '-movflags', '+faststart', '-f', 'mp4'],
    ]);
    const rules = rulesOf('facebook', 'video');
    const { plan, result } = await render(source, rules);
    expect(plan.action).toBe('remux');
    expect(plan.problems.map((p) => p.code)).toEqual(['audio_not_accepted']);
    expect(result).toMatchObject({ audioCodec: 'aac', audioSampleRate: 48_000 });
    expect(result.audioBitrate).toBeLessThanOrEqual(256_000);
    expect(checkMedia(result, rules)).toEqual([]);
  });
});
