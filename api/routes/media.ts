import { rm } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { and, desc, eq } from 'drizzle-orm';
import { Router } from 'express';
import { z } from 'zod';
import { media } from '../../db/schema.js';
import { SUPPORTED_VIDEO_TYPES } from '../../media/video-sniff.js';
import { SUPPORTED_UPLOAD_TYPES } from '../../storage/sniff.js';
import { ingestMedia, MAX_INPUT_PIXELS, UnsupportedMediaError } from '../../use-cases/media/ingest-media.js';
import { mediaView } from '../../use-cases/media/media-view.js';
import { callerOf } from '../auth.js';
import { after, isUuid, toPage } from '../cursor.js';
import type { ApiDeps } from '../deps.js';
import type { RouteDoc } from '../openapi.js';
import { Problem, parseOrThrow } from '../problem.js';
import { receiveUpload } from '../receive-upload.js';
import { pageQuery } from '../schemas/paging.js';

const mediaQuery = pageQuery(50);

export function mediaRoutes(deps: ApiDeps): Router {
  const router = Router();

  router.post('/api/v1/media', async (req, res) => {
    const { userId } = callerOf(req);
    const file = await receiveUpload(req, {
      field: 'file',
      maxBytes: deps.mediaMaxBytes,
      tempPath: () => deps.store.tempPath(),
      onStorageError: (err) => req.log?.error({ err }, 'could not write the upload to storage'),
    });
    if (file.truncated) {
      await rm(file.tempPath, { force: true });
      throw new Problem(413, 'File too large', `The upload exceeds the limit of ${deps.mediaMaxBytes} bytes`, [
        { field: 'file', message: `must be at most ${deps.mediaMaxBytes} bytes` },
      ]);
    }
    try {
      const row = await ingestMedia(deps, userId, file);
      // The same bytes uploaded again by their owner: the library item they already have.
      res
        .status(row.reused ? 200 : 201)
        .location(`/api/v1/media/${row.id}`)
        .json(mediaView(row));
    } catch (err) {
      if (err instanceof UnsupportedMediaError) {
        // The request's own type (multipart) is fine; it is the file's content that is refused.
        throw Problem.validation([{ field: 'file', message: `not an image or video type we accept: ${err.message}` }]);
      }
      throw err;
    }
  });

  router.get('/api/v1/media', async (req, res) => {
    const { userId } = callerOf(req);
    const { limit, cursor } = parseOrThrow(mediaQuery, req.query);
    const rows = await deps.db
      .select()
      .from(media)
      .where(and(eq(media.ownerId, userId), after(media.createdAt, media.id, cursor)))
      .orderBy(desc(media.createdAt), desc(media.id))
      .limit(limit + 1);
    res.json(toPage(rows, limit, mediaView));
  });

  async function ownMedia(userId: string, id: string) {
    const [row] = isUuid(id)
      ? await deps.db
          .select()
          .from(media)
          .where(and(eq(media.id, id), eq(media.ownerId, userId)))
      : [];
    if (!row) throw Problem.notFound(`Media ${id}`);
    return row;
  }

  router.get('/api/v1/media/:id', async (req, res) => {
    res.json(mediaView(await ownMedia(callerOf(req).userId, req.params.id)));
  });

  router.get('/api/v1/media/:id/content', async (req, res) => {
    const row = await ownMedia(callerOf(req).userId, req.params.id);
    const size = await deps.store.size(row.storageKey);
    if (size === undefined)
      throw new Problem(410, 'File missing', `The file of media ${row.id} is no longer in storage`);
    res.setHeader('Content-Type', row.mimeType);
    res.setHeader('Content-Length', String(size));
    res.setHeader('Cache-Control', 'private, max-age=3600');
    await pipeline(deps.store.read(row.storageKey), res);
  });

  return router;
}

export { mediaView };

export const mediaSchema = z.object({
  id: z.uuid(),
  mimeType: z.string(),
  sizeBytes: z.number().int(),
  width: z.number().int().nullable(),
  height: z.number().int().nullable(),
  sha256: z.string(),
  originalName: z.string().nullable(),
  createdAt: z.iso.datetime(),
  kind: z.enum(['image', 'video']),
  durationSec: z.number().nullable(),
  frameRate: z.number().nullable(),
  rotation: z.number().int().nullable(),
  videoCodec: z.string().nullable(),
  audioCodec: z.string().nullable(),
  tags: z.array(z.string()),
  thumbnailUrl: z.string().nullable(),
});

export const mediaDocs: RouteDoc[] = [
  {
    method: 'post',
    path: '/api/v1/media',
    tag: 'Media',
    summary: 'Upload an image or a video (multipart field "file"); the type is read from the bytes',
    upload: {
      field: 'file',
      description: `One of ${[...SUPPORTED_UPLOAD_TYPES, ...SUPPORTED_VIDEO_TYPES].join(', ')}; images at most ${MAX_INPUT_PIXELS / 1_000_000} megapixels; the file name must be storable text`,
    },
    responses: {
      200: { description: 'You uploaded these very bytes before: that item, not a copy', schema: mediaSchema },
      201: { description: 'Stored', schema: mediaSchema },
      422: {
        description:
          'The file is empty, is not one of the image types we accept (told by its bytes), cannot be decoded to its end (a truncated JPEG, say), exceeds the pixel limit, or its name is not storable text',
      },
      507: { description: 'The server could not save the file; try again later' },
    },
  },
  {
    method: 'get',
    path: '/api/v1/media',
    tag: 'Media',
    summary: 'Your media, newest first',
    query: mediaQuery,
    responses: {
      200: {
        description: 'A page',
        schema: z.object({ items: z.array(mediaSchema), nextCursor: z.string().nullable() }),
      },
    },
  },
  {
    method: 'get',
    path: '/api/v1/media/:id',
    tag: 'Media',
    summary: 'One media item',
    responses: { 200: { description: 'Metadata', schema: mediaSchema } },
  },
  {
    method: 'get',
    path: '/api/v1/media/:id/content',
    tag: 'Media',
    summary: 'The uploaded file itself',
    responses: {
      200: { description: 'The original bytes', contentType: 'image/*' },
      410: { description: 'The file is no longer in storage' },
    },
  },
];
