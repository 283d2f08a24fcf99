import { createHash } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import busboy from 'busboy';
import type { Request } from 'express';
import { isStorableText, STORABLE_TEXT_RULE } from '../domain/text.js';
import type { IncomingFile } from '../use-cases/media/ingest-media.js';
import { Problem } from './problem.js';

const HEAD_BYTES = 64;

export interface UploadOptions {
  /** The multipart field that carries the file. */
  field: string;
  maxBytes: number;
  /** A fresh temporary path in the store. */
  tempPath(): Promise<string>;
  /** Told when our own disk fails (the client is told 507 without the reason). */
  onStorageError(err: unknown): void;
}

export interface ReceivedUpload extends IncomingFile {
  /** The file went past `maxBytes`; the rest was read and thrown away. */
  truncated: boolean;
}

const malformed = (message: string) =>
  new Problem(400, 'Malformed upload', 'The multipart body could not be read', [{ field: 'file', message }]);

const storageFailure = () =>
  new Problem(507, 'Could not store the upload', 'The server could not save the file; try again later');

/**
 * Streams the one file of a multipart request to a temporary file, hashing and keeping its first
 * bytes on the way; it is never held in memory. However the request ends (refused, malformed,
 * aborted by the client, our disk failing), the partial file is closed and removed before this
 * settles, so a burst of broken uploads leaves neither files nor open descriptors behind.
 */
export function receiveUpload(req: Request, options: UploadOptions): Promise<ReceivedUpload> {
  if (!req.is('multipart/form-data')) {
    return Promise.reject(
      new Problem(415, 'Unsupported content type', 'Upload media as multipart/form-data', [
        { field: 'file', message: `send the file as the multipart/form-data field "${options.field}"` },
      ]),
    );
  }
  let parser: busboy.Busboy;
  try {
    parser = busboy({
      headers: req.headers,
      // Browsers and fetch send file names as UTF-8; busboy would read them as Latin-1.
      defParamCharset: 'utf8',
      limits: { fileSize: options.maxBytes, files: 1, fields: 10, parts: 20, fieldNameSize: 200 },
    });
  } catch (err) {
    return Promise.reject(malformed((err as Error).message));
  }

  return new Promise<ReceivedUpload>((resolve, reject) => {
    let source: Readable | undefined;
    let out: WriteStream | undefined;
    let tempPath: string | undefined;
    let writing: Promise<Omit<ReceivedUpload, 'truncated'>> | undefined;
    let truncated = false;
    let settled = false;

    /** Stops everything, closes and removes the partial file, then refuses with `problem`. */
    const fail = (problem: Problem) => {
      if (settled) return;
      settled = true;
      req.unpipe(parser);
      // Read and drop the rest so the answer reaches a client that is still sending.
      req.resume();
      parser.destroy();
      source?.destroy();
      out?.destroy();
      const path = tempPath;
      const written = writing?.catch(() => undefined) ?? Promise.resolve();
      void written
        .then(() => (path ? rm(path, { force: true }) : undefined))
        .catch(() => undefined)
        .then(() => reject(problem));
    };

    const checkName = (name: string, what: string) => {
      if (isStorableText(name)) return true;
      fail(Problem.validation([{ field: what, message: STORABLE_TEXT_RULE }]));
      return false;
    };

    /** Like unknown JSON properties, unknown parts are refused rather than silently dropped. */
    const refuseUnknown = (name: string) =>
      fail(
        Problem.validation([
          { field: name, message: `unknown multipart field; send only "${options.field}"` },
          ...(writing ? [] : [{ field: options.field, message: `required: send the file as "${options.field}"` }]),
        ]),
      );

    parser.on('field', (name) => {
      if (checkName(name, '(multipart field name)')) refuseUnknown(name);
    });

    parser.on('file', (name, stream, info) => {
      // Destroying the parser fails every open part: unheard, that error would crash the process.
      stream.on('error', () => {});
      if (!checkName(name, '(multipart field name)') || !checkName(info.filename ?? '', 'filename')) {
        stream.resume();
        return;
      }
      if (name !== options.field || writing) {
        stream.resume();
        if (name !== options.field) refuseUnknown(name);
        else fail(Problem.validation([{ field: name, message: 'send one file' }]));
        return;
      }
      source = stream;
      // Listen before any await: busboy may fail the stream (a truncated body) at any moment.
      stream.on('limit', () => {
        truncated = true;
      });
      writing = (async () => {
        try {
          tempPath = await options.tempPath();
        } catch (err) {
          options.onStorageError(err);
          fail(storageFailure());
          throw err;
        }
        if (settled) throw new Error('upload refused');
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
        out = createWriteStream(tempPath);
        try {
          await pipeline(stream, meter, out);
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (!settled && code?.startsWith('E') && code !== 'ERR_STREAM_PREMATURE_CLOSE') {
            // Our disk failed, not the client: stop parsing, or busboy waits forever for a reader.
            options.onStorageError(err);
            fail(storageFailure());
          } else {
            fail(malformed((err as Error).message));
          }
          throw err;
        }
        return {
          tempPath,
          originalName: info.filename ?? '',
          size,
          sha256: hash.digest('hex'),
          head,
        };
      })();
      writing.catch(() => {});
    });

    parser.on('error', (err: Error) => fail(malformed(err.message)));
    parser.on('partsLimit', () => fail(malformed('too many parts')));
    parser.on('filesLimit', () => fail(Problem.validation([{ field: options.field, message: 'send one file' }])));
    parser.on('close', () => {
      if (settled) return;
      if (!writing) {
        settled = true;
        reject(
          Problem.validation([
            { field: options.field, message: `required: send the file as the multipart field "${options.field}"` },
          ]),
        );
        return;
      }
      writing.then(
        (file) => {
          if (settled) return;
          settled = true;
          resolve({ ...file, truncated });
        },
        () => {},
      );
    });
    // A client that hangs up mid-body: nothing more is coming.
    req.on('close', () => {
      if (!req.complete) fail(new Problem(400, 'Upload aborted', 'The client stopped sending the upload'));
    });
    req.on('error', (err) => fail(malformed(err.message)));
    req.pipe(parser);
  });
}
