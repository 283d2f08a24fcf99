import type { media } from '../../db/schema.js';

/** What a person sees of one media item: never its storage key or owner. */
export function mediaView(row: typeof media.$inferSelect) {
  return {
    id: row.id,
    mimeType: row.mimeType,
    sizeBytes: row.sizeBytes,
    width: row.width,
    height: row.height,
    sha256: row.sha256,
    originalName: row.originalName,
    createdAt: row.createdAt.toISOString(),
  };
}
