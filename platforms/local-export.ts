import { copyFile, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import type { Publisher, PublishReceipt, PublishRequest } from './publisher.js';

interface ExportMetadata {
  postId: string;
  targetKey: string;
  caption: string;
  publishedAt: string;
  media: { file: string; mimeType: string; width: number; height: number }[];
}

/** Where a post's exports live; removed with the post's owner. */
export function exportFolderOf(dataDir: string, postId: string): string {
  return join(dataDir, 'exports', postId);
}

/**
 * Hand-off for manual posting: the rendered media, the caption and a metadata file in a folder
 * per post under the data dir (`exports/<post id>/<target key>/`).
 */
export function createLocalExportPublisher(dataDir: string): Publisher {
  return {
    type: 'local_export',
    mediaRules: { maxWidth: 4096, maxHeight: 4096, format: 'jpeg', quality: 90 },
    async publish(request: PublishRequest): Promise<PublishReceipt> {
      const folder = join(exportFolderOf(dataDir, request.postId), request.targetKey);
      const existing = await readMetadata(folder);
      // The folder appears only by an atomic rename of a finished one, so finding it means an
      // earlier attempt completed: report that instead of writing a second copy.
      if (existing?.postId === request.postId) return receipt(folder, existing);

      const staging = `${folder}.partial`;
      await rm(staging, { recursive: true, force: true });
      await mkdir(staging, { recursive: true });
      const mediaFiles: ExportMetadata['media'] = [];
      for (const r of request.renditions) {
        const file = `media-${String(r.position + 1).padStart(2, '0')}${extname(r.path) || '.bin'}`;
        await copyFile(r.path, join(staging, file));
        mediaFiles.push({ file, mimeType: r.mimeType, width: r.width, height: r.height });
      }
      const metadata: ExportMetadata = {
        postId: request.postId,
        targetKey: request.targetKey,
        caption: request.caption,
        publishedAt: request.publishedAt.toISOString(),
        media: mediaFiles,
      };
      await writeFile(join(staging, 'caption.txt'), `${request.caption}\n`);
      await writeFile(join(staging, 'metadata.json'), `${JSON.stringify(metadata, null, 2)}\n`);
      await rename(staging, folder);
      return receipt(folder, metadata);
    },
  };
}

async function readMetadata(folder: string): Promise<ExportMetadata | undefined> {
  try {
    return JSON.parse(await readFile(join(folder, 'metadata.json'), 'utf8')) as ExportMetadata;
  } catch {
    return undefined;
  }
}

function receipt(folder: string, metadata: ExportMetadata): PublishReceipt {
  return { location: folder, files: metadata.media.map((m) => m.file), publishedAt: metadata.publishedAt };
}
