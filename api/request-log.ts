import { PUBLIC_MEDIA_PREFIX } from '../media/signed-url.js';

// Queries that are credentials: the OAuth callback's code and state, and a signed media link's
// signature (a working link to unpublished media until it expires). Express matches paths
// case-insensitively and with a trailing slash, so the patterns do too.
const SECRET_QUERIES = [
  /^\/api\/v1\/connections\/[^/?]+\/callback\/?(\?|$)/i,
  new RegExp(`^${PUBLIC_MEDIA_PREFIX.replace(/[/]/g, '\\/')}`, 'i'),
];

/** Request-log serializer: such requests are logged with their path only; every other as it was. */
export function hideSecretQueries<R extends { url?: string; query?: unknown }>(req: R): R {
  const url = req.url;
  if (!url?.includes('?') || !SECRET_QUERIES.some((pattern) => pattern.test(url))) return req;
  return { ...req, url: url.replace(/\?.*$/, '?[redacted]'), query: '[redacted]' };
}
