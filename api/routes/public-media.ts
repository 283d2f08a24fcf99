import { Router } from 'express';
import { z } from 'zod';
import { PUBLIC_MEDIA_PREFIX, verifyMediaUrl } from '../../media/signed-url.js';
import { renditionForLink } from '../../use-cases/media/public-links.js';
import type { ApiDeps } from '../deps.js';
import type { RouteDoc } from '../openapi.js';
import { Problem } from '../problem.js';

// Renditions at signed, expiring links, for platforms that fetch media themselves (Instagram,
// Facebook, TikTok photo posts). No session: the signature is the permission. Only a rendition the
// link names is served: the path never reaches the file system, so nothing else of the data dir is.

export function publicMediaRoutes(deps: ApiDeps): Router {
  const router = Router();
  router.get(`${PUBLIC_MEDIA_PREFIX}:publicId/:file`, async (req, res) => {
    const q = req.query as Record<string, unknown>;
    const exp = typeof q.exp === 'string' ? q.exp : undefined;
    const sig = typeof q.sig === 'string' ? q.sig : undefined;
    const verdict = verifyMediaUrl(deps.media.links.secret, req.path, exp, sig);
    if (!verdict.ok) {
      if (verdict.reason === 'malformed') throw Problem.notFound('This media link');
      throw new Problem(
        403,
        verdict.reason === 'expired' ? 'Link expired' : 'Invalid link',
        verdict.reason === 'expired'
          ? 'This media link has expired; ask for a new one'
          : 'This media link is not valid',
      );
    }
    const rendition = await renditionForLink(deps.db, verdict.id, verdict.fileName);
    if (!rendition || !(await deps.store.exists(rendition.storageKey))) throw Problem.notFound('This media');
    const maxAge = Math.max(0, Math.floor((verdict.expiresAt.getTime() - Date.now()) / 1000));
    res.sendFile(deps.store.pathOf(rendition.storageKey), {
      acceptRanges: true,
      lastModified: true,
      cacheControl: false,
      // The path comes from our own row, never from the request.
      dotfiles: 'allow',
      headers: {
        'Content-Type': rendition.mimeType,
        'Cache-Control': `public, max-age=${maxAge}`,
        // Platforms fetch server-side; browsers elsewhere may show it too.
        'Cross-Origin-Resource-Policy': 'cross-origin',
      },
    });
  });
  return router;
}

export const publicMediaDocs: RouteDoc[] = [
  {
    method: 'get',
    path: `${PUBLIC_MEDIA_PREFIX}:publicId/:file`,
    tag: 'Media',
    auth: false,
    summary:
      'A rendition at its signed, expiring link (no session; for platforms that fetch media). Supports Range requests; never redirects',
    params: {
      publicId: z.string().describe('The rendition link id: random, unguessable'),
      file: z.string().describe('The file name the link was made with, e.g. media-01.jpg'),
    },
    query: z.object({
      exp: z.string().describe('Expiry, Unix seconds'),
      sig: z.string().describe('HMAC of the path and expiry'),
    }),
    responses: {
      200: { description: 'The rendition', contentType: 'application/octet-stream' },
      206: { description: 'The requested byte range', contentType: 'application/octet-stream' },
      403: { description: 'The link has expired, or its signature does not match' },
      416: { description: 'The range is outside the file' },
    },
  },
];
