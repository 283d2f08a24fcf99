import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { asc, eq, inArray } from 'drizzle-orm';
import { pack as createPack, type Pack } from 'tar-stream';
import type { Database } from '../db/client.js';
import {
  apiKeys,
  attempts,
  auditEvents,
  campaignSlots,
  campaigns,
  connections,
  media,
  posts,
  sessions,
  users,
} from '../db/schema.js';
import type { MediaStore } from '../storage/media-store.js';
import { toConnectionView } from '../use-cases/connections/list-connections.js';
import { viewOf } from '../use-cases/posts/view-post.js';

const README = `AutoPostPanel data export

profile.json             your name, email and when the account was made
posts.json               every post with its steps, targets, results and every attempt
campaigns.json           every campaign with its settings (brief, targets, cadence, review) and what
                         became of each slot it reached
media.json, media/       metadata and the original files you uploaded
api-keys.json            your API keys' names and dates (the keys themselves are never stored)
sessions.json            sign-in sessions and when they ended
audit-log.json           security events: sign-ins, key changes, exports, with IP and time
connected-accounts.json  connected social accounts (metadata only, never tokens)
`;

function addJson(pack: Pack, name: string, value: unknown): Promise<void> {
  return new Promise((resolve, reject) => {
    pack.entry({ name, mode: 0o644 }, `${JSON.stringify(value, null, 2)}\n`, (err) => (err ? reject(err) : resolve()));
  });
}

/** Streams a .tar.gz of everything held about one user into `out`; media files are streamed, not buffered. */
export async function writeExportArchive(
  deps: { db: Database; store: MediaStore },
  userId: string,
  out: Writable,
): Promise<void> {
  const { db, store } = deps;
  const pack = createPack();
  const written = pipeline(pack, createGzip(), out);

  const [user] = await db.select().from(users).where(eq(users.id, userId));
  if (!user) throw new Error('user not found');
  const userPosts = await db.select().from(posts).where(eq(posts.ownerId, userId)).orderBy(asc(posts.createdAt));
  const postIds = userPosts.map((p) => p.id);
  const postAttempts =
    postIds.length > 0
      ? await db.select().from(attempts).where(inArray(attempts.postId, postIds)).orderBy(asc(attempts.startedAt))
      : [];
  const postViews = [];
  for (const post of userPosts) {
    const view = await viewOf(db, post, { namespace: '' });
    postViews.push({
      ...view,
      workflow: { id: post.workflowId },
      attempts: postAttempts.filter((a) => a.postId === post.id),
    });
  }
  const userMedia = await db.select().from(media).where(eq(media.ownerId, userId)).orderBy(asc(media.createdAt));

  await new Promise<void>((resolve, reject) =>
    pack.entry({ name: 'README.txt', mode: 0o644 }, README, (err) => (err ? reject(err) : resolve())),
  );
  await addJson(pack, 'profile.json', {
    id: user.id,
    name: user.name,
    email: user.email,
    createdAt: user.createdAt,
    updatedAt: user.updatedAt,
  });
  await addJson(pack, 'posts.json', postViews);
  await addJson(
    pack,
    'media.json',
    userMedia.map(({ ownerId: _owner, storageKey, ...m }) => ({ ...m, file: `media/${storageKey.split('/').pop()}` })),
  );
  for (const item of userMedia) {
    const size = (await store.size(item.storageKey)) ?? 0;
    if (size === 0) continue;
    const entry = pack.entry({ name: `media/${item.storageKey.split('/').pop()}`, size, mode: 0o644 });
    await pipeline(store.read(item.storageKey), entry);
  }
  await addJson(
    pack,
    'api-keys.json',
    (await db.select().from(apiKeys).where(eq(apiKeys.userId, userId))).map(
      ({ keyHash: _hash, userId: _u, ...k }) => k,
    ),
  );
  await addJson(
    pack,
    'sessions.json',
    (await db.select().from(sessions).where(eq(sessions.userId, userId))).map(({ userId: _u, ...s }) => s),
  );
  await addJson(
    pack,
    'audit-log.json',
    (await db.select().from(auditEvents).where(eq(auditEvents.userId, userId)).orderBy(asc(auditEvents.createdAt))).map(
      ({ userId: _u, ...e }) => e,
    ),
  );
  await addJson(pack, 'campaigns.json', await campaignsOf(db, userId));
  // Views only: the token columns never leave the database.
  await addJson(
    pack,
    'connected-accounts.json',
    (await db.select().from(connections).where(eq(connections.ownerId, userId))).map((row) =>
      toConnectionView(row, new Date()),
    ),
  );
  pack.finalize();
  await written;
}

/** The caller's campaigns as saved, each with what became of the slots it reached. */
async function campaignsOf(db: Database, userId: string) {
  const rows = await db.select().from(campaigns).where(eq(campaigns.ownerId, userId)).orderBy(asc(campaigns.createdAt));
  const slots =
    rows.length > 0
      ? await db
          .select()
          .from(campaignSlots)
          .where(
            inArray(
              campaignSlots.campaignId,
              rows.map((r) => r.id),
            ),
          )
          .orderBy(asc(campaignSlots.at))
      : [];
  // requestHash is bookkeeping for Idempotency-Key repeats, nothing the person gave.
  return rows.map(({ ownerId: _owner, requestHash: _hash, workflowId, ...campaign }) => ({
    ...campaign,
    workflow: { id: workflowId },
    slots: slots
      .filter((s) => s.campaignId === campaign.id)
      .map(({ campaignId: _c, slotLocal, ...s }) => ({ slot: slotLocal, ...s })),
  }));
}
