import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { stripJpegMetadata } from '../media/jpeg-metadata.js';

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
