import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { placementRules } from '../domain/media-rules.js';
import { checkMedia } from '../media/check.js';
import { probeImage } from '../media/probe.js';
import { isFinished, type Json, postJson, signUp, type TestUser, upload, waitForPost } from './helpers/api.js';
import { startTestApp, type TestApp } from './helpers/harness.js';

// What the render step hands a platform is judged from the exported file itself: its bytes for
// what must not be in it, and the app's own check of the target's rules for its shape.

const EOI = Buffer.from([0xff, 0xd9]);
const SOS = Buffer.from([0xff, 0xda]);

let app: TestApp;
let user: TestUser;
beforeAll(async () => {
  app = await startTestApp();
  user = await signUp(app.baseUrl);
});
afterAll(async () => {
  await app?.stop();
});

/** A picture of pseudo-random pixels: its scan data is full of stuffed 0xFF00 bytes. */
function noisy(width: number, height: number) {
  const pixels = Buffer.alloc(width * height * 3);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 2654435761) >>> 24;
  return sharp(pixels, { raw: { width, height, channels: 3 } });
}

/** Renders `bytes` for one Instagram local export target and returns the exported file. */
async function renderForInstagram(bytes: Buffer, fit?: 'attention' | 'centre' | 'pad') {
  const uploaded = await upload(user.api, bytes);
  expect(uploaded.status, JSON.stringify(uploaded.body)).toBe(201);
  const created = await postJson(user.api, '/api/v1/posts', {
    caption: 'Rendered for Instagram',
    mediaIds: [uploaded.body.id],
    targets: [{ type: 'local_export', key: 'ig', platform: 'instagram', ...(fit ? { fit } : {}) }],
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const post = await waitForPost(user.api, created.body.id, isFinished);
  expect(post.status, JSON.stringify(post)).toBe('published');
  const folder = join(app.dataDir, 'exports', post.id as string, 'ig');
  const listed = JSON.parse(await readFile(join(folder, 'metadata.json'), 'utf8')).media as Json[];
  expect(listed).toHaveLength(1);
  return join(folder, listed[0]!.file as string);
}

describe('a JPEG passed through for Instagram as it is', () => {
  it('ends at its own picture: no MPO second image, EXIF, GPS or appended payload survives', async () => {
    const primary = await noisy(640, 640).jpeg({ quality: 90 }).toBuffer();
    const second = await sharp({ create: { width: 64, height: 48, channels: 3, background: '#00ff00' } })
      .withExif({
        IFD0: { Make: 'SECRETCAM', Copyright: 'second-image-marker' },
        IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '48/1 8/1 2/1', GPSLongitudeRef: 'E', GPSLongitude: '11/1 34/1 0/1' },
      })
      .jpeg()
      .toBuffer();
    // The MPO index (APP2 "MPF") after SOI, the second image and a motion-photo video after EOI.
    const mpf = Buffer.concat([Buffer.from('MPF\0'), Buffer.from('II*\0\x08\0\0\0', 'latin1')]);
    const app2 = Buffer.concat([Buffer.from([0xff, 0xe2, 0, mpf.length + 2]), mpf]);
    const source = Buffer.concat([
      primary.subarray(0, 2),
      app2,
      primary.subarray(2),
      second,
      Buffer.from('MOTION-PHOTO-PAYLOAD ftypmp42 with a secret inside'),
    ]);

    const out = await readFile(await renderForInstagram(source));
    // Passed through (the scans are the source's), not re-encoded, and nothing after its EOI.
    expect(out.subarray(out.indexOf(SOS)).equals(primary.subarray(primary.indexOf(SOS)))).toBe(true);
    expect(out.subarray(-2).equals(EOI)).toBe(true);
    for (const secret of ['Exif\0\0', 'SECRETCAM', 'second-image-marker', 'MOTION-PHOTO-PAYLOAD', 'MPF\0']) {
      expect({ secret, found: out.includes(secret) }).toEqual({ secret, found: false });
    }
    const meta = await sharp(out).metadata();
    expect([meta.width, meta.height, meta.exif]).toEqual([640, 640, undefined]);
  });

  it('keeps a progressive JPEG decoding to the same pixels', async () => {
    const source = await noisy(600, 500).jpeg({ quality: 90, progressive: true }).toBuffer();
    const out = await readFile(await renderForInstagram(source));
    expect(out.equals(source)).toBe(true);
    const pixels = (b: Buffer) => sharp(b).raw().toBuffer();
    expect((await pixels(out)).equals(await pixels(source))).toBe(true);
  });
});

describe('a picture just narrower than Instagram takes (4:5)', () => {
  const feedImage = placementRules('instagram', 'feed_image')!;

  it.each([
    [1079, 1350, undefined, '#3366cc'],
    [1599, 2000, undefined, '#3366cd'],
    [1079, 1350, 'centre', '#3366ce'],
    [1599, 2000, 'attention', '#3366cf'],
  ] as const)('%ix%i (fit %s) is reframed into the accepted range', async (width, height, fit, background) => {
    // A colour of its own per case: the same bytes again would be the library's earlier item.
    const source = await sharp({ create: { width, height, channels: 3, background } })
      .jpeg()
      .toBuffer();
    expect(checkMedia(await probeImage(await writeTemp(source)), feedImage).map((p) => p.code)).toContain(
      'aspect_ratio_out_of_range',
    );
    const facts = await probeImage(await renderForInstagram(source, fit));
    expect({ size: [facts.width, facts.height], problems: checkMedia(facts, feedImage) }).toEqual({
      size: [facts.width, facts.height],
      problems: [],
    });
  });
});

let temps = 0;
async function writeTemp(bytes: Buffer): Promise<string> {
  const path = join(app.dataDir, `render-rules-${++temps}.jpg`);
  await sharp(bytes).toFile(path);
  return path;
}
