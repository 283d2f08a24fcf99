import { describe, expect, it } from 'vitest';
import {
  defaultPlacement,
  MEDIA_PLATFORMS,
  type PLACEMENTS,
  PLATFORM_RULES,
  type PlacementRules,
  placementRules,
  placementsOf,
  type Range,
} from '../domain/media-rules.js';
import { checkMedia, formatDuration, targetAspect } from '../media/check.js';
import type { ImageFacts, VideoFacts } from '../media/probe.js';
import { loadConfig } from '../runtime/config.js';

const rules = (platform: (typeof MEDIA_PLATFORMS)[number], placement: (typeof PLACEMENTS)[number]) => {
  const found = placementRules(platform, placement);
  if (!found) throw new Error(`no ${platform} ${placement}`);
  return found;
};

const MiB = 1024 * 1024;

describe('the rules table is consistent', () => {
  const all = MEDIA_PLATFORMS.flatMap((platform) => placementsOf(platform).map((r) => [platform, r] as const));

  it('covers every platform, with placements that name themselves and say what they take', () => {
    expect(MEDIA_PLATFORMS).toEqual(['generic', 'tiktok', 'youtube', 'instagram', 'facebook']);
    for (const [platform, r] of all) {
      expect(PLATFORM_RULES[platform].placements[r.placement]).toBe(r);
      expect(r.image || r.video, `${platform} ${r.placement}`).toBeTruthy();
    }
    expect(placementsOf('instagram').map((r) => r.placement)).toEqual([
      'feed_image',
      'carousel_item',
      'reel',
      'story',
      'thumbnail',
    ]);
  });

  it('has ranges whose lower bound is below the upper, and preferred ratios inside them', () => {
    const ordered = (range: Range | undefined) =>
      !range || range.min === undefined || range.max === undefined || range.min <= range.max;
    for (const [platform, r] of all) {
      for (const kind of [r.image, r.video]) {
        if (!kind) continue;
        const label = `${platform} ${r.placement}`;
        expect(ordered(kind.aspect) && ordered(kind.width) && ordered(kind.height), label).toBe(true);
        if (kind.preferredAspect && kind.aspect)
          expect(targetAspect(kind.preferredAspect, kind), label).toBe(kind.preferredAspect);
        expect(kind.box.long).toBeGreaterThanOrEqual(kind.box.short);
      }
      if (r.video) expect(ordered(r.video.durationSec) && ordered(r.video.frameRate), platform).toBe(true);
    }
  });

  it('accepts what the transcoder makes (H.264/AAC in MP4) wherever video is taken', () => {
    for (const [platform, r] of all) {
      if (!r.video) continue;
      expect(r.video.containers, platform).toContain('mp4');
      expect(r.video.videoCodecs, platform).toContain('h264');
      expect(r.video.audioCodecs, platform).toContain('aac');
    }
  });

  it('has a default placement for images and videos that takes them', () => {
    for (const platform of MEDIA_PLATFORMS) {
      expect(rules(platform, defaultPlacement(platform, 'image')).image, platform).toBeDefined();
      expect(rules(platform, defaultPlacement(platform, 'video')).video, platform).toBeDefined();
    }
  });

  it('survives JSON unchanged, so the API can serve it as it is', () => {
    expect(JSON.parse(JSON.stringify(PLATFORM_RULES))).toEqual(PLATFORM_RULES);
  });

  it('lets uploads be as large as a TikTok video by default', () => {
    expect(loadConfig({}).MEDIA_MAX_BYTES).toBeGreaterThanOrEqual(rules('tiktok', 'video').video!.maxBytes!);
  });
});

describe('the documented limits (shared/platform-apis.md 1.8, 2.7, 3.7, 4.6, 4.9)', () => {
  it('TikTok', () => {
    expect(rules('tiktok', 'video').video).toMatchObject({
      maxBytes: 4096 * MiB,
      frameRate: { min: 23, max: 60 },
      width: { min: 360, max: 4096 },
      height: { min: 360, max: 4096 },
      durationSec: { max: 600 },
    });
    expect(rules('tiktok', 'video').video!.aspect).toBeUndefined();
    expect(rules('tiktok', 'feed_image')).toMatchObject({
      image: { formats: ['jpeg', 'webp'], maxBytes: 20 * MiB },
      items: { max: 35 },
    });
    expect(PLATFORM_RULES.tiktok.text).toContainEqual({
      field: 'caption',
      max: 2200,
      unit: 'utf16_units',
      note: 'video posts',
    });
  });

  it('YouTube and Shorts', () => {
    expect(rules('youtube', 'short').video).toMatchObject({ durationSec: { max: 180 }, aspect: { max: 1 } });
    expect(rules('youtube', 'video').video!.durationSec.max).toBe(15 * 60);
    expect(rules('youtube', 'thumbnail').image).toMatchObject({ formats: ['jpeg', 'png'], maxBytes: 2_000_000 });
    expect(PLATFORM_RULES.youtube.text.map((t) => [t.field, t.max, t.unit])).toEqual([
      ['title', 100, 'characters'],
      ['description', 5000, 'bytes'],
      ['tags', 500, 'characters'],
    ]);
  });

  it('Instagram', () => {
    expect(rules('instagram', 'feed_image').image).toMatchObject({
      formats: ['jpeg'],
      maxBytes: 8_000_000,
      aspect: { min: 0.8, max: 1.91 },
      width: { min: 320, max: 1440 },
    });
    expect(rules('instagram', 'reel').video).toMatchObject({
      containers: ['mp4', 'mov'],
      videoCodecs: ['h264', 'hevc'],
      durationSec: { min: 3, max: 900 },
      frameRate: { min: 23, max: 60 },
      maxBytes: 300_000_000,
      maxVideoBitrate: 25_000_000,
      faststart: true,
    });
    expect(rules('instagram', 'story').video).toMatchObject({
      durationSec: { min: 3, max: 60 },
      maxBytes: 100_000_000,
    });
    expect(rules('instagram', 'carousel_item').items).toEqual({ min: 2, max: 10 });
  });

  it('Facebook', () => {
    expect(rules('facebook', 'reel').video).toMatchObject({
      durationSec: { min: 3, max: 90 },
      frameRate: { min: 24, max: 60 },
      width: { min: 540 },
      height: { min: 960 },
      constantFrameRate: true,
    });
    expect(rules('facebook', 'story').video!.durationSec.max).toBe(60);
    expect(rules('facebook', 'feed_image').image!.maxBytes).toBe(4_000_000);
    // 4.4 (B): the upload session takes file_type video/mp4 and no other video type.
    const webm = checkMedia(
      video({ container: 'webm', formatName: 'matroska,webm', videoCodec: 'vp9', width: 1920, height: 1080 }),
      rules('facebook', 'video'),
    );
    expect(webm).toEqual([expect.objectContaining({ fixable: true })]);
  });
});

// Facts as the probe reports them; only the fields under test vary.
const video = (over: Partial<VideoFacts> = {}): VideoFacts => ({
  kind: 'video',
  bytes: 5_000_000,
  container: 'mp4',
  formatName: 'mov,mp4,m4a,3gp,3g2,mj2',
  durationSec: 20,
  width: 1080,
  height: 1920,
  codedWidth: 1080,
  codedHeight: 1920,
  rotation: 0,
  videoCodec: 'h264',
  pixelFormat: 'yuv420p',
  frameRate: 30,
  variableFrameRate: false,
  interlaced: false,
  videoBitrate: 2_000_000,
  hasAudio: true,
  audioCodec: 'aac',
  audioProfile: 'LC',
  audioSampleRate: 48_000,
  audioChannels: 2,
  audioBitrate: 128_000,
  faststart: true,
  ...over,
});
const image = (over: Partial<ImageFacts> = {}): ImageFacts => ({
  kind: 'image',
  bytes: 500_000,
  format: 'jpeg',
  width: 1080,
  height: 1350,
  orientation: 1,
  space: 'srgb',
  hasIccProfile: false,
  hasExif: false,
  ...over,
});

describe('checkMedia', () => {
  it('names only the sides a size rule bounds', () => {
    // Instagram bounds a feed image's width (320-1440 px), not its height.
    const [problem] = checkMedia(image({ width: 4000, height: 3000 }), rules('instagram', 'feed_image')).filter(
      (p) => p.code === 'dimensions_too_large',
    );
    expect(problem?.message).toMatch(/accepts width 320 to 1440 pixels\.$/);
    expect(problem?.message).not.toMatch(/height|at least 0/);
  });

  it('passes a 1080×1920 H.264/AAC MP4 for every vertical video placement', () => {
    const targets: [string, PlacementRules][] = [
      ['tiktok video', rules('tiktok', 'video')],
      ['youtube short', rules('youtube', 'short')],
      ['instagram reel', rules('instagram', 'reel')],
      ['instagram story', rules('instagram', 'story')],
      ['facebook reel', rules('facebook', 'reel')],
      ['facebook story', rules('facebook', 'story')],
      ['facebook video', rules('facebook', 'video')],
    ];
    for (const [label, r] of targets) expect(checkMedia(video(), r), label).toEqual([]);
  });

  it('refuses an over-long video in words, never as fixable', () => {
    const problems = checkMedia(video({ durationSec: 11 * 60 + 30 }), rules('tiktok', 'video'), {
      platformLabel: 'TikTok',
    });
    expect(problems).toEqual([
      {
        code: 'too_long',
        message: 'The video is 11 min 30 s long; TikTok video post accepts at most 10 min.',
        fixable: false,
        fix: 'Trim it to 10 min or less and upload it again; it is never cut automatically.',
      },
    ]);
  });

  it('lists every problem of a phone video for Facebook Reels, each with its fix', () => {
    const problems = checkMedia(
      video({
        width: 1920,
        height: 1080,
        frameRate: 120,
        variableFrameRate: true,
        videoCodec: 'hevc',
        container: 'mov',
        faststart: false,
        audioSampleRate: 96_000,
      }),
      rules('facebook', 'reel'),
      { platformLabel: 'Facebook', fit: 'crop' },
    );
    expect(problems.map((p) => [p.code, p.fixable])).toEqual([
      ['container_not_accepted', true],
      ['audio_not_accepted', true],
      ['frame_rate_too_high', true],
      ['variable_frame_rate', true],
      ['aspect_ratio_out_of_range', true],
      ['index_not_at_start', true],
    ]);
    expect(problems.find((p) => p.code === 'aspect_ratio_out_of_range')).toMatchObject({
      message: 'The picture is 1920×1080 (16:9); Facebook reel accepts only the aspect ratio 9:16.',
      fix: 'It will be reframed to 9:16 (crop).',
    });
  });

  it('calls a file too large for its limit fixable only when a re-encode can fit it', () => {
    const reel = rules('instagram', 'reel');
    const fits = checkMedia(video({ bytes: 400_000_000, durationSec: 120 }), reel);
    expect(fits).toEqual([expect.objectContaining({ code: 'file_too_large', fixable: true })]);
    const story = rules('instagram', 'story');
    // 60 s at the lowest watchable bit rate is 3.2 MB: a 1 MB limit cannot be met.
    const tiny = { ...story, video: { ...story.video!, maxBytes: 1_000_000 } };
    expect(checkMedia(video({ bytes: 2_000_000, durationSec: 60 }), tiny)).toEqual([
      expect.objectContaining({ code: 'file_too_large', fixable: false }),
    ]);
  });

  it('refuses videos where only images go, and images where only videos go', () => {
    expect(checkMedia(video(), rules('instagram', 'feed_image'))[0]).toMatchObject({
      code: 'kind_not_accepted',
      fixable: false,
    });
    expect(checkMedia(image(), rules('instagram', 'reel'))[0]).toMatchObject({ code: 'kind_not_accepted' });
  });

  it('checks images: format, aspect, size in pixels and bytes, colour space', () => {
    expect(checkMedia(image(), rules('instagram', 'feed_image'))).toEqual([]);
    const problems = checkMedia(
      image({ format: 'png', width: 1080, height: 1920, space: 'cmyk', bytes: 9_000_000 }),
      rules('instagram', 'feed_image'),
      { platformLabel: 'Instagram' },
    );
    expect(problems.map((p) => p.code)).toEqual([
      'format_not_accepted',
      'aspect_ratio_out_of_range',
      'colour_space_not_srgb',
      'file_too_large',
    ]);
    expect(problems.every((p) => p.fixable)).toBe(true);
    expect(problems[1]!.fix).toBe('It will be reframed to 4:5 (pad with black bars).');
    expect(checkMedia(image({ width: 5000, height: 4000 }), rules('tiktok', 'feed_image')).map((p) => p.code)).toEqual([
      'dimensions_too_large',
    ]);
  });

  it('words durations plainly', () => {
    expect([formatDuration(2.5), formatDuration(90), formatDuration(3600), formatDuration(43_200)]).toEqual([
      '2.5 s',
      '1 min 30 s',
      '1 h',
      '12 h',
    ]);
  });
});
