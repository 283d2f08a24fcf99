import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stripGifMetadata } from '../media/gif-metadata.js';
import { renderImage } from '../media/render-image.js';
import { isFinished, type Json, postJson, signUp, type TestUser, upload, waitForPost } from './helpers/api.js';
import { startTestApp, type TestApp } from './helpers/harness.js';
import { animatedGif, tempDir } from './helpers/media-files.js';

// An animated GIF goes where the platform takes GIF as it is (Facebook photos, platform-apis.md
// 4.3): every frame kept, its metadata gone. Elsewhere it goes as its first frame, and the
// rendition says so in words.

let app: TestApp;
let user: TestUser;
let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  app = await startTestApp();
  user = await signUp(app.baseUrl);
  ({ dir, cleanup } = await tempDir('render-gif'));
});
afterAll(async () => {
  await app?.stop();
  await cleanup?.();
});

const METADATA = { comment: 'comment-marker-42', xmp: '<x:xmpmeta>xmp-marker-77</x:xmpmeta>' };

/** One local export per platform for the uploaded file; each target's exported file and notes. */
async function exportTo(bytes: Buffer, platforms: string[]) {
  const uploaded = await upload(user.api, bytes, 'moving.gif');
  expect(uploaded.status, JSON.stringify(uploaded.body)).toBe(201);
  const created = await postJson(user.api, '/api/v1/posts', {
    caption: 'A moving picture',
    mediaIds: [uploaded.body.id],
    targets: platforms.map((platform) => ({ type: 'local_export', key: platform, platform })),
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const post = await waitForPost(user.api, created.body.id, isFinished);
  expect(post.status, JSON.stringify(post)).toBe('published');
  const out: Record<string, { path: string; mimeType: string; changes: string[] }> = {};
  for (const platform of platforms) {
    const folder = join(app.dataDir, 'exports', post.id as string, platform);
    const [listed] = JSON.parse(await readFile(join(folder, 'metadata.json'), 'utf8')).media as Json[];
    const target = (post.targets as Json[]).find((t) => t.key === platform)!;
    const [rendition] = target.renditions as Json[];
    out[platform] = {
      path: join(folder, listed!.file as string),
      mimeType: listed!.mimeType as string,
      changes: rendition!.changes as string[],
    };
  }
  return out;
}

describe('an animated GIF', () => {
  it('goes to Facebook as it is, every frame kept and its metadata removed', async () => {
    const source = await animatedGif({ metadata: METADATA });
    const before = await sharp(source).metadata();
    expect([before.pages, before.loop]).toEqual([3, 0]);

    const { facebook } = await exportTo(source, ['facebook']);
    expect(facebook!.mimeType).toBe('image/gif');
    expect(facebook!.path.endsWith('.gif')).toBe(true);
    const bytes = await readFile(facebook!.path);
    const after = await sharp(bytes).metadata();
    expect({ format: after.format, pages: after.pages, loop: after.loop, delay: after.delay }).toEqual({
      format: 'gif',
      pages: 3,
      loop: 0,
      delay: before.delay,
    });
    // The same frames, pixel for pixel.
    const frames = (b: Buffer) => sharp(b, { animated: true }).raw().toBuffer();
    expect((await frames(bytes)).equals(await frames(source))).toBe(true);
    for (const marker of [METADATA.comment, 'xmp-marker-77', 'XMP DataXMP']) {
      expect({ marker, found: bytes.includes(marker) }).toEqual({ marker, found: false });
    }
    expect(facebook!.changes.join(' ')).not.toMatch(/first frame/);
  });

  it('goes as its first frame where the platform takes still pictures only, and says so', async () => {
    const source = await animatedGif();
    const { instagram, tiktok } = await exportTo(source, ['instagram', 'tiktok']);
    for (const out of [instagram!, tiktok!]) {
      expect(out.mimeType).toBe('image/jpeg');
      expect((await sharp(out.path).metadata()).pages ?? 1).toBe(1);
    }
    expect(instagram!.changes).toContain(
      'Animated GIF sent as its first frame: Instagram feed image takes still pictures only (JPEG).',
    );
    expect(tiktok!.changes).toContain(
      'Animated GIF sent as its first frame: TikTok photo post takes still pictures only (JPEG, WebP).',
    );
  });

  it('goes to Facebook as its first frame when it is over the size Facebook takes, and says why', async () => {
    const source = await animatedGif({ width: 700, height: 700, noise: true, frames: Array(8).fill('') });
    expect(source.length).toBeGreaterThan(4_000_000);
    const { facebook } = await exportTo(source, ['facebook']);
    expect(facebook!.mimeType).toBe('image/jpeg');
    expect((await readFile(facebook!.path)).length).toBeLessThanOrEqual(4_000_000);
    expect(
      facebook!.changes.some((c) =>
        c.startsWith(
          'Animated GIF sent as its first frame, as only a still picture can be changed to fit what Facebook Page photo takes: The image is',
        ),
      ),
      JSON.stringify(facebook!.changes),
    ).toBe(true);
  });
});

describe('a GIF whose structure cannot be followed', () => {
  it('is not stripped block by block, and is re-encoded with every frame instead', async () => {
    const source = await animatedGif({ metadata: METADATA });
    // Cut before the trailer: the blocks cannot be followed to the end.
    const cut = source.subarray(0, source.length - 1);
    expect(stripGifMetadata(cut)).toBeUndefined();
    expect(stripGifMetadata(source)).toBeDefined();

    const path = join(dir, 'cut.gif');
    await writeFile(path, cut);
    const out = join(dir, 'cut-out.gif');
    const [info] = await renderImage(path, [
      { rules: { maxWidth: 2048, maxHeight: 2048, format: 'gif', quality: 90 }, path: out },
    ]);
    const meta = await sharp(out).metadata();
    expect({ format: meta.format, pages: meta.pages, width: info!.width, height: info!.height }).toEqual({
      format: 'gif',
      pages: 3,
      width: 120,
      height: 90,
    });
    expect((await readFile(out)).includes(METADATA.comment)).toBe(false);
  });
});
