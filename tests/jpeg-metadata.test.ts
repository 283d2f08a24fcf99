import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { stripJpegMetadata } from '../media/jpeg-metadata.js';
import { tempDir, tools } from './helpers/media-files.js';

const run = promisify(execFile);

describe('stripJpegMetadata', () => {
  it('keeps a decodable picture with the same pixels and no EXIF, XMP or comment', async () => {
    const source = await sharp({ create: { width: 64, height: 48, channels: 3, background: '#c83214' } })
      .withExif({ IFD0: { Copyright: 'exif-marker-123' } })
      .withXmp('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/></x:xmpmeta>')
      .jpeg()
      .toBuffer();
    // A comment segment (COM) right after SOI.
    const comment = Buffer.from('a comment');
    const com = Buffer.concat([Buffer.from([0xff, 0xfe, 0, comment.length + 2]), comment]);
    const withComment = Buffer.concat([source.subarray(0, 2), com, source.subarray(2)]);

    const stripped = stripJpegMetadata(withComment)!;
    expect(stripped).toBeDefined();
    expect(stripped.includes('exif-marker-123')).toBe(false);
    expect(stripped.includes('a comment')).toBe(false);
    const meta = await sharp(stripped).metadata();
    expect([meta.exif, meta.xmp, meta.comments?.length ? meta.comments : undefined]).toEqual([
      undefined,
      undefined,
      undefined,
    ]);
    const pixels = (b: Buffer) => sharp(b).raw().toBuffer();
    expect((await pixels(stripped)).equals(await pixels(source))).toBe(true);
  });

  it('answers undefined for anything it cannot read to the first scan or that is coded unusually', async () => {
    const jpeg = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#000' } })
      .jpeg()
      .toBuffer();
    const sos = jpeg.indexOf(Buffer.from([0xff, 0xda]));
    expect(stripJpegMetadata(Buffer.from('not a jpeg at all'))).toBeUndefined();
    expect(stripJpegMetadata(jpeg.subarray(0, sos))).toBeUndefined();
    expect(stripJpegMetadata(Buffer.from([0xff, 0xd8, 0xff, 0xe1, 0xff, 0xff]))).toBeUndefined();
    expect(stripJpegMetadata(Buffer.from([0xff, 0xd8, 0xff, 0xd9]))).toBeUndefined();
    expect(stripJpegMetadata(Buffer.from([0xff, 0xd8, 0x00, 0x00]))).toBeUndefined();
    // The same picture declared 12-bit, and declared arithmetic-coded (SOF9): not passed on.
    const sof = jpeg.indexOf(Buffer.from([0xff, 0xc0]));
    const twelveBit = Buffer.from(jpeg);
    twelveBit[sof + 4] = 12;
    expect(stripJpegMetadata(twelveBit)).toBeUndefined();
    const arithmetic = Buffer.from(jpeg);
    arithmetic[sof + 1] = 0xc9;
    expect(stripJpegMetadata(arithmetic)).toBeUndefined();
    expect(stripJpegMetadata(jpeg)).toBeDefined();
  });
});

const EOI = Buffer.from([0xff, 0xd9]);
const SOS = Buffer.from([0xff, 0xda]);

/** A picture of pseudo-random pixels: its scan data is full of stuffed 0xFF00 bytes. */
function noisy(width: number, height: number) {
  const pixels = Buffer.alloc(width * height * 3);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 2654435761) >>> 24;
  return sharp(pixels, { raw: { width, height, channels: 3 } });
}

/** What a phone appends after the picture: an MPO's second image with its own EXIF and GPS, then a video. */
async function appendix(): Promise<Buffer> {
  const second = await sharp({ create: { width: 32, height: 24, channels: 3, background: '#00ff00' } })
    .withExif({
      IFD0: { Make: 'SECRETCAM', Copyright: 'second-image-marker' },
      IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '48/1 8/1 2/1', GPSLongitudeRef: 'E', GPSLongitude: '11/1 34/1 0/1' },
    })
    .jpeg()
    .toBuffer();
  return Buffer.concat([second, Buffer.from('MOTION-PHOTO-PAYLOAD ftypmp42 with a secret inside')]);
}

/** An APP2 "MPF" segment (the MPO index) right after SOI. */
function withMpfIndex(jpeg: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from('MPF\0'), Buffer.from('II*\0\x08\0\0\0', 'latin1')]);
  const app2 = Buffer.concat([Buffer.from([0xff, 0xe2, 0, body.length + 2]), body]);
  return Buffer.concat([jpeg.subarray(0, 2), app2, jpeg.subarray(2)]);
}

describe('stripJpegMetadata on what follows the picture', () => {
  const pixels = (b: Buffer) => sharp(b).raw().toBuffer();

  async function expectPrimaryOnly(source: Buffer, primary: Buffer) {
    const stripped = stripJpegMetadata(source)!;
    expect(stripped).toBeDefined();
    // Ends at the primary picture's EOI: its scans byte for byte, nothing after.
    expect(stripped.subarray(-2).equals(EOI)).toBe(true);
    expect(stripped.subarray(stripped.indexOf(SOS)).equals(primary.subarray(primary.indexOf(SOS)))).toBe(true);
    for (const secret of ['Exif\0\0', 'SECRETCAM', 'second-image-marker', 'MOTION-PHOTO-PAYLOAD', 'MPF\0']) {
      expect({ secret, found: stripped.includes(secret) }).toEqual({ secret, found: false });
    }
    expect((await pixels(stripped)).equals(await pixels(primary))).toBe(true);
    return stripped;
  }

  it('drops an MPO second image with its EXIF and GPS, and a motion-photo payload, after a baseline picture', async () => {
    const primary = await noisy(96, 64).jpeg({ quality: 95 }).toBuffer();
    expect(primary.includes(Buffer.from([0xff, 0x00]))).toBe(true);
    await expectPrimaryOnly(Buffer.concat([withMpfIndex(primary), await appendix()]), primary);
  });

  it('walks every scan of a progressive picture to its end, and drops what follows', async () => {
    const primary = await noisy(96, 64).jpeg({ quality: 90, progressive: true }).toBuffer();
    let scans = 0;
    for (let at = primary.indexOf(SOS); at >= 0; at = primary.indexOf(SOS, at + 2)) scans++;
    expect(scans).toBeGreaterThan(1);
    expect(stripJpegMetadata(primary)!.equals(primary)).toBe(true);
    await expectPrimaryOnly(Buffer.concat([primary, await appendix()]), primary);
  });

  it('steps over restart markers inside a scan', async () => {
    const { dir, cleanup } = await tempDir('jpeg-restart');
    try {
      // ffmpeg's MJPEG encoder writes a restart marker between slices.
      const path = join(dir, 'restart.jpg');
      await run(tools.ffmpeg, [
        ...['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc=size=320x240'],
        ...['-frames:v', '1', '-threads', '4', '-thread_type', 'slice', '-slices', '4'],
        ...['-pix_fmt', 'yuvj420p', '-c:v', 'mjpeg', path],
      ]);
      const primary = await readFile(path);
      expect(primary.includes(Buffer.from([0xff, 0xd0]))).toBe(true);
      await expectPrimaryOnly(Buffer.concat([primary, await appendix()]), primary);
    } finally {
      await cleanup();
    }
  });

  it('answers undefined when the picture has no end, or something unexpected follows a scan', async () => {
    const jpeg = await noisy(32, 32).jpeg().toBuffer();
    // Cut before its EOI.
    expect(stripJpegMetadata(jpeg.subarray(0, jpeg.length - 2))).toBeUndefined();
    // A second frame header where only tables, scans or the end may come.
    const sof = jpeg.subarray(jpeg.indexOf(Buffer.from([0xff, 0xc0])));
    const frameAgain = Buffer.concat([jpeg.subarray(0, jpeg.length - 2), sof]);
    expect(stripJpegMetadata(frameAgain)).toBeUndefined();
  });
});
