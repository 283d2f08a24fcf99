import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isVariableFrameRate, ProbeError, probeImage, probeVideo, videoFactsFromProbe } from '../media/probe.js';
import { findMediaTools, MediaToolsMissingError } from '../media/tools.js';
import { makeVideo, tempDir, tools } from './helpers/media-files.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('probe'));
});
afterAll(async () => {
  await cleanup?.();
});

const file = (name: string) => join(dir, name);

describe('probeVideo on generated phone videos', () => {
  it('reads a portrait H.264/AAC MP4: container, codecs, size, duration, frame rate, sound, index position', async () => {
    const path = await makeVideo(file('portrait.mp4'), { width: 360, height: 640, seconds: 2, fps: 30 });
    const facts = await probeVideo(path, tools.ffprobe);
    expect(facts).toMatchObject({
      kind: 'video',
      container: 'mp4',
      videoCodec: 'h264',
      width: 360,
      height: 640,
      rotation: 0,
      frameRate: 30,
      variableFrameRate: false,
      interlaced: false,
      hasAudio: true,
      audioCodec: 'aac',
      faststart: true,
    });
    expect(facts.durationSec).toBeGreaterThan(1.9);
    expect(facts.durationSec).toBeLessThan(2.2);
    expect(facts.bytes).toBeGreaterThan(1000);
  });

  it('tells a landscape QuickTime MOV from an MP4 and sees an index written at the end', async () => {
    const path = await makeVideo(file('landscape.mov'), {
      width: 640,
      height: 360,
      fps: 25,
      format: 'mov',
      faststart: false,
    });
    const facts = await probeVideo(path, tools.ffprobe);
    expect(facts).toMatchObject({ container: 'mov', width: 640, height: 360, frameRate: 25, faststart: false });
  });

  it('swaps width and height for a video rotated by its display matrix', async () => {
    const path = await makeVideo(file('rotated.mp4'), { width: 320, height: 180, rotate: 90 });
    const facts = await probeVideo(path, tools.ffprobe);
    expect(facts.codedWidth).toBe(320);
    expect(facts.codedHeight).toBe(180);
    expect([90, 270]).toContain(facts.rotation);
    expect(facts.width).toBe(180);
    expect(facts.height).toBe(320);
  });

  it('reads HEVC', async () => {
    const facts = await probeVideo(await makeVideo(file('hevc.mp4'), { codec: 'hevc' }), tools.ffprobe);
    expect(facts).toMatchObject({ container: 'mp4', videoCodec: 'hevc' });
  });

  it('reads WebM with VP9 and Opus, and tells WebM from other Matroska', async () => {
    const webm = await probeVideo(await makeVideo(file('clip.webm'), { codec: 'vp9', audio: 'opus' }), tools.ffprobe);
    expect(webm).toMatchObject({ container: 'webm', videoCodec: 'vp9', audioCodec: 'opus' });
    const mkv = await probeVideo(await makeVideo(file('clip.mkv'), { format: 'matroska' }), tools.ffprobe);
    expect(mkv).toMatchObject({ container: 'mkv', videoCodec: 'h264' });
  });

  it('detects variable frame rate, and not in a constant-rate file', async () => {
    const vfr = await probeVideo(await makeVideo(file('vfr.mp4'), { variableFrameRate: true }), tools.ffprobe);
    expect(vfr.variableFrameRate).toBe(true);
    const cfr = await probeVideo(await makeVideo(file('cfr.mp4'), { fps: 24 }), tools.ffprobe);
    expect(cfr.variableFrameRate).toBe(false);
    expect(cfr.frameRate).toBe(24);
  });

  it('reports a silent video as having no sound', async () => {
    const facts = await probeVideo(await makeVideo(file('silent.mp4'), { audio: false }), tools.ffprobe);
    expect(facts.hasAudio).toBe(false);
    expect(facts.audioCodec).toBeUndefined();
  });

  it('refuses files that are not videos, in words', async () => {
    const png = file('still.png');
    await sharp({ create: { width: 20, height: 20, channels: 3, background: '#123456' } })
      .png()
      .toFile(png);
    await expect(probeVideo(png, tools.ffprobe)).rejects.toThrow(new ProbeError('the file has no video track'));
    const junk = file('junk.mp4');
    await writeFile(junk, Buffer.from('this is not a video at all'));
    await expect(probeVideo(junk, tools.ffprobe)).rejects.toThrow(/could not be read as a video/);
  });
});

describe('probeImage', () => {
  it('reports displayed dimensions after EXIF orientation, format and colour space', async () => {
    const path = file('turned.jpg');
    await sharp({ create: { width: 40, height: 20, channels: 3, background: '#808080' } })
      .jpeg()
      .withMetadata({ orientation: 6 })
      .toFile(path);
    expect(await probeImage(path)).toMatchObject({
      kind: 'image',
      format: 'jpeg',
      width: 20,
      height: 40,
      orientation: 6,
      space: 'srgb',
    });
  });
});

describe('videoFactsFromProbe (ffprobe JSON as other ffmpeg versions write it)', () => {
  const stream = { codec_type: 'video', codec_name: 'h264', width: 1920, height: 1080, avg_frame_rate: '30000/1001' };

  it('reads rotation from a display matrix (negative angles included) or an older rotate tag', () => {
    const matrix = videoFactsFromProbe(
      { streams: [{ ...stream, side_data_list: [{ side_data_type: 'Display Matrix', rotation: -90 }] }] },
      { bytes: 1 },
    );
    expect(matrix).toMatchObject({ rotation: 270, width: 1080, height: 1920, frameRate: 29.97 });
    const tag = videoFactsFromProbe({ streams: [{ ...stream, tags: { rotate: '180' } }] }, { bytes: 1 });
    expect(tag).toMatchObject({ rotation: 180, width: 1920, height: 1080 });
  });

  it('falls back to the stream duration, then to a Matroska DURATION tag', () => {
    expect(videoFactsFromProbe({ streams: [{ ...stream, duration: '4.5' }] }, { bytes: 1 }).durationSec).toBe(4.5);
    const tagged = { ...stream, tags: { DURATION: '00:01:02.500000000' } };
    expect(videoFactsFromProbe({ streams: [tagged] }, { bytes: 1 }).durationSec).toBe(62.5);
  });

  it('ignores cover art when looking for the video track', () => {
    expect(() =>
      videoFactsFromProbe(
        { streams: [{ ...stream, codec_name: 'mjpeg', disposition: { attached_pic: 1 } }, { codec_type: 'audio' }] },
        { bytes: 1 },
      ),
    ).toThrow('the file has no video track');
  });

  it('judges frame-interval regularity', () => {
    const steady = Array.from({ length: 100 }, (_, i) => i / 30 + (i % 2 ? 0.0001 : 0));
    expect(isVariableFrameRate(steady)).toBe(false);
    const uneven = Array.from({ length: 100 }, (_, i) => i / 30 + (i % 5 === 0 ? 0.02 : 0));
    expect(isVariableFrameRate(uneven)).toBe(true);
  });
});

describe('findMediaTools', () => {
  it('finds ffmpeg and ffprobe on PATH, or where FFMPEG_PATH and FFPROBE_PATH point', async () => {
    expect(findMediaTools({}, '/usr/bin')).toEqual({ ffmpeg: '/usr/bin/ffmpeg', ffprobe: '/usr/bin/ffprobe' });
    const fake = file('my-ffmpeg');
    await writeFile(fake, '#!/bin/sh\n');
    await chmod(fake, 0o755);
    expect(findMediaTools({ FFMPEG_PATH: fake }, '/usr/bin').ffmpeg).toBe(fake);
  });

  it('says what to install when they are missing', () => {
    expect(() => findMediaTools({}, dir)).toThrow(MediaToolsMissingError);
    expect(() => findMediaTools({}, dir)).toThrow(/ffmpeg and ffprobe not found: install Debian's "ffmpeg" package/);
    expect(() => findMediaTools({ FFPROBE_PATH: '/nowhere/ffprobe' }, '/usr/bin')).toThrow(/^ffprobe not found/);
  });
});
