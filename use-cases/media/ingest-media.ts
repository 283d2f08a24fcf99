import { createHash, randomUUID } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { and, eq } from 'drizzle-orm';
import sharp, { type Metadata } from 'sharp';
import type { Database } from '../../db/client.js';
import { media } from '../../db/schema.js';
import { ValidationError } from '../../domain/errors.js';
import { isStorableText, STORABLE_TEXT_RULE } from '../../domain/text.js';
import type { MediaTools } from '../../media/tools.js';
import { SUPPORTED_VIDEO_TYPES, sniffVideoType } from '../../media/video-sniff.js';
import type { MediaStore } from '../../storage/media-store.js';
import { type SniffedType, SUPPORTED_UPLOAD_TYPES, sniffMediaType } from '../../storage/sniff.js';
import { describeMedia, thumbnailKeyOf } from './describe-media.js';

/** Larger images are refused at the door: decoding them would cost more memory than a post is worth. */
export const MAX_INPUT_PIXELS = 100_000_000;

export interface IngestDeps {
  db: Database;
  store: MediaStore;
  /** ffmpeg/ffprobe: videos are accepted only where they are installed. */
  media?: { tools?: MediaTools | undefined; probeTimeoutMs?: number | undefined };
}

/** A file already on disk under the store's temporary area, with what was learnt while receiving it. */
export interface IncomingFile {
  tempPath: string;
  originalName: string;
  size: number;
  sha256: string;
  /** The first bytes, enough to tell the type. */
  head: Uint8Array;
}

/** The bytes are not one of the image types we accept. */
export class UnsupportedMediaError extends Error {
  override name = 'UnsupportedMediaError';
  readonly accepted = [...SUPPORTED_UPLOAD_TYPES, ...SUPPORTED_VIDEO_TYPES];
  constructor() {
    super(`content must be one of ${[...SUPPORTED_UPLOAD_TYPES, ...SUPPORTED_VIDEO_TYPES].join(', ')}`);
  }
}

export type MediaRow = typeof media.$inferSelect;

/** `reused`: the owner had uploaded these very bytes before; that item is answered instead of a copy. */
export type IngestedMedia = MediaRow & { reused?: boolean };

/**
 * Takes a received file into the media library of `ownerId`: checks what can be checked now (not
 * empty, a type we accept by its bytes, an image that decodes to its end within the pixel limit,
 * a storable name), moves it into place and records it. The temporary file is gone afterwards,
 * accepted or not. Uploads and AI-made images both come in through here.
 */
export async function ingestMedia(deps: IngestDeps, ownerId: string, file: IncomingFile): Promise<IngestedMedia> {
  try {
    if (file.size === 0) throw new ValidationError([{ field: 'file', message: 'the file is empty' }]);
    const name = file.originalName.slice(0, 255);
    if (!isStorableText(name)) throw new ValidationError([{ field: 'filename', message: STORABLE_TEXT_RULE }]);
    const type = sniffMediaType(file.head) ?? sniffVideoType(file.head);
    if (!type) throw new UnsupportedMediaError();
    const [duplicate] = await deps.db
      .select()
      .from(media)
      .where(and(eq(media.ownerId, ownerId), eq(media.sha256, file.sha256), eq(media.sizeBytes, file.size)))
      .limit(1);
    if (duplicate && (await deps.store.exists(duplicate.storageKey))) return { ...duplicate, reused: true };
    if (type.kind === 'image') await decodeFully(file.tempPath, type);
    const id = randomUUID();
    const facts = await describeMedia(
      { store: deps.store, tools: deps.media?.tools, probeTimeoutMs: deps.media?.probeTimeoutMs },
      id,
      file.tempPath,
      type.kind,
    );
    const storageKey = `originals/${id}.${type.ext}`;
    await deps.store.commit(file.tempPath, storageKey);
    try {
      const [row] = await deps.db
        .insert(media)
        .values({
          id,
          ownerId,
          originalName: name || null,
          mimeType: type.mime,
          sizeBytes: file.size,
          sha256: file.sha256,
          storageKey,
          ...facts,
        })
        .returning();
      return row!;
    } catch (err) {
      await deps.store.remove(storageKey);
      await deps.store.remove(thumbnailKeyOf(id));
      throw err;
    }
  } finally {
    await rm(file.tempPath, { force: true });
  }
}

/** The same for bytes made in memory (an AI image): written to a temporary file, then ingested. */
export async function ingestMediaBytes(
  deps: IngestDeps,
  ownerId: string,
  bytes: Uint8Array,
  originalName: string,
): Promise<MediaRow> {
  const tempPath = await deps.store.tempPath();
  try {
    await writeFile(tempPath, bytes);
  } catch (err) {
    await rm(tempPath, { force: true });
    throw err;
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  return ingestMedia(deps, ownerId, {
    tempPath,
    originalName,
    size: bytes.length,
    sha256,
    head: bytes.subarray(0, 64),
  });
}

/**
 * Decodes the whole image once, shrunk on load so it stays cheap, so a truncated or corrupt file
 * is refused now rather than failing a post at render time.
 */
async function decodeFully(path: string, type: SniffedType): Promise<{ width: number; height: number }> {
  const fail = (why: string) => new ValidationError([{ field: 'file', message: why }]);
  let meta: Metadata;
  try {
    meta = await sharp(path, { limitInputPixels: false }).metadata();
  } catch {
    throw fail(`looks like ${type.mime} but cannot be decoded`);
  }
  if (!meta.width || !meta.height) throw fail(`looks like ${type.mime} but has no dimensions`);
  if (meta.width * meta.height > MAX_INPUT_PIXELS) {
    throw fail(
      `has ${meta.width}x${meta.height} pixels; at most ${MAX_INPUT_PIXELS / 1_000_000} megapixels are accepted`,
    );
  }
  try {
    await sharp(path, { failOn: 'truncated', limitInputPixels: MAX_INPUT_PIXELS })
      .resize({ width: 16, height: 16, fit: 'inside' })
      .raw()
      .toBuffer();
  } catch {
    throw fail(`looks like ${type.mime} but is truncated or corrupt`);
  }
  return { width: meta.width, height: meta.height };
}
