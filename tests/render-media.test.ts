import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderSource } from '../activities/render-media.js';
import { renderImage } from '../media/render-image.js';
import type { MediaRules } from '../platforms/publisher.js';
import { isFinished, type Json, postJson, signUp, type TestUser, upload, waitForPost } from './helpers/api.js';
import { startTestApp, type TestApp } from './helpers/harness.js';

const PLATFORM_BOXES: Record<string, Omit<MediaRules, 'format' | 'quality'>> = {
  youtube: { maxWidth: 1280, maxHeight: 720 },
  tiktok: { maxWidth: 1080, maxHeight: 1920 },
  instagram: { maxWidth: 1080, maxHeight: 1350 },
  facebook: { maxWidth: 2048, maxHeight: 2048 },
};

/**
 * A 2400x1600 JPEG stored sideways with EXIF orientation 6 (shown rotated 90 degrees clockwise,
 * so 1600x2400 upright), carrying camera, copyright and GPS tags. Its stored top-left quarter is
 * red, the rest blue: upright, the red corner is at the top right.
 */
async function sidewaysPhotoWithGps(): Promise<Buffer> {
  const red = await sharp({ create: { width: 1200, height: 800, channels: 3, background: '#ff0000' } })
    .png()
    .toBuffer();
  return sharp({ create: { width: 2400, height: 1600, channels: 3, background: '#0000ff' } })
    .composite([{ input: red, left: 0, top: 0 }])
    .withExif({
      IFD0: { Make: 'TestCam', Copyright: 'exif-marker-123' },
      IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '48/1 8/1 2/1', GPSLongitudeRef: 'E', GPSLongitude: '11/1 34/1 0/1' },
    })
    .withMetadata({ orientation: 6 })
    .jpeg({ quality: 90 })
    .toBuffer();
}

/** A width x height picture of pseudo-random pixels: it compresses badly, so byte limits bite. */
function noise(width: number, height: number) {
  const pixels = Buffer.alloc(width * height * 3);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 2654435761) >>> 24;
  return sharp(pixels, { raw: { width, height, channels: 3 } });
}

/** What a rendition file holds, read back from its bytes. */
async function inspect(file: string) {
  const bytes = await readFile(file);
  const meta = await sharp(bytes).metadata();
  const { data, info } = await sharp(bytes).raw().toBuffer({ resolveWithObject: true });
  const pixel = (x: number, y: number) => [
    ...data.subarray((y * info.width + x) * info.channels, (y * info.width + x) * info.channels + 3),
  ];
  return { bytes, meta, info, pixel };
}

/** Whether an EXIF block points to a GPS directory (tag 0x8825, in either byte order). */
function hasGpsPointer(exif: Buffer): boolean {
  return exif.includes(Buffer.from([0x88, 0x25])) || exif.includes(Buffer.from([0x25, 0x88]));
}

function expectNoMetadata(file: Awaited<ReturnType<typeof inspect>>) {
  expect(file.meta.exif).toBeUndefined();
  expect(file.meta.icc).toBeUndefined();
  expect(file.meta.xmp).toBeUndefined();
  expect(file.meta.orientation).toBeUndefined();
  expect(file.bytes.includes('exif-marker-123')).toBe(false);
  expect(file.bytes.includes('TestCam')).toBe(false);
  expect(file.bytes.includes('Exif\0')).toBe(false);
}

/** The upright sizes of sidewaysPhotoWithGps (1600x2400 upright) in each platform's box. */
const SIDEWAYS_SIZES: Record<string, [number, number]> = {
  youtube: [480, 720],
  tiktok: [1080, 1620],
  instagram: [900, 1350],
  facebook: [1365, 2048],
};

/** A rendition of sidewaysPhotoWithGps: the size asked, JPEG, sRGB, no metadata, turned upright. */
async function expectUpright(path: string, info: { width: number; height: number }, [width, height]: [number, number]) {
  const out = await inspect(path);
  expect({ path, width: out.meta.width, height: out.meta.height }).toEqual({ path, width, height });
  expect(info).toMatchObject({ width, height, format: 'jpeg' });
  expect(out.meta.format).toBe('jpeg');
  expect(out.meta.space).toBe('srgb');
  expect(out.meta.channels).toBe(3);
  expectNoMetadata(out);
  // Upright: the stored top-left (red) is now the top-right corner; the top-left is blue.
  const [r1, , b1] = out.pixel(width - 5, 5);
  expect(r1).toBeGreaterThan(200);
  expect(b1).toBeLessThan(60);
  const [r2, , b2] = out.pixel(5, 5);
  expect(r2).toBeLessThan(60);
  expect(b2).toBeGreaterThan(200);
}

describe('renderSource', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'render-test-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('makes every size from one source, upright, sRGB, without EXIF or GPS', async () => {
    const source = join(dir, 'sideways.jpg');
    await writeFile(source, await sidewaysPhotoWithGps());
    const original = await sharp(source).metadata();
    expect(original.orientation).toBe(6);
    expect(hasGpsPointer(original.exif!)).toBe(true);

    const names = Object.keys(PLATFORM_BOXES);
    const infos = await renderSource(
      source,
      names.map((name) => ({
        rules: { ...PLATFORM_BOXES[name]!, format: 'jpeg', quality: 90 },
        path: join(dir, `${name}.out`),
      })),
    );
    for (const [i, name] of names.entries()) {
      await expectUpright(join(dir, `${name}.out`), infos[i]!, SIDEWAYS_SIZES[name]!);
    }
  });

  it('makes a single size straight from the file, upright, sRGB, without EXIF or GPS', async () => {
    // One picture to encode takes the single-pipeline path; it keeps every promise of the other.
    const source = join(dir, 'sideways-single.jpg');
    await writeFile(source, await sidewaysPhotoWithGps());
    for (const name of Object.keys(PLATFORM_BOXES)) {
      const path = join(dir, `single-${name}.out`);
      const [info] = await renderSource(source, [
        { rules: { ...PLATFORM_BOXES[name]!, format: 'jpeg', quality: 90 }, path },
      ]);
      await expectUpright(path, info!, SIDEWAYS_SIZES[name]!);
    }
  });

  it('passes a JPEG a target already fits through with only its metadata removed, and re-encodes for the rest', async () => {
    const source = join(dir, 'fits.jpg');
    // 1200x900, upright, sRGB, no profile: within Facebook's box, too wide for TikTok's.
    const bytes = await sharp({ create: { width: 1200, height: 900, channels: 3, background: '#3366cc' } })
      .withExif({ IFD0: { Make: 'TestCam', Copyright: 'exif-marker-123' } })
      .withXmp('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/></x:xmpmeta>')
      .jpeg({ quality: 75 })
      .toBuffer();
    await writeFile(source, bytes);
    expect((await sharp(bytes).metadata()).xmp).toBeDefined();

    const infos = await renderSource(source, [
      { rules: { ...PLATFORM_BOXES.facebook!, format: 'jpeg', quality: 90 }, path: join(dir, 'fits-facebook.out') },
      { rules: { ...PLATFORM_BOXES.tiktok!, format: 'jpeg', quality: 90 }, path: join(dir, 'fits-tiktok.out') },
    ]);
    const kept = await inspect(join(dir, 'fits-facebook.out'));
    expectNoMetadata(kept);
    expect(infos[0]).toMatchObject({ width: 1200, height: 900, format: 'jpeg', size: kept.bytes.length });
    // The compressed pixels are the source's, byte for byte, from the first scan to the end.
    const scan = (b: Buffer) => b.subarray(b.indexOf(Buffer.from([0xff, 0xda])));
    expect(scan(kept.bytes).equals(scan(bytes))).toBe(true);
    expect(kept.bytes.length).toBeLessThan(bytes.length);

    const resized = await inspect(join(dir, 'fits-tiktok.out'));
    expect(infos[1]).toMatchObject({ width: 1080, height: 810 });
    expect(scan(resized.bytes).equals(scan(bytes))).toBe(false);
    expectNoMetadata(resized);
  });

  it('re-encodes a JPEG that fits but would be over the byte limit as it is', async () => {
    const source = join(dir, 'heavy.jpg');
    await writeFile(source, await noise(800, 600).jpeg({ quality: 100 }).toBuffer());
    const [info] = await renderImage(source, [
      {
        rules: { maxWidth: 2048, maxHeight: 2048, format: 'jpeg', quality: 90, maxBytes: 300_000 },
        path: join(dir, 'heavy.out'),
      },
    ]);
    expect(info!.size).toBeLessThanOrEqual(300_000);
  });

  it('shares an encode between targets asking the same picture, unless a byte limit makes them differ', async () => {
    const source = join(dir, 'noisy.png');
    await writeFile(source, await noise(1600, 1200).png().toBuffer());
    const box = { maxWidth: 1080, maxHeight: 1080, format: 'jpeg' as const, quality: 90 };
    const out = (name: string) => join(dir, `shared-${name}.jpg`);
    const names = ['tight-first', 'free', 'free-again', 'tighter'];
    const infos = await renderImage(source, [
      { rules: { ...box, maxBytes: 150_000 }, path: out('tight-first') },
      { rules: box, path: out('free') },
      { rules: box, path: out('free-again') },
      { rules: { ...box, maxBytes: 100_000 }, path: out('tighter') },
    ]);
    const [tight, free, freeAgain, tighter] = infos;
    // The first had to step down for its limit; the unlimited one still gets the full picture.
    expect(tight!.size).toBeLessThanOrEqual(150_000);
    expect(free).toMatchObject({ width: 1080, height: 810 });
    expect(free!.size).toBeGreaterThan(150_000);
    // Alike with nothing between them: one encode, the same file.
    expect((await readFile(out('free-again'))).equals(await readFile(out('free')))).toBe(true);
    expect(freeAgain!.size).toBe(free!.size);
    // A tighter limit than the shared file meets: encoded for its own limit.
    expect(tighter!.size).toBeLessThanOrEqual(100_000);
    for (const [i, name] of names.entries()) expect((await readFile(out(name))).length).toBe(infos[i]!.size);
  });

  it('converts CMYK and wide-gamut sources to sRGB and drops their profiles', async () => {
    const cmyk = join(dir, 'cmyk.jpg');
    await sharp({ create: { width: 300, height: 200, channels: 3, background: '#3080c0' } })
      .toColourspace('cmyk')
      .jpeg()
      .toFile(cmyk);
    expect((await sharp(cmyk).metadata()).space).toBe('cmyk');
    const p3 = join(dir, 'p3.png');
    await sharp({ create: { width: 300, height: 200, channels: 3, background: '#00ff00' } })
      .withIccProfile('p3')
      .png()
      .toFile(p3);
    expect((await sharp(p3).metadata()).icc).toBeDefined();

    for (const source of [cmyk, p3]) {
      const path = `${source}.out`;
      await renderSource(source, [{ rules: { maxWidth: 150, maxHeight: 150, format: 'jpeg', quality: 90 }, path }]);
      const out = await inspect(path);
      expect({ width: out.meta.width, height: out.meta.height }).toEqual({ width: 150, height: 100 });
      expect(out.meta.space).toBe('srgb');
      expect(out.meta.channels).toBe(3);
      expectNoMetadata(out);
    }
    // Display P3's pure green lies outside sRGB: converted, it clips to sRGB's own green.
    const [r = 0, g = 0, b = 0] = (await inspect(`${p3}.out`)).pixel(75, 50);
    expect(g).toBeGreaterThan(230);
    expect(r + b).toBeLessThan(60);
  });

  it('flattens transparency onto white for JPEG and keeps it for PNG, never enlarging', async () => {
    const source = join(dir, 'alpha.png');
    await sharp({ create: { width: 200, height: 100, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } })
      .png()
      .toFile(source);
    const jpeg = join(dir, 'alpha-jpeg.out');
    const png = join(dir, 'alpha-png.out');
    await renderSource(source, [
      { rules: { maxWidth: 4096, maxHeight: 4096, format: 'jpeg', quality: 90 }, path: jpeg },
      { rules: { maxWidth: 100, maxHeight: 100, format: 'png', quality: 90 }, path: png },
    ]);
    const flat = await inspect(jpeg);
    expect({ w: flat.meta.width, h: flat.meta.height, channels: flat.meta.channels }).toEqual({
      w: 200,
      h: 100,
      channels: 3,
    });
    expect(flat.pixel(10, 10)).toEqual([255, 255, 255]);
    const kept = await inspect(png);
    expect({ w: kept.meta.width, h: kept.meta.height, alpha: kept.meta.hasAlpha }).toEqual({
      w: 100,
      h: 50,
      alpha: true,
    });
  });

  it('refuses a file that is not a picture', async () => {
    const source = join(dir, 'broken.jpg');
    await writeFile(source, Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(500, 7)]));
    await expect(
      renderSource(source, [
        { rules: { maxWidth: 100, maxHeight: 100, format: 'jpeg', quality: 90 }, path: `${source}.out` },
      ]),
    ).rejects.toThrow();
  });
});

describe('the render step of a post', () => {
  let app: TestApp;
  let user: TestUser;
  beforeAll(async () => {
    app = await startTestApp();
    user = await signUp(app.baseUrl);
  });
  afterAll(async () => {
    await app?.stop();
  });

  it('exports one upright rendition per platform with the size metadata.json states and no EXIF or GPS', async () => {
    const uploaded = await upload(user.api, await sidewaysPhotoWithGps());
    expect(uploaded.status, JSON.stringify(uploaded.body)).toBe(201);
    // YouTube takes videos only: an image-only post for it is refused up front (tests/media-api.test.ts).
    const platforms = Object.keys(PLATFORM_BOXES).filter((p) => p !== 'youtube');
    const created = await postJson(user.api, '/api/v1/posts', {
      caption: 'Four platforms, one decode',
      mediaIds: [uploaded.body.id],
      targets: platforms.map((platform) => ({ type: 'local_export', key: platform, platform })),
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const post = await waitForPost(user.api, created.body.id, isFinished);
    expect(post.status).toBe('published');

    for (const platform of platforms) {
      const folder = join(app.dataDir, 'exports', post.id, platform);
      const listed = JSON.parse(await readFile(join(folder, 'metadata.json'), 'utf8')).media as Json[];
      expect(listed).toHaveLength(1);
      const out = await inspect(join(folder, listed[0]!.file as string));
      const box = PLATFORM_BOXES[platform]!;
      if (platform === 'instagram') {
        // 2:3 is narrower than Instagram takes (4:5 to 1.91:1): padded out to 4:5, within the box.
        const aspect = out.meta.width! / out.meta.height!;
        expect(aspect).toBeGreaterThanOrEqual(0.8);
        expect(aspect).toBeLessThan(0.81);
        expect(out.meta.width).toBeLessThanOrEqual(box.maxWidth);
        expect(out.meta.height).toBeLessThanOrEqual(box.maxHeight);
      } else {
        // Upright 1600x2400 fitted into the platform's box.
        const scale = Math.min(1, box.maxWidth / 1600, box.maxHeight / 2400);
        expect({ platform, width: out.meta.width, height: out.meta.height }).toEqual({
          platform,
          width: Math.round(1600 * scale),
          height: Math.round(2400 * scale),
        });
      }
      expect(listed[0]).toMatchObject({ width: out.meta.width, height: out.meta.height, mimeType: 'image/jpeg' });
      expect(out.meta.space).toBe('srgb');
      expectNoMetadata(out);
    }
  });
});
