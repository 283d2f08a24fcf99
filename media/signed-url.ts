import { createHmac, timingSafeEqual } from 'node:crypto';

// Links to renditions that platforms (Instagram, Facebook, TikTok photo posts) fetch without a
// session: `PUBLIC_URL/media/public/<id>/<file>?exp=<unix seconds>&sig=<HMAC>`. The id is random
// and the HMAC covers the path and the expiry, so a link cannot be guessed, extended or pointed at
// another file. Verification only answers whether a path may be served; the route maps the id to
// a file itself (and serves nothing else of the data dir).

export const PUBLIC_MEDIA_PREFIX = '/media/public/';

const ID = /^[A-Za-z0-9_-]{16,128}$/;
const FILE = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;

/** A key for this purpose only, derived from APP_SECRET so the secret itself signs nothing else. */
function keyFrom(secret: string): Buffer {
  return createHmac('sha256', secret).update('autopostpanel:public-media-url:v1').digest();
}

function signature(secret: string, path: string, exp: number): string {
  return createHmac('sha256', keyFrom(secret)).update(`${path}\n${exp}`).digest('base64url');
}

export interface SignInput {
  /** PUBLIC_URL: where the outside world reaches this server, e.g. https://posts.example.com. */
  publicUrl: string;
  secret: string;
  /** A random, unguessable id of the rendition (e.g. a UUID). */
  id: string;
  /** The file name the platform sees, e.g. media-01.jpg. */
  fileName: string;
  expiresAt: Date;
}

export function signMediaUrl({ publicUrl, secret, id, fileName, expiresAt }: SignInput): string {
  if (!ID.test(id)) throw new Error('a public media id must be 16 to 128 URL-safe characters');
  if (!FILE.test(fileName)) throw new Error('a public media file name must be URL-safe and not start with a dot');
  const path = `${PUBLIC_MEDIA_PREFIX}${id}/${fileName}`;
  const exp = Math.floor(expiresAt.getTime() / 1000);
  const base = new URL(publicUrl);
  // PUBLIC_URL may carry a path prefix (a reverse proxy's mount point); the signature covers the app's own path.
  const prefix = base.pathname.replace(/\/+$/, '');
  return `${base.origin}${prefix}${path}?exp=${exp}&sig=${signature(secret, path, exp)}`;
}

export type VerifyResult =
  | { ok: true; id: string; fileName: string; expiresAt: Date }
  | { ok: false; reason: 'malformed' | 'expired' | 'bad_signature' };

/**
 * Checks a request for a public media link. `path` is the path as the app sees it (after any
 * proxy prefix), still percent-encoded; `exp` and `sig` are the query parameters.
 */
export function verifyMediaUrl(
  secret: string,
  path: string,
  exp: string | undefined,
  sig: string | undefined,
  now: Date = new Date(),
): VerifyResult {
  if (!path.startsWith(PUBLIC_MEDIA_PREFIX) || !exp || !sig || !/^\d{1,12}$/.test(exp)) {
    return { ok: false, reason: 'malformed' };
  }
  const [id, fileName, ...rest] = path.slice(PUBLIC_MEDIA_PREFIX.length).split('/');
  if (rest.length > 0 || !id || !fileName || !ID.test(id) || !FILE.test(fileName)) {
    return { ok: false, reason: 'malformed' };
  }
  const expected = Buffer.from(signature(secret, path, Number(exp)));
  const given = Buffer.from(sig);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return { ok: false, reason: 'bad_signature' };
  }
  const expiresAt = new Date(Number(exp) * 1000);
  if (expiresAt.getTime() <= now.getTime()) return { ok: false, reason: 'expired' };
  return { ok: true, id, fileName, expiresAt };
}
