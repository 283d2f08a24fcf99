import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';

/** Separate keys for separate jobs, all derived from the one APP_SECRET. */
export interface AuthKeys {
  session: Uint8Array;
  csrf: Buffer;
  /** Signs the words a connection attempt ended with, so its result page shows only ours. */
  outcome: Buffer;
}

export function deriveAuthKeys(secret: string): AuthKeys {
  const derive = (purpose: string) => Buffer.from(hkdfSync('sha256', secret, 'autopostpanel', purpose, 32));
  return {
    session: new Uint8Array(derive('session-signing')),
    csrf: derive('csrf'),
    outcome: derive('connection-outcome'),
  };
}

/**
 * A MAC of the reason a connection attempt failed, carried beside it in the result page's link, for
 * the person whose attempt it was (`viewer`: their user id, or '' when not signed in): a reason can
 * hold the platform's words, and a link made from someone's own attempt must not show them to
 * another person.
 */
export function signOutcome(keys: Pick<AuthKeys, 'outcome'>, viewer: string, platform: string, reason: string): string {
  return createHmac('sha256', keys.outcome).update(`${viewer}\n${platform}\n${reason}`).digest('base64url');
}

/** The reason, when this installation wrote it for this viewer; anyone can put words in a link, not the MAC. */
export function verifiedOutcome(
  keys: Pick<AuthKeys, 'outcome'>,
  viewer: string,
  link: { platform: string; reason?: string | undefined; sig?: string | undefined },
): string | null {
  if (link.reason === undefined || link.sig === undefined) return null;
  const expected = Buffer.from(signOutcome(keys, viewer, link.platform, link.reason));
  const given = Buffer.from(link.sig);
  return given.length === expected.length && timingSafeEqual(given, expected) ? link.reason : null;
}

/** The CSRF token of a session: a MAC of its id, so nothing extra is stored. */
export function csrfTokenFor(keys: AuthKeys, sessionId: string): string {
  return createHmac('sha256', keys.csrf).update(sessionId).digest('base64url');
}
