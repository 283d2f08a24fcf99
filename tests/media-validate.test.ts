import { describe, expect, it } from 'vitest';
import type { ImageFacts, VideoFacts } from '../media/probe.js';
import { type MediaFile, validateMedia } from '../media/validate.js';

// Facts as the probe reports them (probing itself is tested in video-probe.test.ts).
const video = (mediaId: string, over: Partial<VideoFacts> = {}): MediaFile => ({
  mediaId,
  facts: {
    kind: 'video',
    bytes: 5_000_000,
    container: 'mp4',
    formatName: 'mov,mp4,m4a,3gp,3g2,mj2',
    durationSec: 30,
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
  },
});
const image = (mediaId: string, over: Partial<ImageFacts> = {}): MediaFile => ({
  mediaId,
  facts: {
    kind: 'image',
    bytes: 300_000,
    format: 'jpeg',
    width: 1080,
    height: 1080,
    orientation: 1,
    space: 'srgb',
    hasIccProfile: false,
    hasExif: false,
    ...over,
  },
});

const codes = (problems: { code: string }[]) => problems.map((p) => p.code);

describe('validateMedia picks a placement per file', () => {
  it('Instagram: a video is a reel, several files a carousel (images and videos mixed), a named story stays a story', () => {
    const one = validateMedia([{ key: 'ig', platform: 'instagram' }], [video('v')]);
    expect(one).toMatchObject({ ok: true, targets: [{ files: [{ mediaId: 'v', placement: 'reel', problems: [] }] }] });
    const mixed = validateMedia(
      [{ key: 'ig', platform: 'instagram' }],
      [image('a'), video('b', { width: 1080, height: 1350 })],
    );
    expect(mixed.targets[0]!.files.map((f) => f.placement)).toEqual(['carousel_item', 'carousel_item']);
    expect(mixed.ok).toBe(true);
    const story = validateMedia([{ key: 'ig', platform: 'instagram', placement: 'story' }], [video('v')]);
    expect(story.targets[0]!.files[0]!.placement).toBe('story');
  });

  it('YouTube: vertical up to 3 minutes is a Short, anything else a video, an image the thumbnail', () => {
    const result = validateMedia(
      [{ key: 'yt', platform: 'youtube' }],
      [video('v'), image('t', { width: 1280, height: 720 })],
    );
    expect(result.targets[0]!.files.map((f) => [f.mediaId, f.placement])).toEqual([
      ['v', 'short'],
      ['t', 'thumbnail'],
    ]);
    const landscape = validateMedia([{ key: 'yt', platform: 'youtube' }], [video('v', { width: 1920, height: 1080 })]);
    expect(landscape.targets[0]!.files[0]!.placement).toBe('video');
    const named = validateMedia([{ key: 'yt', platform: 'youtube', placement: 'short' }], [video('v'), image('t')]);
    expect(named.targets[0]!.files.map((f) => f.placement)).toEqual(['short', 'thumbnail']);
  });
});

describe('validateMedia answers per target and file', () => {
  it('refuses an 11-minute video for TikTok while YouTube takes it, and names the file', () => {
    const result = validateMedia(
      [
        { key: 'tt', platform: 'tiktok' },
        { key: 'yt', platform: 'youtube' },
      ],
      [video('long', { durationSec: 660 })],
    );
    expect(result.ok).toBe(false);
    const [tiktok, youtube] = result.targets;
    expect(tiktok).toMatchObject({ key: 'tt', ok: false, problems: [] });
    expect(tiktok!.files).toEqual([
      {
        mediaId: 'long',
        placement: 'video',
        problems: [
          expect.objectContaining({ code: 'too_long', fixable: false, message: expect.stringContaining('TikTok') }),
        ],
      },
    ]);
    expect(youtube).toMatchObject({ key: 'yt', ok: true, files: [{ placement: 'video', problems: [] }] });
  });

  it('counts fixable problems as ok: the render step will fix them', () => {
    const result = validateMedia(
      [{ key: 'fb', platform: 'facebook', placement: 'reel', fit: 'crop' }],
      [video('v', { width: 1920, height: 1080, variableFrameRate: true })],
    );
    expect(result.ok).toBe(true);
    expect(codes(result.targets[0]!.files[0]!.problems)).toEqual(['variable_frame_rate', 'aspect_ratio_out_of_range']);
    expect(result.targets[0]!.files[0]!.problems[1]!.fix).toBe('It will be reframed to 9:16 (crop).');
  });

  it('refuses posts a platform cannot carry', () => {
    const check = (
      platform: 'tiktok' | 'youtube' | 'instagram' | 'facebook',
      files: MediaFile[],
      placement?: 'short',
    ) => validateMedia([{ key: 't', platform, placement }], files).targets[0]!;
    expect(codes(check('youtube', [image('a')]).problems)).toEqual(['no_media']);
    expect(check('youtube', [image('a')]).problems[0]!.message).toBe('YouTube needs a video; this post has none.');
    expect(codes(check('tiktok', []).problems)).toEqual(['no_media']);
    expect(codes(check('tiktok', [video('a'), image('b')]).problems)).toEqual(['mixed_media_not_accepted']);
    expect(codes(check('youtube', [video('a'), video('b')]).problems)).toEqual(['too_many_items']);
    expect(codes(check('youtube', [video('a'), image('b'), image('c')]).problems)).toEqual(['too_many_items']);
    const photos = Array.from({ length: 36 }, (_, i) => image(`p${i}`));
    expect(check('tiktok', photos).problems).toEqual([
      expect.objectContaining({
        code: 'too_many_items',
        message: 'TikTok takes at most 35 items in one post; this post has 36.',
      }),
    ]);
    const eleven = Array.from({ length: 11 }, (_, i) => image(`p${i}`));
    expect(codes(check('instagram', eleven).problems)).toEqual(['too_many_items']);
    expect(check('instagram', [image('a')], 'short').problems[0]).toMatchObject({
      code: 'placement_not_available',
      message: 'Instagram has no placement "short".',
    });
    expect(check('facebook', []).ok).toBe(true);
    for (const target of [check('tiktok', [video('a'), image('b')]), check('instagram', eleven)]) {
      expect(target.ok).toBe(false);
    }
  });

  it('needs two items for a carousel the user asked for', () => {
    const result = validateMedia([{ key: 'ig', platform: 'instagram', placement: 'carousel_item' }], [image('a')]);
    expect(result.targets[0]!.problems).toEqual([expect.objectContaining({ code: 'too_few_items', fixable: false })]);
  });

  it('lets the local export carry anything', () => {
    const result = validateMedia([{ key: 'local', platform: 'generic' }], [video('a'), video('b'), image('c')]);
    expect(result.ok).toBe(true);
    expect(result.targets[0]!.files.map((f) => f.placement)).toEqual(['video', 'video', 'feed_image']);
  });
});
