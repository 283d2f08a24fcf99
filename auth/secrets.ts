import { createHmac, hkdfSync } from 'node:crypto';

/** Separate keys for separate jobs, all derived from the one APP_SECRET. */
export interface AuthKeys {
  session: Uint8Array;
  csrf: Buffer;
}

export function deriveAuthKeys(secret: string): AuthKeys {
  const derive = (purpose: string) => Buffer.from(hkdfSync('sha256', secret, 'autopostpanel', purpose, 32));
  return { session: new Uint8Array(derive('session-signing')), csrf: derive('csrf') };
}

/** The CSRF token of a session: a MAC of its id, so nothing extra is stored. */
export function csrfTokenFor(keys: AuthKeys, sessionId: string): string {
  return createHmac('sha256', keys.csrf).update(sessionId).digest('base64url');
}
