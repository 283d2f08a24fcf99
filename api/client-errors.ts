import { type Server, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';

/** Node's HTTP parser codes for a request it could not read, and what the client is told. */
function statusFor(code: string | undefined): number {
  if (code === 'HPE_HEADER_OVERFLOW') return 431;
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return 408;
  if (code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW') return 413;
  return 400;
}

const DETAILS: Record<number, string> = {
  400: 'The request is not valid HTTP',
  408: 'The request was not received in time',
  413: 'A chunk extension is larger than allowed',
  431: 'The request headers are larger than the server accepts (16 KB in all)',
};

/**
 * Requests Node refuses before Express sees them (headers over the limit, broken HTTP) are
 * answered as problem+json like every other refusal, instead of Node's bare status line.
 */
export function answerClientErrors(server: Server): void {
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const status = statusFor(err.code);
    const body = JSON.stringify({
      type: 'about:blank',
      title: STATUS_CODES[status],
      status,
      detail: DETAILS[status],
    });
    socket.end(
      [
        `HTTP/1.1 ${status} ${STATUS_CODES[status]}`,
        'Content-Type: application/problem+json',
        `Content-Length: ${Buffer.byteLength(body)}`,
        'Connection: close',
        '',
        body,
      ].join('\r\n'),
    );
  });
}
