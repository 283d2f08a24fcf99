import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import busboy from 'busboy';
import { and, desc, eq } from 'drizzle-orm';
import { type Request, Router } from 'express';
import sharp from 'sharp';
import { z } from 'zod';
import { media } from '../../db/schema.js';
import { type SniffedType, SUPPORTED_UPLOAD_TYPES, sniffMediaType } from '../../storage/sniff.js';
import { callerOf } from '../auth.js';
import { after, isUuid, toPage } from '../cursor.js';
import type { ApiDeps } from '../deps.js';
import type { RouteDoc } from '../openapi.js';
import { Problem, parseOrThrow } from '../problem.js';
import { pageQuery } from '../schemas/paging.js';

const mediaQuery = pageQuery(50);

const HEAD_BYTES = 64;

/** The server could not write the upload (disk full, permissions); the path stays in the log. */
class StorageFailure extends Error {
  readonly problem = new Problem(
    507,
    'Could not store the upload',
    'The server could not save the file; try again later',
  );
  constructor(readonly original: unknown) {
    super('storage failure');
  }
}

interface ReceivedFile {
  tempPath: string;
  originalName: string;
  size: number;
  sha256: string;
  head: Buffer;
  truncated: boolean;
}

export function mediaRoutes(deps: ApiDeps): Router {
  const router = Router();

  router.post('/api/v1/media', async (req, res) => {
    const { userId } = callerOf(req);
    const file = await receiveSingleFile(req, deps);
    try {
      if (file.truncated) {
        throw new Problem(413, 'File too large', `The upload exceeds the limit of ${deps.mediaMaxBytes} bytes`, [
          { field: 'file', message: `must be at most ${deps.mediaMaxBytes} bytes` },
        ]);
      }
      if (file.size === 0) throw Problem.validation([{ field: 'file', message: 'the file is empty' }]);
      const type = sniffMediaType(file.head);
      if (!type) {
        throw new Problem(415, 'Unsupported media type', 'The file is not an image type we accept', [
          { field: 'file', message: `content must be one of ${SUPPORTED_UPLOAD_TYPES.join(', ')}` },
        ]);
      }
      const dimensions = await readDimensions(file.tempPath, type);
      const id = randomUUID();
      const storageKey = `originals/${id}.${type.ext}`;
      await deps.store.commit(file.tempPath, storageKey);
      try {
        const [row] = await deps.db
          .insert(media)
          .values({
            id,
            ownerId: userId,
            originalName: file.originalName.slice(0, 255) || null,
            mimeType: type.mime,
            sizeBytes: file.size,
            sha256: file.sha256,
            width: dimensions.width,
            height: dimensions.height,
            storageKey,
          })
          .returning();
        res.status(201).location(`/api/v1/media/${id}`).json(mediaView(row!));
      } catch (err) {
        await deps.store.remove(storageKey);
        throw err;
      }
    } finally {
      await rm(file.tempPath, { force: true });
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

const mediaSchema = z.object({
  id: z.uuid(),
  mimeType: z.string(),
  sizeBytes: z.number().int(),
  width: z.number().int().nullable(),
  height: z.number().int().nullable(),
  sha256: z.string(),
  originalName: z.string().nullable(),
  createdAt: z.iso.datetime(),
});

export const mediaDocs: RouteDoc[] = [
  {
    method: 'post',
    path: '/api/v1/media',
    tag: 'Media',
    summary: 'Upload an image (multipart field "file"); the type is read from the bytes',
    upload: { field: 'file', description: `One of ${SUPPORTED_UPLOAD_TYPES.join(', ')}` },
    responses: { 201: { description: 'Stored', schema: mediaSchema } },
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
    responses: { 200: { description: 'The original bytes', contentType: 'image/*' } },
  },
];

async function readDimensions(path: string, type: SniffedType) {
  try {
    const meta = await sharp(path).metadata();
    if (!meta.width || !meta.height) throw new Error('no dimensions');
    return { width: meta.width, height: meta.height };
  } catch {
    throw Problem.validation([{ field: 'file', message: `looks like ${type.mime} but cannot be decoded` }]);
  }
}

/**
 * Streams the multipart field `file` to a temporary file, hashing and sniffing on the way; the
 * upload is never held in memory. Past the size limit the rest is read and discarded.
 */
function receiveSingleFile(req: Request, deps: ApiDeps): Promise<ReceivedFile> {
  return new Promise((resolve, reject) => {
    if (!req.is('multipart/form-data')) {
      reject(
        new Problem(415, 'Unsupported content type', 'Upload media as multipart/form-data', [
          { field: 'file', message: 'send the file as the multipart/form-data field "file"' },
        ]),
      );
      return;
    }
    let parser: busboy.Busboy;
    try {
      parser = busboy({ headers: req.headers, limits: { fileSize: deps.mediaMaxBytes, files: 1, fields: 10 } });
    } catch (err) {
      reject(
        new Problem(400, 'Malformed upload', (err as Error).message, [
          { field: 'file', message: 'malformed multipart body' },
        ]),
      );
      return;
    }
    let received: Promise<ReceivedFile> | undefined;
    const stopReading = () => {
      req.unpipe(parser);
      req.resume();
      parser.destroy();
      settleFromStorage();
    };
    let settleFromStorage = () => {};

    parser.on('file', (name, stream, info) => {
      if (name !== 'file' || received) {
        stream.resume();
        return;
      }
      // Listen before any await: busboy may fail the stream (a truncated body) at any moment.
      let truncated = false;
      stream.on('limit', () => {
        truncated = true;
      });
      stream.on('error', () => {});
      received = (async () => {
        let tempPath: string;
        try {
          tempPath = await deps.store.tempPath();
        } catch (err) {
          req.log?.error({ err }, 'could not write the upload to storage');
          stopReading();
          throw new StorageFailure(err);
        }
        const hash = createHash('sha256');
        let size = 0;
        let head = Buffer.alloc(0);
        const meter = new Transform({
          transform(chunk: Buffer, _enc, done) {
            size += chunk.length;
            hash.update(chunk);
            if (head.length < HEAD_BYTES) head = Buffer.concat([head, chunk.subarray(0, HEAD_BYTES - head.length)]);
            done(null, chunk);
          },
        });
        try {
          await pipeline(stream, meter, createWriteStream(tempPath));
        } catch (err) {
          await rm(tempPath, { force: true });
          if (!(err as NodeJS.ErrnoException).code?.startsWith('E')) throw err;
          // Our disk failed, not the client: stop parsing, or busboy waits forever for a reader.
          req.log?.error({ err }, 'could not write the upload to storage');
          stopReading();
          throw new StorageFailure(err);
        }
        return { tempPath, originalName: info.filename ?? '', size, sha256: hash.digest('hex'), head, truncated };
      })();
      // Observed in finish(); this only keeps an early failure from being reported as unhandled.
      received.catch(() => {});
    });
    let settled = false;
    const finish = (err?: Error) => {
      if (settled) return;
      settled = true;
      if (err) {
        // Whatever was written so far is discarded before the client hears back.
        const discarded = received
          ? received.then(
              (r) => rm(r.tempPath, { force: true }),
              () => {},
            )
          : Promise.resolve();
        const problem = new Problem(400, 'Malformed upload', 'The multipart body could not be read', [
          { field: 'file', message: err.message },
        ]);
        void discarded.then(() => reject(problem));
        return;
      }
      if (!received) {
        reject(
          Problem.validation([{ field: 'file', message: 'required: send the file as the multipart field "file"' }]),
        );
        return;
      }
      received.then(resolve, (e: unknown) =>
        e instanceof StorageFailure
          ? reject(e.problem)
          : reject(
              new Problem(400, 'Malformed upload', 'The upload was interrupted or malformed', [
                { field: 'file', message: (e as Error).message },
              ]),
            ),
      );
    };
    parser.on('error', (err: Error) => {
      if (!received) return finish(err);
      // A storage failure destroyed the parser: report that, not a parse error.
      received.then(
        () => finish(err),
        (e: unknown) => (e instanceof StorageFailure ? finish() : finish(err)),
      );
    });
    parser.on('close', () => finish());
    settleFromStorage = () => {
      queueMicrotask(() => finish());
    };
    req.on('aborted', () => parser.destroy(new Error('client aborted the upload')));
    req.pipe(parser);
  });
}
