import { and, eq } from 'drizzle-orm';
import type { Database } from '../../db/client.js';
import { renditions } from '../../db/schema.js';
import { signMediaUrl } from '../../media/signed-url.js';
import type { MediaServices } from './media-services.js';

type Rendition = typeof renditions.$inferSelect;

/** The file name a rendition has in its public link: what a platform sees, nothing of our storage. */
export function publicFileName(rendition: Pick<Rendition, 'position' | 'storageKey'>): string {
  const ext = rendition.storageKey.split('.').pop() ?? 'bin';
  return `media-${String(rendition.position + 1).padStart(2, '0')}.${ext}`;
}

/** A signed, expiring URL of one rendition under PUBLIC_URL (for platforms that fetch media). */
export function publicLinkOf(
  links: MediaServices['links'],
  rendition: Pick<Rendition, 'position' | 'storageKey' | 'publicId'>,
  now = new Date(),
): { url: string; expiresAt: string } | null {
  if (!rendition.publicId) return null;
  const expiresAt = new Date(now.getTime() + links.ttlSeconds * 1000);
  return {
    url: signMediaUrl({
      publicUrl: links.publicUrl(),
      secret: links.secret,
      id: rendition.publicId,
      fileName: publicFileName(rendition),
      expiresAt,
    }),
    expiresAt: expiresAt.toISOString(),
  };
}

/** The rendition a verified public link names, when the file name matches it too. */
export async function renditionForLink(db: Database, publicId: string, fileName: string) {
  const [row] = await db
    .select()
    .from(renditions)
    .where(and(eq(renditions.publicId, publicId)));
  if (!row || publicFileName(row) !== fileName) return undefined;
  return row;
}
