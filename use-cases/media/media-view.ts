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
    kind: row.kind,
    /** Seconds; videos only. */
    durationSec: row.durationSec,
    frameRate: row.frameRate,
    rotation: row.rotation,
    videoCodec: row.videoCodec,
    audioCodec: row.audioCodec,
    tags: row.tags,
    thumbnailUrl: row.thumbnailKey ? `/api/v1/media/${row.id}/thumbnail` : null,
  };
}
