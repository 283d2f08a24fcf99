import { mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLocalExportPublisher } from '../platforms/local-export.js';
import { PermanentPublishError } from '../platforms/publisher.js';

async function setup() {
  const dataDir = await mkdtemp(join(tmpdir(), 'export-'));
  const image = join(dataDir, 'rendition.jpg');
  await writeFile(image, Buffer.from([0xff, 0xd8, 0xff, 0xd9]));
  const request = {
    postId: '11111111-2222-4333-8444-555555555555',
    targetKey: 'local_export',
    format: 'generic' as const,
    caption: 'Caption with\nnew line',
    draft: { caption: 'Caption with\nnew line' },
    publishedAt: new Date('2026-11-25T10:00:00Z'),
    renditions: [{ position: 0, path: image, mimeType: 'image/jpeg', width: 1, height: 1 }],
  };
  return { dataDir, request, publisher: createLocalExportPublisher(dataDir) };
}

describe('local export publisher', () => {
  it('refuses, permanently and in words, a destination that exists but is not its own export', async () => {
    const { dataDir, request, publisher } = await setup();
    await mkdir(join(dataDir, 'exports', request.postId), { recursive: true });
    await writeFile(join(dataDir, 'exports', request.postId, 'local_export'), 'somebody else');
    await expect(publisher.publish(request)).rejects.toThrow(PermanentPublishError);
    await expect(publisher.publish(request)).rejects.toThrow(
      /already exists and is not this post's export; move it away/,
    );
  });

  it('sizes images for the platform a hand-off is meant for', () => {
    const publisher = createLocalExportPublisher('/tmp');
    expect(publisher.mediaRules('instagram')).toMatchObject({ maxWidth: 1080, maxHeight: 1350 });
    expect(publisher.mediaRules('generic')).toMatchObject({ maxWidth: 4096, maxHeight: 4096 });
  });

  it('writes one folder per post and target with media, caption and metadata', async () => {
    const { dataDir, request, publisher } = await setup();
    const receipt = await publisher.publish(request);
    const folder = join(dataDir, 'exports', request.postId, 'local_export');
    expect(receipt).toEqual({ location: folder, files: ['media-01.jpg'], publishedAt: '2026-11-25T10:00:00.000Z' });
    expect((await readdir(folder)).sort()).toEqual(['caption.txt', 'media-01.jpg', 'metadata.json']);
    expect(await readFile(join(folder, 'caption.txt'), 'utf8')).toBe('Caption with\nnew line\n');
  });

  it('publishes once: a repeated call after success returns the first receipt and writes nothing', async () => {
    const { dataDir, request, publisher } = await setup();
    const first = await publisher.publish(request);
    const second = await publisher.publish({
      ...request,
      caption: 'changed',
      publishedAt: new Date('2027-01-01T00:00:00Z'),
    });
    expect(second).toEqual(first);
    const folder = join(dataDir, 'exports', request.postId, 'local_export');
    expect(await readFile(join(folder, 'caption.txt'), 'utf8')).toBe('Caption with\nnew line\n');
    expect(await readdir(join(dataDir, 'exports', request.postId))).toEqual(['local_export']);
  });

  it('replaces the leftovers of an attempt that crashed half-way', async () => {
    const { dataDir, request, publisher } = await setup();
    const staging = join(dataDir, 'exports', request.postId, 'local_export.partial');
    await mkdir(staging, { recursive: true });
    await writeFile(join(staging, 'media-01.jpg'), 'half a file');
    await publisher.publish(request);
    expect(await readdir(join(dataDir, 'exports', request.postId))).toEqual(['local_export']);
    const folder = join(dataDir, 'exports', request.postId, 'local_export');
    expect((await readFile(join(folder, 'media-01.jpg'))).length).toBe(4);
  });
});
