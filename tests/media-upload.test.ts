import { readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { count } from 'drizzle-orm';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { media } from '../db/schema.js';
import { call, expectProblem, photoWithExif, signUp, type TestUser, upload } from './helpers/api.js';
import { startTestApp, type TestApp } from './helpers/harness.js';

const LIMIT = 64 * 1024;
let app: TestApp;
let user: TestUser;
beforeAll(async () => {
  app = await startTestApp({ env: { MEDIA_MAX_BYTES: String(LIMIT) } });
  user = await signUp(app.baseUrl);
});
afterAll(async () => {
  await app?.stop();
});

async function mediaRows() {
  const [{ n }] = (await app.db.select({ n: count() }).from(media)) as [{ n: number }];
  return n;
}

/** Every file under the media store, including half-received uploads. */
async function storedFiles(): Promise<string[]> {
  try {
    return (await readdir(join(app.dataDir, 'media'), { recursive: true, withFileTypes: true }))
      .filter((e) => e.isFile())
      .map((e) => join(e.parentPath, e.name));
  } catch {
    return [];
  }
}

describe('POST /api/v1/media', () => {
  it('stores an image, sniffing its type from the bytes, not the name', async () => {
    const png = await sharp({ create: { width: 40, height: 30, channels: 4, background: '#ff000080' } })
      .png()
      .toBuffer();
    const res = await upload(user.api, png, 'looks-like.jpg');
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      mimeType: 'image/png',
      width: 40,
      height: 30,
      sizeBytes: png.length,
      originalName: 'looks-like.jpg',
    });
    expect(res.body.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.body.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect((await storedFiles()).some((f) => f.endsWith(`${res.body.id}.png`))).toBe(true);
  });

  it.each([
    [
      'webp',
      () =>
        sharp({ create: { width: 8, height: 8, channels: 3, background: '#000' } })
          .webp()
          .toBuffer(),
      'image/webp',
    ],
    [
      'gif',
      () =>
        sharp({ create: { width: 8, height: 8, channels: 3, background: '#000' } })
          .gif()
          .toBuffer(),
      'image/gif',
    ],
    ['jpeg with EXIF', () => photoWithExif(100, 50), 'image/jpeg'],
  ])('accepts %s', async (_name, make, mime) => {
    const res = await upload(user.api, await make());
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.mimeType).toBe(mime);
  });

  const rejected: [
    string,
    () => Promise<{ status: number; headers: Headers; body: Record<string, unknown> }>,
    number,
  ][] = [
    ['a text file', () => upload(user.api, new TextEncoder().encode('hello, not an image\n'), 'notes.jpg'), 422],
    ['a PDF', () => upload(user.api, new TextEncoder().encode('%PDF-1.7\n1 0 obj\n'), 'doc.png'), 422],
    [
      'a truncated JPEG (its header intact, its end missing)',
      async () => {
        const whole = await photoWithExif(400, 300);
        return upload(user.api, whole.subarray(0, Math.floor(whole.length * 0.7)), 'cut.jpg');
      },
      422,
    ],
    [
      'a truncated PNG',
      async () => {
        const whole = await sharp({ create: { width: 300, height: 200, channels: 3, background: '#123456' } })
          .png()
          .toBuffer();
        return upload(user.api, whole.subarray(0, whole.length - 20), 'cut.png');
      },
      422,
    ],
    [
      'an image header with garbage after it',
      () => upload(user.api, Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 4, 5]), 'broken.jpg'),
      422,
    ],
    ['an empty file', () => upload(user.api, new Uint8Array(), 'empty.jpg'), 422],
    ['a file in the wrong field', () => upload(user.api, new Uint8Array([1, 2, 3]), 'x.jpg', 'picture'), 422],
    ['an oversized upload', async () => upload(user.api, await noisyPng(LIMIT * 4)), 413],
    [
      'a JSON body',
      () =>
        call(user.api, '/api/v1/media', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: '{}',
        }),
      415,
    ],
    [
      'a multipart body with a broken boundary',
      () =>
        call(user.api, '/api/v1/media', {
          method: 'POST',
          headers: { 'content-type': 'multipart/form-data; boundary=XYZ' },
          body: '--XYZ\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n\xff\xd8\xff',
        }),
      400,
    ],
  ];

  it.each(rejected)('rejects %s with a problem naming the field and keeps nothing', async (_name, send, status) => {
    const rowsBefore = await mediaRows();
    const filesBefore = await storedFiles();
    const res = await send();
    expectProblem(res as never, status, 'file');
    expect(await mediaRows()).toBe(rowsBefore);
    expect(await storedFiles()).toEqual(filesBefore);
  });
});

describe('when the server cannot store an upload', () => {
  it('answers promptly with a problem that does not reveal server paths, and keeps serving', async () => {
    const incoming = join(app.dataDir, 'media', '.incoming');
    await rm(incoming, { recursive: true, force: true });
    await writeFile(incoming, 'not a directory');
    const rowsBefore = await mediaRows();
    try {
      const big = new Uint8Array(5 * 1024 * 1024).fill(7);
      big.set([0xff, 0xd8, 0xff, 0xe0]);
      const started = Date.now();
      const res = await upload(user.api, big);
      expectProblem(res as never, 507);
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(JSON.stringify(res.body)).not.toContain(app.dataDir);
      expect(await mediaRows()).toBe(rowsBefore);
    } finally {
      await rm(incoming, { force: true });
    }
    expect((await upload(user.api, await photoWithExif(20, 20))).status).toBe(201);
  });
});

/** A PNG of random pixels: does not compress, so its size is about `bytes`. */
async function noisyPng(bytes: number): Promise<Buffer> {
  const side = Math.ceil(Math.sqrt(bytes / 3));
  const pixels = Buffer.alloc(side * side * 3);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 7919 + (i >> 3) * 104729) & 0xff;
  const png = await sharp(pixels, { raw: { width: side, height: side, channels: 3 } })
    .png({ compressionLevel: 0 })
    .toBuffer();
  expect(png.length).toBeGreaterThan(LIMIT);
  return png;
}

describe('a file that looks like a video but is not one', () => {
  it('is refused saying why, without the server paths ffprobe names', async () => {
    const random = Buffer.alloc(4000);
    for (let i = 0; i < random.length; i++) random[i] = (i * 2654435761) >>> 24;
    const fake = Buffer.concat([Buffer.from([0, 0, 0, 0x18]), Buffer.from('ftypisom'), random]);
    const res = await upload(user.api, fake, 'clip.mp4');
    expectProblem(res as never, 422, 'file');
    const body = JSON.stringify(res.body);
    expect(body).toContain('Invalid data found when processing input');
    expect(body).not.toContain('.incoming');
    expect(body).not.toContain(app.dataDir);
  });
});
