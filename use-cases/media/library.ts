import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rm, stat } from 'node:fs/promises';
import { and, eq, inArray, not, type SQL, sql } from 'drizzle-orm';
import type { Database } from '../../db/client.js';
import { campaigns, media, postMedia, posts, renditions } from '../../db/schema.js';
import { ConflictError, NotFoundError, ValidationError } from '../../domain/errors.js';
import { isFinalStatus, type PostStatus } from '../../domain/pipeline.js';
import { importFromUrl, UrlImportError } from '../../media/url-import.js';
import type { MediaStore } from '../../storage/media-store.js';
import { mayStillPublish, retryableUntil } from '../posts/retry-window.js';
import { type IngestedMedia, ingestMedia } from './ingest-media.js';
import type { MediaServices } from './media-services.js';

// The media library beyond upload: rename, tag, delete (never from under a post or campaign that may
// still use it) and import from a URL.

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

export interface DeleteMediaDeps {
  db: Database;
  store: MediaStore;
  /** Days failed targets stay retryable (RETRY_WINDOW_DAYS): a retry publishes with the post's media. */
  retryWindowDays: number;
}

type Tx = Parameters<Parameters<Database['transaction']>[0]>[0];

/**
 * Deletes a library item with its files. Refused while something may still need it: a post that
 * has not ended or whose failed targets can still be retried (in its media or its brief's source
 * media), or an active or paused campaign whose brief draws on it. Ended posts lose it from their view.
 */
export async function deleteMedia(deps: DeleteMediaDeps, ownerId: string, id: string) {
  const { row, files } = await deps.db.transaction(async (tx) => {
    // Locked before the check: a post being saved with this media holds a key-share lock on the row
    // until it commits (the check then sees it), or waits and finds the row gone (its save fails).
    const [row] = await tx
      .select()
      .from(media)
      .where(and(eq(media.id, id), eq(media.ownerId, ownerId)))
      .for('update');
    if (!row) throw new NotFoundError(`Media ${id}`);
    const live = mayStillPublish(deps.retryWindowDays);
    const users = await usersOf(tx, ownerId, id, live);
    if (users.length > 0) throw new ConflictError('Media in use', inUseWords(id, users, deps.retryWindowDays));
    // Only ended posts' rows, said outright: never one of a post that could still publish it.
    const ended = tx.select({ id: posts.id }).from(posts).where(not(live));
    const made = await tx
      .delete(renditions)
      .where(and(eq(renditions.mediaId, id), inArray(renditions.postId, ended)))
      .returning();
    await tx.delete(postMedia).where(and(eq(postMedia.mediaId, id), inArray(postMedia.postId, ended)));
    await tx.delete(media).where(and(eq(media.id, id), eq(media.ownerId, ownerId)));
    return { row, files: made.flatMap((r) => [r.storageKey, ...(r.coverKey ? [r.coverKey] : [])]) };
  });
  for (const key of [row.storageKey, ...(row.thumbnailKey ? [row.thumbnailKey] : []), ...files]) {
    await deps.store.remove(key);
  }
}

interface MediaUser {
  kind: 'post' | 'campaign';
  id: string;
  name?: string;
  status: string;
  how: Set<'media' | 'brief'>;
  updatedAt?: Date;
}

async function usersOf(tx: Tx, ownerId: string, id: string, live: SQL): Promise<MediaUser[]> {
  const named = sql`${JSON.stringify([id])}::jsonb`;
  const postFields = { id: posts.id, status: posts.status, updatedAt: posts.updatedAt };
  const withMedia = await tx
    .selectDistinct(postFields)
    .from(postMedia)
    .innerJoin(posts, eq(posts.id, postMedia.postId))
    .where(and(eq(postMedia.mediaId, id), live));
  const withBrief = await tx
    .select(postFields)
    .from(posts)
    .where(and(eq(posts.ownerId, ownerId), sql`${posts.brief} -> 'sourceMediaIds' @> ${named}`, live));
  const briefCampaigns = await tx
    .select({ id: campaigns.id, name: campaigns.name, status: campaigns.status })
    .from(campaigns)
    .where(
      and(
        eq(campaigns.ownerId, ownerId),
        inArray(campaigns.status, ['active', 'paused']),
        sql`${campaigns.settings} -> 'brief' -> 'sourceMediaIds' @> ${named}`,
      ),
    );
  const found = new Map<string, MediaUser>();
  const add = (p: { id: string; status: string; updatedAt: Date }, how: 'media' | 'brief') => {
    const user = found.get(p.id) ?? { kind: 'post' as const, ...p, how: new Set() };
    user.how.add(how);
    found.set(p.id, user);
  };
  for (const p of withMedia) add(p, 'media');
  for (const p of withBrief) add(p, 'brief');
  return [
    ...[...found.values()].sort((a, b) => a.id.localeCompare(b.id)),
    ...briefCampaigns.map((c): MediaUser => ({ kind: 'campaign', ...c, how: new Set(['brief']) })),
  ];
}

function inUseWords(id: string, users: MediaUser[], retryWindowDays: number): string {
  const lines = users.map((u) => {
    if (u.kind === 'campaign') {
      return `campaign "${u.name}" (${u.id}, ${u.status}) makes each slot's post from a brief that names it as source media`;
    }
    const how = [...u.how].map((h) => (h === 'media' ? 'uses it' : 'names it in its brief')).join(' and ');
    const why = isFinalStatus(u.status as PostStatus)
      ? `can still be retried until ${utcWords(retryableUntil(u.updatedAt!, retryWindowDays))}`
      : 'has not finished';
    return `post ${u.id} (${u.status}), which ${how}, ${why}`;
  });
  const postUsers = users.filter((u) => u.kind === 'post');
  const todo = [
    ...(postUsers.some((u) => !isFinalStatus(u.status as PostStatus))
      ? ['cancel or wait for the unfinished posts']
      : []),
    ...(postUsers.some((u) => isFinalStatus(u.status as PostStatus)) ? ['wait for the retry windows to close'] : []),
    ...(users.some((u) => u.kind === 'campaign') ? ['end the campaigns or take it out of their briefs'] : []),
  ];
  return `Media ${id} is in use: ${lines.join('; ')}. ${capitalised(todo.join(', and '))}, then delete.`;
}

function utcWords(at: Date): string {
  return `${at.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

function capitalised(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
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
