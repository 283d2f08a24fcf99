import { copyFile, lstat, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import type { DraftFormat } from '../domain/drafts.js';
import { PermanentPublishError, type Publisher, type PublishReceipt, type PublishRequest } from './publisher.js';

const MANUAL_POSTING_SIZES: { [F in DraftFormat]: { maxWidth: number; maxHeight: number } } = {
  generic: { maxWidth: 4096, maxHeight: 4096 },
  // Instagram shows at most 1080 px wide, portrait up to 4:5.
  instagram: { maxWidth: 1080, maxHeight: 1350 },
  facebook: { maxWidth: 2048, maxHeight: 2048 },
  // Thumbnail and cover sizes for video platforms.
  youtube: { maxWidth: 1280, maxHeight: 720 },
  tiktok: { maxWidth: 1080, maxHeight: 1920 },
};

interface ExportMetadata {
  postId: string;
  targetKey: string;
  format: DraftFormat;
  caption: string;
  draft: Record<string, unknown> | null;
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
    // The hand-off is posted by a person on the platform named by the format: size for it.
    mediaRules: (format) => ({ ...MANUAL_POSTING_SIZES[format], format: 'jpeg', quality: 90 }),
    async publish(request: PublishRequest): Promise<PublishReceipt> {
      const folder = join(exportFolderOf(dataDir, request.postId), request.targetKey);
      const existing = await readMetadata(folder);
      // The folder appears only by an atomic rename of a finished one, so finding it means an
      // earlier attempt completed: report that instead of writing a second copy.
      if (existing?.postId === request.postId) return receipt(folder, existing);
      if (await exists(folder)) {
        throw new PermanentPublishError(
          `${folder} already exists and is not this post's export; move it away, then retry this target`,
        );
      }

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
        format: request.format,
        caption: request.caption,
        draft: request.draft,
        publishedAt: request.publishedAt.toISOString(),
        media: mediaFiles,
      };
      await writeFile(join(staging, 'caption.txt'), `${request.caption}\n`);
      if (typeof request.draft?.script === 'string')
        await writeFile(join(staging, 'script.txt'), `${request.draft.script}\n`);
      await writeFile(join(staging, 'metadata.json'), `${JSON.stringify(metadata, null, 2)}\n`);
      await rename(staging, folder);
      return receipt(folder, metadata);
    },
  };
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
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
