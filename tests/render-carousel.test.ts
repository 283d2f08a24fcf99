import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkMedia } from '../media/check.js';
import { probeImage, probeVideo } from '../media/probe.js';
import { isFinished, type Json, postJson, signUp, type TestUser, upload, waitForPost } from './helpers/api.js';
import { startTestApp, type TestApp } from './helpers/harness.js';
import { makeVideo, rulesOf, tempDir, tools } from './helpers/media-files.js';

// Instagram shows every item of a carousel at the first item's shape and crops the others to it
// (platform-apis.md 3.5): the render step frames every item to that shape itself, by the user's
// fit, so nothing is cut that the user did not choose to lose, and says so on each rendition.

let app: TestApp;
let user: TestUser;
let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  app = await startTestApp();
  user = await signUp(app.baseUrl);
  ({ dir, cleanup } = await tempDir('render-carousel'));
});
afterAll(async () => {
  await app?.stop();
  await cleanup?.();
});

let colours = 0;
/** A plain picture of its own colour (the same bytes again would be the library's earlier item). */
function picture(width: number, height: number) {
  colours += 1;
  const background = `#${(0x204060 + colours * 0x010203).toString(16).padStart(6, '0')}`;
  return sharp({ create: { width, height, channels: 3, background } })
    .jpeg()
    .toBuffer();
}

interface Exported {
  post: Json;
  files: { path: string; width: number; height: number; mimeType: string }[];
  changes: string[][];
}

/** Publishes the files as one post to a local export for Instagram; the exported files and notes. */
async function exportForInstagram(
  files: { bytes: Uint8Array; name: string }[],
  fit?: 'attention' | 'centre' | 'pad',
): Promise<Exported> {
  const ids: string[] = [];
  for (const file of files) {
    const uploaded = await upload(user.api, file.bytes, file.name);
    expect(uploaded.status, JSON.stringify(uploaded.body)).toBe(201);
    ids.push(uploaded.body.id as string);
  }
  const created = await postJson(user.api, '/api/v1/posts', {
    caption: 'A carousel',
    mediaIds: ids,
    targets: [{ type: 'local_export', key: 'ig', platform: 'instagram', ...(fit ? { fit } : {}) }],
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const post = await waitForPost(user.api, created.body.id, isFinished);
  expect(post.status, JSON.stringify(post)).toBe('published');
  const folder = join(app.dataDir, 'exports', post.id as string, 'ig');
  const listed = JSON.parse(await readFile(join(folder, 'metadata.json'), 'utf8')).media as Json[];
  const target = (post.targets as Json[]).find((t) => t.key === 'ig')!;
  const renditions = (target.renditions as Json[]).sort((a, b) => (a.position as number) - (b.position as number));
  return {
    post,
    files: listed.map((f) => ({
      path: join(folder, f.file as string),
      width: f.width as number,
      height: f.height as number,
      mimeType: f.mimeType as string,
    })),
    changes: renditions.map((r) => r.changes as string[]),
  };
}

const aspectOf = (f: { width: number; height: number }) => f.width / f.height;

describe('an Instagram carousel of pictures of different shapes', () => {
  it('frames every item to the first one’s shape (padded by default) and says why', async () => {
    const exported = await exportForInstagram([
      { bytes: await picture(1500, 1000), name: 'wide.jpg' },
      { bytes: await picture(1080, 1350), name: 'tall.jpg' },
      { bytes: await picture(1200, 1200), name: 'square.jpg' },
    ]);
    expect(exported.files).toHaveLength(3);
    for (const file of exported.files) {
      const meta = await sharp(file.path).metadata();
      expect({ file: file.path, width: meta.width, height: meta.height }).toEqual({
        file: file.path,
        width: file.width,
        height: file.height,
      });
      // 3:2, the first item's own shape, within a pixel's rounding.
      expect(Math.abs(aspectOf(file) - 1.5) / 1.5).toBeLessThan(0.005);
      expect(checkMedia(await probeImage(file.path), rulesOf('instagram', 'carousel_item'))).toEqual([]);
    }
    // The first item keeps its shape, so it is not reframed; the others are, in words.
    expect(exported.changes[0]!.join(' ')).not.toMatch(/Reframed/);
    for (const changes of exported.changes.slice(1)) {
      expect(changes).toContain(
        "Reframed to 1.50:1 (padded on a blurred background) to match the carousel's first item: Instagram shows every item at the first item's shape and would otherwise crop this one.",
      );
    }
    // Padded, not cropped: the tall picture spans the full height in the middle, on a darker blur.
    const tall = await sharp(exported.files[1]!.path).raw().toBuffer({ resolveWithObject: true });
    const at = (x: number, y: number) => {
      const i = (y * tall.info.width + x) * 3;
      return tall.data[i]! + tall.data[i + 1]! + tall.data[i + 2]!;
    };
    const middle = Math.floor(tall.info.width / 2);
    const centre = at(middle, Math.floor(tall.info.height / 2));
    expect(Math.abs(at(middle, 2) - centre)).toBeLessThan(12);
    expect(centre - at(2, Math.floor(tall.info.height / 2))).toBeGreaterThan(30);
  });

  it('crops instead when the user chose a crop', async () => {
    const exported = await exportForInstagram(
      [
        { bytes: await picture(1200, 1200), name: 'square.jpg' },
        { bytes: await picture(1500, 1000), name: 'wide.jpg' },
      ],
      'centre',
    );
    for (const file of exported.files) expect(Math.abs(aspectOf(file) - 1)).toBeLessThan(0.005);
    // 1500x1000 cropped at the centre to a square keeps its full height.
    expect([exported.files[1]!.width, exported.files[1]!.height]).toEqual([1000, 1000]);
    expect(exported.changes[1]).toContain(
      "Reframed to 1:1 (cropped around the centre) to match the carousel's first item: Instagram shows every item at the first item's shape and would otherwise crop this one.",
    );
  });

  it('moves a first item Instagram would refuse (9:16) to the nearest accepted shape, and the rest with it', async () => {
    const exported = await exportForInstagram([
      { bytes: await picture(900, 1600), name: 'story-shaped.jpg' },
      { bytes: await picture(1500, 1000), name: 'wide.jpg' },
    ]);
    for (const file of exported.files) {
      expect(aspectOf(file)).toBeGreaterThanOrEqual(0.8);
      expect(aspectOf(file)).toBeLessThan(0.81);
      expect(checkMedia(await probeImage(file.path), rulesOf('instagram', 'carousel_item'))).toEqual([]);
    }
    expect(
      exported.changes[0]!.some((c) =>
        c.startsWith('Reframed to 4:5 (padded on a blurred background), the nearest shape Instagram takes'),
      ),
    ).toBe(true);
    expect(exported.changes[1]!.some((c) => c.includes("to match the carousel's first item"))).toBe(true);
  });
});

describe('an Instagram carousel with a video', () => {
  it('frames the video to the first picture’s shape too', async () => {
    const video = await makeVideo(join(dir, 'tall.mp4'), { width: 360, height: 450, seconds: 3.2 });
    const exported = await exportForInstagram([
      { bytes: await picture(1200, 1200), name: 'square.jpg' },
      { bytes: await readFile(video), name: 'tall.mp4' },
    ]);
    const out = exported.files[1]!;
    expect(out.mimeType).toBe('video/mp4');
    const facts = await probeVideo(out.path, tools.ffprobe);
    expect(Math.abs(facts.width / facts.height - 1)).toBeLessThan(0.01);
    expect(checkMedia(facts, rulesOf('instagram', 'carousel_item')).filter((p) => !p.fixable)).toEqual([]);
    expect(exported.changes[1]).toContain(
      "Reframed to 1:1 (padded on a blurred background) to match the carousel's first item: Instagram shows every item at the first item's shape and would otherwise crop this one.",
    );
    expect(exported.changes[1]!.join(' ')).not.toMatch(/It will be reframed/);
  });
});
