import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rm, stat } from 'node:fs/promises';
import { and, eq, notInArray } from 'drizzle-orm';
import type { Database } from '../../db/client.js';
import { media, postMedia, posts, renditions } from '../../db/schema.js';
import { ConflictError, NotFoundError, ValidationError } from '../../domain/errors.js';
import { FINAL_STATUSES } from '../../domain/pipeline.js';
import { importFromUrl, UrlImportError } from '../../media/url-import.js';
import type { MediaStore } from '../../storage/media-store.js';
import { type IngestedMedia, ingestMedia } from './ingest-media.js';
import type { MediaServices } from './media-services.js';

// The media library beyond upload: rename, tag, delete (never from under a post still in progress)
// and import from a URL.

export interface LibraryDeps {
  db: Database;
  store: MediaStore;
  media: MediaServices;
  mediaMaxBytes: number;
}

type MediaRow = typeof media.$inferSelect;

export async function ownMediaRow(db: Database, ownerId: string, id: string): Promise<MediaRow> {
  const [row] = await db
    .select()
    .from(media)
    .where(and(eq(media.id, id), eq(media.ownerId, ownerId)));
  if (!row) throw new NotFoundError(`Media ${id}`);
  return row;
}

export async function updateMedia(
  db: Database,
  ownerId: string,
  id: string,
  change: { name?: string | null | undefined; tags?: string[] | undefined },
): Promise<MediaRow> {
  await ownMediaRow(db, ownerId, id);
  const set: Partial<typeof media.$inferInsert> = {};
  if (change.name !== undefined) set.originalName = change.name;
  if (change.tags !== undefined) set.tags = [...new Set(change.tags)];
  if (Object.keys(set).length === 0) return ownMediaRow(db, ownerId, id);
  const [row] = await db
    .update(media)
    .set(set)
    .where(and(eq(media.id, id), eq(media.ownerId, ownerId)))
    .returning();
  return row!;
}

/**
 * Deletes a library item with its files. Refused while a post that has not ended uses it (it would
 * vanish from under the render or publish step); ended posts lose it from their view.
 */
export async function deleteMedia(deps: { db: Database; store: MediaStore }, ownerId: string, id: string) {
  const row = await ownMediaRow(deps.db, ownerId, id);
  const inUse = await deps.db
    .selectDistinct({ id: posts.id, status: posts.status })
    .from(postMedia)
    .innerJoin(posts, eq(posts.id, postMedia.postId))
    .where(and(eq(postMedia.mediaId, id), notInArray(posts.status, [...FINAL_STATUSES])));
  if (inUse.length > 0) {
    const list = inUse.map((p) => `${p.id} (${p.status})`).join(', ');
    throw new ConflictError(
      'Media in use',
      `Media ${id} is used by ${inUse.length === 1 ? 'a post' : `${inUse.length} posts`} that ${inUse.length === 1 ? 'has' : 'have'} not finished: ${list}. Cancel or wait for ${inUse.length === 1 ? 'it' : 'them'}, then delete.`,
    );
  }
  const files = await deps.db.transaction(async (tx) => {
    const made = await tx.delete(renditions).where(eq(renditions.mediaId, id)).returning();
    await tx.delete(postMedia).where(eq(postMedia.mediaId, id));
    await tx.delete(media).where(and(eq(media.id, id), eq(media.ownerId, ownerId)));
    return made.flatMap((r) => [r.storageKey, ...(r.coverKey ? [r.coverKey] : [])]);
  });
  for (const key of [row.storageKey, ...(row.thumbnailKey ? [row.thumbnailKey] : []), ...files]) {
    await deps.store.remove(key);
  }
}

/**
 * Fetches a URL into the owner's library (links users paste, AI-made images): http(s) only, no
 * internal address after DNS on any hop, size and time limits, content sniffed; then ingested like
 * an upload (checked, probed, reused when the owner already has these bytes).
 */
export async function importMedia(
  deps: LibraryDeps,
  ownerId: string,
  request: { url: string; name?: string | undefined },
): Promise<IngestedMedia> {
  const tempPath = await deps.store.tempPath();
  try {
    const result = await importFromUrl(request.url, tempPath, {
      maxBytes: deps.mediaMaxBytes,
      timeoutMs: deps.media.urlImport.timeoutMs,
      allowlist: deps.media.urlImport.allowlist,
      resolver: deps.media.urlImport.resolver,
    });
    const { sha256, head } = await hashFile(tempPath);
    const name = request.name ?? (new URL(result.finalUrl).pathname.split('/').pop() || 'imported');
    return await ingestMedia(deps, ownerId, {
      tempPath,
      originalName: decodeURIComponentSafe(name),
      size: (await stat(tempPath)).size,
      sha256,
      head,
    });
  } catch (err) {
    if (err instanceof UrlImportError) throw new ValidationError([{ field: 'url', message: err.message }]);
    throw err;
  } finally {
    await rm(tempPath, { force: true });
  }
}

function decodeURIComponentSafe(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

async function hashFile(path: string): Promise<{ sha256: string; head: Uint8Array }> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  const handle = await open(path, 'r');
  try {
    const head = Buffer.alloc(64);
    const { bytesRead } = await handle.read(head, 0, 64, 0);
    return { sha256: hash.digest('hex'), head: head.subarray(0, bytesRead) };
  } finally {
    await handle.close();
  }
}
