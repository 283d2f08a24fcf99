import { timingSafeEqual } from 'node:crypto';
import { and, eq, gt, isNull } from 'drizzle-orm';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { hashApiKey } from '../auth/api-keys.js';
import { type AuthKeys, csrfTokenFor } from '../auth/secrets.js';
import { readSessionToken, signSessionToken } from '../auth/session-tokens.js';
import type { Database } from '../db/client.js';
import { apiKeys, sessions } from '../db/schema.js';
import { Problem } from './problem.js';

export const SESSION_COOKIE = 'app_session';
export const CSRF_COOKIE = 'app_csrf';
export const CSRF_HEADER = 'x-csrf-token';

export interface Caller {
  userId: string;
  via: 'session' | 'api_key';
  sessionId?: string;
  apiKeyId?: string;
}

declare module 'express-serve-static-core' {
  interface Request {
    caller?: Caller;
  }
}

function readCookie(req: Request, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const index = part.indexOf('=');
    if (index > 0 && part.slice(0, index).trim() === name) {
      try {
        return decodeURIComponent(part.slice(index + 1).trim());
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Works out who is calling: an API key in `Authorization: Bearer`, or the session cookie. Cookie
 * callers must echo their CSRF token on every state-changing request.
 */
export function authenticate(db: Database, keys: AuthKeys): RequestHandler {
  return async (req: Request, _res: Response, next: NextFunction) => {
    const header = req.headers.authorization;
    if (header !== undefined) {
      const match = /^Bearer\s+(\S+)$/i.exec(header);
      if (!match) throw unauthorized('The Authorization header must be "Bearer <API key>"');
      const [key] = await db
        .select({ id: apiKeys.id, userId: apiKeys.userId, lastUsedAt: apiKeys.lastUsedAt })
        .from(apiKeys)
        .where(and(eq(apiKeys.keyHash, hashApiKey(match[1]!)), isNull(apiKeys.revokedAt)));
      if (!key) throw unauthorized('The API key is not valid (revoked, deleted or mistyped)');
      req.caller = { userId: key.userId, via: 'api_key', apiKeyId: key.id };
      // At most one write a minute per key.
      if (!key.lastUsedAt || Date.now() - key.lastUsedAt.getTime() > 60_000) {
        await db.update(apiKeys).set({ lastUsedAt: new Date() }).where(eq(apiKeys.id, key.id));
      }
      return next();
    }

    const token = readCookie(req, SESSION_COOKIE);
    if (token) {
      const claims = await readSessionToken(keys, token);
      if (claims) {
        const [session] = await db
          .select({ id: sessions.id })
          .from(sessions)
          .where(
            and(
              eq(sessions.id, claims.sessionId),
              eq(sessions.userId, claims.userId),
              isNull(sessions.revokedAt),
              gt(sessions.expiresAt, new Date()),
            ),
          );
        if (session) {
          if (!SAFE_METHODS.has(req.method)) assertCsrf(req, keys, session.id);
          req.caller = { userId: claims.userId, via: 'session', sessionId: session.id };
        }
      }
    }
    next();
  };
}

function assertCsrf(req: Request, keys: AuthKeys, sessionId: string) {
  const sent = Buffer.from(String(req.headers[CSRF_HEADER] ?? ''));
  const expected = Buffer.from(csrfTokenFor(keys, sessionId));
  if (sent.length !== expected.length || !timingSafeEqual(sent, expected)) {
    throw new Problem(
      403,
      'CSRF token missing or invalid',
      `Requests signed in by cookie must send the ${CSRF_HEADER} header with the token from sign-in (also in the ${CSRF_COOKIE} cookie)`,
      [{ field: CSRF_HEADER, message: 'missing or does not match this session' }],
    );
  }
}

function unauthorized(detail: string): Problem {
  return new Problem(401, 'Not signed in', detail);
}

export const requireCaller: RequestHandler = (req, res, next) => {
  if (req.caller) return next();
  res.setHeader('WWW-Authenticate', 'Bearer');
  next(unauthorized('Sign in, or send an API key as "Authorization: Bearer <key>"'));
};

/** The caller of a route behind `requireCaller`. */
export function callerOf(req: Request): Caller {
  if (!req.caller) throw unauthorized('Sign in first');
  return req.caller;
}

export async function setSessionCookies(
  req: Request,
  res: Response,
  keys: AuthKeys,
  session: { id: string; userId: string; expiresAt: Date },
): Promise<string> {
  const token = await signSessionToken(keys, session);
  const csrfToken = csrfTokenFor(keys, session.id);
  const common = { secure: req.secure, sameSite: 'lax' as const, path: '/', expires: session.expiresAt };
  res.cookie(SESSION_COOKIE, token, { ...common, httpOnly: true });
  // Readable by the panel's script, which echoes it in the CSRF header; useless to another site.
  res.cookie(CSRF_COOKIE, csrfToken, { ...common, httpOnly: false });
  return csrfToken;
}

export function clearSessionCookies(req: Request, res: Response) {
  const common = { secure: req.secure, sameSite: 'lax' as const, path: '/' };
  res.clearCookie(SESSION_COOKIE, { ...common, httpOnly: true });
  res.clearCookie(CSRF_COOKIE, common);
}
