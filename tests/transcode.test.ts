import { execFileSync } from 'node:child_process';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MediaPlatform, Placement, PlacementRules } from '../domain/media-rules.js';
import { checkMedia } from '../media/check.js';
import { probeImage, probeVideo, type VideoFacts } from '../media/probe.js';
import {
  extractFrame,
  planTranscode,
  runTranscode,
  type TranscodeOptions,
  type TranscodeProgress,
} from '../media/transcode.js';
import { makeVideo, rulesOf, tagsOf, tempDir, tools } from './helpers/media-files.js';

// Every output is judged by probing the file ffmpeg wrote and checking it against the target's
// rules again: the planner's own idea of what it produced is never trusted.

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('transcode'));
});
afterAll(async () => {
  await cleanup?.();
});

const file = (name: string) => join(dir, name);

let outputs = 0;
/** Plans, runs, probes the result and returns it with the plan. */
async function render(source: string, rules: PlacementRules, options: TranscodeOptions = {}) {
  const facts = await probeVideo(source, tools.ffprobe);
  const plan = planTranscode(facts, rules, { preset: 'ultrafast', ...options });
  const output = file(`out-${++outputs}.mp4`);
  const progress: TranscodeProgress[] = [];
  const wrote = await runTranscode(plan, facts, source, output, {
    ffmpeg: tools.ffmpeg,
    preset: 'ultrafast',
    ...options,
    onProgress: (p) => progress.push(p),
  });
  const result: VideoFacts = wrote ? await probeVideo(output, tools.ffprobe) : facts;
  return { facts, plan, result, output, progress };
}

describe('renditions meet every target, verified by probing the output', () => {
  let landscape: string;
  beforeAll(async () => {
    // A landscape phone clip: 16:9, 30 fps, mono AAC at 44.1 kHz, 3 s (the shortest Reels accept).
    landscape = await makeVideo(file('landscape.mp4'), { width: 640, height: 360, seconds: 3.2 });
  });

  const targets: [MediaPlatform, Placement][] = [
    ['tiktok', 'video'],
    ['youtube', 'video'],
    ['youtube', 'short'],
    ['instagram', 'reel'],
    ['instagram', 'story'],
    ['instagram', 'carousel_item'],
    ['facebook', 'video'],
    ['facebook', 'reel'],
    ['facebook', 'story'],
    ['generic', 'video'],
  ];
  it.each(targets)('landscape phone video -> %s %s', async (platform, placement) => {
    const rules = rulesOf(platform, placement);
    const { plan, result } = await render(landscape, rules, { fit: 'pad' });
    expect(plan.action).not.toBe('refuse');
    expect(checkMedia(result, rules)).toEqual([]);
    expect(result.rotation).toBe(0);
  });

  it('Facebook Reels: 9:16 at 540×960 at least, by crop, pad or blurred pad as the user chooses', async () => {
    const rules = rulesOf('facebook', 'reel');
    for (const fit of ['crop', 'pad', 'blur'] as const) {
      const { plan, result } = await render(landscape, rules, { fit });
      expect(plan.action).toBe('transcode');
      expect(plan.problems.map((p) => p.code)).toEqual(
        expect.arrayContaining(['aspect_ratio_out_of_range', 'dimensions_too_small']),
      );
      expect(plan.action === 'transcode' && plan.changes.join(' ')).toMatch(/reframed to 9:16/i);
      expect(result).toMatchObject({ videoCodec: 'h264', audioCodec: 'aac', faststart: true });
      // Cropping keeps the 360 rows and scales up to the minimum; padding keeps the 640 columns.
      expect(result.width / result.height).toBeCloseTo(9 / 16, 2);
      expect([result.width, result.height]).toEqual(fit === 'crop' ? [540, 960] : [640, 1138]);
      expect(checkMedia(result, rules)).toEqual([]);
    }
  });

  it('reframes to the preferred 9:16 on request even where the source aspect is accepted', async () => {
    const rules = rulesOf('tiktok', 'video');
    const kept = await render(landscape, rules);
    expect(kept.result.width / kept.result.height).toBeCloseTo(16 / 9, 1);
    const { plan, result } = await render(landscape, rules, { reframe: true, fit: 'crop' });
    expect(plan.action).toBe('transcode');
    expect(result.width / result.height).toBeCloseTo(9 / 16, 2);
    expect(checkMedia(result, rules)).toEqual([]);
  });
});

describe('only the work that is needed', () => {
  it('leaves a compliant portrait phone video alone', async () => {
    const source = await makeVideo(file('portrait.mp4'), { width: 360, height: 640, seconds: 3.2 });
    const { plan, output } = await render(source, rulesOf('tiktok', 'video'));
    expect(plan).toEqual({ action: 'none', problems: [], changes: [] });
    await expect(stat(output)).rejects.toThrow();
  });

  it('moves the index to the front without re-encoding (Instagram Reels)', async () => {
    const source = await makeVideo(file('index-at-end.mp4'), {
      width: 360,
      height: 640,
      seconds: 3.2,
      faststart: false,
      audioRate: 48000,
    });
    const { facts, plan, result } = await render(source, rulesOf('instagram', 'reel'));
    expect(facts.faststart).toBe(false);
    expect(plan.action).toBe('remux');
    expect(plan.problems.map((p) => p.code)).toEqual(['index_not_at_start']);
    expect(result.faststart).toBe(true);
    expect(Math.abs(result.bytes - facts.bytes) / facts.bytes).toBeLessThan(0.05);
    expect(checkMedia(result, rulesOf('instagram', 'reel'))).toEqual([]);
  });

  it('rewraps HEVC from Matroska into MP4 for Instagram, which takes HEVC, tagged hvc1', async () => {
    const source = await makeVideo(file('hevc.mkv'), { codec: 'hevc', width: 360, height: 640, seconds: 3.2 });
    const { plan, result, output } = await render(source, rulesOf('instagram', 'reel'));
    expect(plan.action).toBe('remux');
    expect(result).toMatchObject({ container: 'mp4', videoCodec: 'hevc', faststart: true });
    expect(checkMedia(result, rulesOf('instagram', 'reel'))).toEqual([]);
    const tags = execFileSync(tools.ffprobe, [
      '-v',
      'error',
      '-show_entries',
      'stream=codec_tag_string',
      '-of',
      'csv=p=0',
      output,
    ]);
    expect(tags.toString()).toContain('hvc1');
  });

  it('re-encodes HEVC to H.264 for the local export, whose rule is H.264 only', async () => {
    const source = await makeVideo(file('hevc.mp4'), { codec: 'hevc' });
    const { plan, result } = await render(source, rulesOf('generic', 'video'));
    expect(plan.action).toBe('transcode');
    expect(plan.problems.map((p) => p.code)).toContain('video_codec_not_accepted');
    expect(result.videoCodec).toBe('h264');
    expect(checkMedia(result, rulesOf('generic', 'video'))).toEqual([]);
  });

  it('re-encodes WebM VP9/Opus to H.264/AAC MP4 for Instagram', async () => {
    const source = await makeVideo(file('clip.webm'), {
      codec: 'vp9',
      audio: 'opus',
      width: 360,
      height: 640,
      seconds: 3.2,
    });
    const { plan, result } = await render(source, rulesOf('instagram', 'reel'));
    expect(plan.problems.map((p) => p.code).sort()).toEqual([
      'audio_codec_not_accepted',
      'container_not_accepted',
      'video_codec_not_accepted',
    ]);
    expect(result).toMatchObject({ container: 'mp4', videoCodec: 'h264', audioCodec: 'aac', audioSampleRate: 48000 });
    expect(checkMedia(result, rulesOf('instagram', 'reel'))).toEqual([]);
  });
});

describe('frame rate, rotation, sound, size', () => {
  it('turns variable frame rate into a constant one for Facebook Reels', async () => {
    const source = await makeVideo(file('vfr.mp4'), { variableFrameRate: true, width: 540, height: 960, seconds: 3.5 });
    const { facts, plan, result } = await render(source, rulesOf('facebook', 'reel'));
    expect(facts.variableFrameRate).toBe(true);
    expect(plan.problems.map((p) => p.code)).toContain('variable_frame_rate');
    expect(result.variableFrameRate).toBe(false);
    expect(result.frameRate).toBeGreaterThanOrEqual(24);
    expect(checkMedia(result, rulesOf('facebook', 'reel'))).toEqual([]);
  });

  it('deinterlaces and converts 4:2:2 colour to 4:2:0 for Instagram Reels, copying sound that is fine', async () => {
    const source = await makeVideo(file('broadcast.mp4'), {
      width: 360,
      height: 640,
      seconds: 3.2,
      interlaced: true,
      pixelFormat: 'yuv422p',
    });
    const { facts, plan, result } = await render(source, rulesOf('instagram', 'reel'));
    expect(facts).toMatchObject({ interlaced: true, pixelFormat: 'yuv422p' });
    expect(plan.problems.map((p) => p.code)).toEqual(['interlaced', 'pixel_format_not_accepted']);
    expect(plan.action === 'transcode' && plan.output).toMatchObject({ deinterlace: true, copyAudio: true });
    expect(result).toMatchObject({ interlaced: false, pixelFormat: 'yuv420p', audioCodec: 'aac' });
    expect(result.audioSampleRate).toBe(facts.audioSampleRate);
    expect(checkMedia(result, rulesOf('instagram', 'reel'))).toEqual([]);
  });

  it('caps 120 fps at the 60 TikTok allows', async () => {
    const source = await makeVideo(file('fast.mp4'), { fps: 120, width: 360, height: 640, seconds: 1 });
    const { plan, result } = await render(source, rulesOf('tiktok', 'video'));
    expect(plan.problems.map((p) => p.code)).toEqual(['frame_rate_too_high']);
    expect(result.frameRate).toBe(60);
    expect(checkMedia(result, rulesOf('tiktok', 'video'))).toEqual([]);
  });

  it('bakes a rotation into the picture when it re-encodes, and keeps the sound-less video silent', async () => {
    // Stored landscape, shown portrait, as phones record: rotated to 9:16 it needs no padding, but
    // 20 fps is below what Reels take, so it is re-encoded.
    const source = await makeVideo(file('rotated.mp4'), {
      width: 960,
      height: 540,
      rotate: 90,
      fps: 20,
      audio: false,
      seconds: 3.2,
    });
    const { facts, plan, result } = await render(source, rulesOf('facebook', 'reel'));
    expect(facts).toMatchObject({ width: 540, height: 960, hasAudio: false });
    expect(facts.rotation).not.toBe(0);
    expect(plan.action).toBe('transcode');
    expect(plan.problems.map((p) => p.code)).toEqual(['frame_rate_too_low']);
    expect(result).toMatchObject({ rotation: 0, codedWidth: 540, codedHeight: 960, hasAudio: false });
    expect(checkMedia(result, rulesOf('facebook', 'reel'))).toEqual([]);
  });

  it('re-encodes at a lower bit rate to fit a size limit', async () => {
    const source = await makeVideo(file('big.mp4'), { width: 360, height: 640, seconds: 3.2, bitrate: '3M' });
    const facts = await probeVideo(source, tools.ffprobe);
    const base = rulesOf('tiktok', 'video');
    const limit = Math.round(facts.bytes / 2);
    const rules: PlacementRules = { ...base, video: { ...base.video!, maxBytes: limit } };
    const { plan, result } = await render(source, rules);
    expect(plan.problems.map((p) => p.code)).toEqual(['file_too_large']);
    expect(result.bytes).toBeLessThanOrEqual(limit);
    expect(checkMedia(result, rules)).toEqual([]);
  });

  it('strips metadata such as the place a video was shot', async () => {
    const source = await makeVideo(file('located.mp4'), { codec: 'hevc', location: '+48.8584+002.2945/' });
    expect(await tagsOf(source)).toHaveProperty('location');
    const { result, output } = await render(source, rulesOf('generic', 'video'));
    expect(result.videoCodec).toBe('h264');
    expect(await tagsOf(output)).not.toHaveProperty('location');
  });
});

describe('refused in words, never cut', () => {
  it('refuses an over-long video for TikTok and Facebook Reels, and writes nothing', async () => {
    // 10 min 5 s: tiny and 1 fps so ffmpeg makes it in a moment.
    const source = await makeVideo(file('long.mp4'), { width: 64, height: 64, fps: 1, seconds: 605, audio: false });
    for (const [platform, placement, limit] of [
      ['tiktok', 'video', '10 min'],
      ['facebook', 'reel', '1 min 30 s'],
    ] as const) {
      const facts = await probeVideo(source, tools.ffprobe);
      const plan = planTranscode(facts, rulesOf(platform, placement), {}, platform);
      expect(plan.action).toBe('refuse');
      if (plan.action !== 'refuse') return;
      expect(plan.refused).toEqual([
        expect.objectContaining({
          code: 'too_long',
          fixable: false,
          message: expect.stringContaining(`is 10 min 5 s long; ${platform}`),
        }),
      ]);
      expect(plan.refused[0]!.message).toContain(`at most ${limit}`);
      expect(plan.refused[0]!.fix).toMatch(/never cut automatically/);
      const output = file(`refused-${platform}.mp4`);
      await expect(runTranscode(plan, facts, source, output, { ffmpeg: tools.ffmpeg })).rejects.toThrow(/10 min 5 s/);
      await expect(stat(output)).rejects.toThrow();
    }
  });

  it('refuses a video shorter than Instagram Reels accept', async () => {
    const source = await makeVideo(file('short.mp4'), { seconds: 1.5 });
    const plan = planTranscode(await probeVideo(source, tools.ffprobe), rulesOf('instagram', 'reel'));
    expect(plan.action).toBe('refuse');
    expect(plan.action === 'refuse' && plan.refused.map((p) => p.code)).toEqual(['too_short']);
  });
});

describe('progress, cancellation, frames', () => {
  it('reports progress up to the end', async () => {
    const source = await makeVideo(file('progress.mp4'), { codec: 'hevc', seconds: 6 });
    const { progress } = await render(source, rulesOf('generic', 'video'));
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.at(-1)).toMatchObject({ done: true, fraction: 1 });
    const fractions = progress.map((p) => p.fraction ?? 0);
    expect(fractions).toEqual([...fractions].sort((a, b) => a - b));
  });

  it('stops ffmpeg when aborted and leaves no partial file', async () => {
    const source = await makeVideo(file('abort.mp4'), { codec: 'hevc', width: 640, height: 360, seconds: 30 });
    const facts = await probeVideo(source, tools.ffprobe);
    const plan = planTranscode(facts, rulesOf('generic', 'video'));
    const controller = new AbortController();
    const output = file('aborted.mp4');
    const run = runTranscode(plan, facts, source, output, {
      ffmpeg: tools.ffmpeg,
      preset: 'medium',
      signal: controller.signal,
      onProgress: () => controller.abort(new Error('cancelled by test')),
    });
    await expect(run).rejects.toThrow('cancelled by test');
    expect((await readdir(dir)).filter((n) => n.startsWith('aborted'))).toEqual([]);
  });

  it('extracts a cover frame at full size and a small thumbnail, upright, that the cover rules accept', async () => {
    const source = await makeVideo(file('cover-src.mp4'), { width: 640, height: 360, rotate: 90, seconds: 2 });
    const facts = await probeVideo(source, tools.ffprobe);
    const cover = file('cover.jpg');
    await extractFrame(source, cover, { ffmpeg: tools.ffmpeg, durationSec: facts.durationSec });
    expect(await probeImage(cover)).toMatchObject({ format: 'jpeg', width: 360, height: 640, hasExif: false });
    expect(checkMedia(await probeImage(cover), rulesOf('instagram', 'thumbnail'))).toEqual([]);

    const thumb = file('thumb.jpg');
    await extractFrame(source, thumb, {
      ffmpeg: tools.ffmpeg,
      durationSec: facts.durationSec,
      box: { long: 160, short: 90 },
    });
    expect(await probeImage(thumb)).toMatchObject({ format: 'jpeg', width: 90, height: 160 });
  });
});
