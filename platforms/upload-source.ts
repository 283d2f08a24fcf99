import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { scrubAll } from './http.js';
import { parsePlatformJson } from './platform-json.js';

/**
 * Media read from storage in ranges and streamed to a platform: no buffer holds more than the
 * stream's high-water mark, so memory stays flat whatever the file's size.
 */
export interface UploadSource {
  size: number;
  mimeType: string;
  /** Bytes [start, end] (inclusive), streamed. */
  range(start: number, end: number): AsyncIterable<Buffer>;
}

export async function fileSource(path: string, mimeType: string): Promise<UploadSource> {
  const info = await stat(path);
  return {
    size: info.size,
    mimeType,
    range: (start, end) => createReadStream(path, { start, end, highWaterMark: 256 * 1024 }),
  };
}

/** Bytes sent so far of the whole file, for the progress bar and the activity heartbeat. */
export type Progress = (sent: number, total: number) => void;

export interface BytesRequest {
  method: 'PUT' | 'POST';
  url: string;
  headers: Record<string, string>;
  source: UploadSource;
  /** Inclusive range; omitted (or end < start) sends an empty body. */
  start?: number;
  end?: number;
  onProgress?: Progress;
  timeoutMs?: number;
  /** Secrets beyond the Authorization header's credential (always removed) to remove from the answer. */
  secrets?: string[];
}

export interface BytesAnswer {
  status: number;
  headers: Headers;
  body: unknown;
}

/** Thrown when the connection fails: whether the platform kept any of the bytes must be asked. */
export class ConnectionLost extends Error {
  override name = 'ConnectionLost';
}

/**
 * Sends a range of the source with an exact Content-Length, streaming from disk. The answer comes
 * back without the request's token: a platform may echo it in an error, and errors reach people.
 */
export function sendBytes(req: BytesRequest): Promise<BytesAnswer> {
  const url = new URL(req.url);
  const secrets = [...(req.secrets ?? []), credentialOf(req.headers)];
  const start = req.start ?? 0;
  const end = req.end ?? -1;
  const length = end >= start ? end - start + 1 : 0;
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<BytesAnswer>((resolve, reject) => {
    const outgoing = send(
      url,
      {
        method: req.method,
        headers: { ...req.headers, 'content-length': String(length) },
        timeout: req.timeoutMs ?? 120_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', () => reject(new ConnectionLost('the connection failed while reading the answer')));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = null;
          try {
            body = text.trim() === '' ? null : parsePlatformJson(text);
          } catch {
            body = text;
          }
          resolve({ status: res.statusCode ?? 0, headers: toHeaders(res.headers), body: scrubAll(body, secrets) });
        });
      },
    );
    outgoing.on('timeout', () => outgoing.destroy(new ConnectionLost('no answer in time')));
    outgoing.on('error', (err) =>
      reject(err instanceof ConnectionLost ? err : new ConnectionLost(`the connection failed (${codeOf(err)})`)),
    );
    if (length === 0) {
      outgoing.end();
      return;
    }
    void (async () => {
      let sent = start;
      try {
        for await (const chunk of req.source.range(start, end)) {
          if (!outgoing.write(chunk)) await new Promise<void>((r) => outgoing.once('drain', () => r()));
          sent += chunk.length;
          req.onProgress?.(sent, req.source.size);
        }
        outgoing.end();
      } catch (err) {
        outgoing.destroy(err instanceof Error ? err : new Error(String(err)));
      }
    })();
  });
}

/** The token of an `Authorization: <scheme> <token>` header, whatever its spelling. */
function credentialOf(headers: Record<string, string>): string | undefined {
  const value = Object.entries(headers).find(([name]) => name.toLowerCase() === 'authorization')?.[1];
  return value?.trim().split(/\s+/)[1];
}

function codeOf(err: unknown): string {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' ? code : 'network error';
}

function toHeaders(raw: IncomingHttpHeaders): Headers {
  const headers = new Headers();
  for (const [key, value] of Object.entries(raw)) {
    if (value === undefined) continue;
    headers.set(key, Array.isArray(value) ? value.join(', ') : value);
  }
  return headers;
}
