import express, { Router } from 'express';
import { z } from 'zod';
import { deleteMedia, importMedia, ownMediaRow, updateMedia } from '../../use-cases/media/library.js';
import { mediaView } from '../../use-cases/media/media-view.js';
import { callerOf } from '../auth.js';
import { isUuid } from '../cursor.js';
import type { ApiDeps } from '../deps.js';
import type { RouteDoc } from '../openapi.js';
import { Problem, parseOrThrow } from '../problem.js';
import { storableText } from '../schemas/text.js';
import { mediaSchema } from './media.js';

const tag = storableText().trim().min(1, 'a tag must not be empty').max(50, 'a tag must be at most 50 characters');

const updateMediaSchema = z.strictObject({
  name: storableText()
    .trim()
    .min(1, 'must not be empty')
    .max(255, 'must be at most 255 characters')
    .nullable()
    .optional(),
  tags: z.array(tag, { error: 'expected a list of tags' }).max(30, 'at most 30 tags').optional(),
});

const importSchema = z.strictObject({
  url: z
    .string({ error: 'required: the http(s) URL of an image or video' })
    .max(4096, 'must be at most 4096 characters')
    .describe('An http or https URL; addresses inside the server network are refused'),
  name: storableText().trim().min(1, 'must not be empty').max(255, 'must be at most 255 characters').optional(),
});

export function mediaLibraryRoutes(deps: ApiDeps): Router {
  const router = Router();
  const own = async (userId: string, id: string) => {
    if (!isUuid(id)) throw Problem.notFound(`Media ${id}`);
    return ownMediaRow(deps.db, userId, id);
  };

  router.post('/api/v1/media/import', express.json({ limit: '16kb' }), async (req, res) => {
    const { userId } = callerOf(req);
    const body = parseOrThrow(importSchema, req.body ?? undefined);
    const row = await importMedia(deps, userId, body);
    res
      .status(row.reused ? 200 : 201)
      .location(`/api/v1/media/${row.id}`)
      .json(mediaView(row));
  });

  router.patch('/api/v1/media/:id', express.json({ limit: '16kb' }), async (req, res) => {
    const { userId } = callerOf(req);
    await own(userId, req.params.id);
    const body = parseOrThrow(updateMediaSchema, req.body ?? undefined);
    res.json(mediaView(await updateMedia(deps.db, userId, req.params.id, body)));
  });

  router.delete('/api/v1/media/:id', async (req, res) => {
    const { userId } = callerOf(req);
    await own(userId, req.params.id);
    await deleteMedia(deps, userId, req.params.id);
    res.status(204).end();
  });

  router.get('/api/v1/media/:id/thumbnail', async (req, res) => {
    const row = await own(callerOf(req).userId, req.params.id);
    if (!row.thumbnailKey || !(await deps.store.exists(row.thumbnailKey))) {
      throw Problem.notFound(`A thumbnail of media ${row.id}`);
    }
    res.setHeader('Cache-Control', 'private, max-age=86400');
    res.sendFile(deps.store.pathOf(row.thumbnailKey), { headers: { 'Content-Type': 'image/jpeg' } });
  });

  return router;
}

export const mediaLibraryDocs: RouteDoc[] = [
  {
    method: 'post',
    path: '/api/v1/media/import',
    tag: 'Media',
    summary:
      'Import an image or video from a URL: http(s) only, never an address inside the server network (checked after DNS, on every redirect), size and time limits, type read from the bytes',
    body: importSchema,
    responses: {
      200: { description: 'You had these very bytes already: that item', schema: mediaSchema },
      201: { description: 'Stored', schema: mediaSchema },
      422: {
        description:
          'url is not http(s), resolves to a loopback, private, link-local or otherwise internal address (or redirects to one), the download failed, timed out, is too large or is not a type we accept; or the file fails the upload checks',
      },
    },
  },
  {
    method: 'patch',
    path: '/api/v1/media/:id',
    tag: 'Media',
    summary: 'Rename or tag a media item (tags replace the list)',
    body: updateMediaSchema,
    responses: { 200: { description: 'The item as it is now', schema: mediaSchema } },
  },
  {
    method: 'delete',
    path: '/api/v1/media/:id',
    tag: 'Media',
    summary: 'Delete a media item and its files (refused while a post or campaign may still use it)',
    responses: {
      204: { description: 'Deleted' },
      409: {
        description:
          "A post that has not finished or can still be retried uses it (as media or as its brief's source), or an active or paused campaign's brief names it; the message names each one and why",
      },
    },
  },
  {
    method: 'get',
    path: '/api/v1/media/:id/thumbnail',
    tag: 'Media',
    summary: 'A small JPEG of the item (a video: one of its frames)',
    responses: {
      200: { description: 'The thumbnail', contentType: 'image/jpeg' },
    },
  },
];
