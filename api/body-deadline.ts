import type { Request, RequestHandler } from 'express';
import { Problem, sendProblem } from './problem.js';

/**
 * Node's own limit on receiving a request is an hour (composition/services.ts), for uploads on
 * slow lines. Every other body is small (16-256 KB), so it must arrive within `ms`: a client that
 * trickles a byte every few seconds would otherwise hold a socket and a parser for that hour.
 * Answered 408 as problem+json, and the connection is closed (the rest of the body is unread).
 */
export function bodyDeadline(ms: number, exempt: (req: Request) => boolean): RequestHandler {
  return (req, res, next) => {
    if (req.complete || exempt(req)) return next();
    const timer = setTimeout(() => {
      if (req.complete || res.headersSent) return;
      res.once('finish', () => req.socket.destroy());
      sendProblem(
        res,
        new Problem(
          408,
          'Request Timeout',
          `The request body did not arrive within ${Math.round(ms / 1000)} s`,
        ).withHeader('Connection', 'close'),
      );
    }, ms);
    const stop = () => clearTimeout(timer);
    req.once('end', stop);
    res.once('close', stop);
    next();
  };
}
