import { jwtVerify, SignJWT } from 'jose';
import type { AuthKeys } from './secrets.js';

const ISSUER = 'autopostpanel';

export async function signSessionToken(keys: AuthKeys, session: { id: string; userId: string; expiresAt: Date }) {
  return new SignJWT({ sid: session.id })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(session.userId)
    .setIssuer(ISSUER)
    .setIssuedAt()
    .setExpirationTime(Math.floor(session.expiresAt.getTime() / 1000))
    .sign(keys.session);
}

/** The session id and user a cookie names, or undefined for anything forged, expired or malformed. */
export async function readSessionToken(
  keys: AuthKeys,
  token: string,
): Promise<{ sessionId: string; userId: string } | undefined> {
  try {
    const { payload } = await jwtVerify(token, keys.session, { issuer: ISSUER, algorithms: ['HS256'] });
    if (typeof payload.sid !== 'string' || typeof payload.sub !== 'string') return undefined;
    return { sessionId: payload.sid, userId: payload.sub };
  } catch {
    return undefined;
  }
}
