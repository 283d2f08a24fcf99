import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { type Request, Router } from 'express';

/** The operator's setup guide per platform (docs/setup/<platform>.md), linked from the accounts screen. */
const SETUP_GUIDES = fileURLToPath(new URL('../../docs/setup', import.meta.url));
const GUIDE_NAMES = new Set(['tiktok', 'youtube', 'instagram', 'facebook']);

/** Where `npm run build:web` puts the panel. */
export const PANEL_DIST = fileURLToPath(new URL('../../web/dist', import.meta.url));

// Paths the panel never answers, whatever the browser asks for: they belong to the API and its documents.
const RESERVED = /^\/(api|docs|openapi\.json|media\/public|healthz|readyz)(\/|$)/;

// The panel's own page: its scripts and styles come from this server only; avatars and previews may
// come from the platforms (any https or loopback http image), uploads are previewed from blob: URLs.
const PANEL_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob: https: http:",
  "media-src 'self' blob:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

function wantsPage(req: Request): boolean {
  return (req.method === 'GET' || req.method === 'HEAD') && (req.headers.accept ?? '').includes('text/html');
}

/**
 * The built panel: its files under /assets, and index.html for any other page a browser asks for
 * (the panel routes itself). API clients (no text/html in Accept) and the reserved paths pass through,
 * so "/" still answers JSON to them. Without a build this router does nothing.
 */
export function panelRoutes(dist: string = PANEL_DIST): Router {
  const router = Router();
  const index = join(dist, 'index.html');
  router.use(
    '/assets',
    express.static(join(dist, 'assets'), { immutable: true, maxAge: '365d', index: false, fallthrough: true }),
  );
  // A document for people, not an API route: served by path match rather than as a documented route.
  router.use('/setup-guides', (req, res, next) => {
    const name = req.path.replace(/^\//, '').replace(/\.md$/, '');
    if (req.method !== 'GET' || !GUIDE_NAMES.has(name)) return next();
    res.type('text/plain; charset=utf-8');
    res.sendFile(join(SETUP_GUIDES, `${name}.md`), (err) => err && next());
  });
  router.use((req, res, next) => {
    if (!wantsPage(req) || RESERVED.test(req.path) || req.path.startsWith('/assets/') || !existsSync(index)) {
      return next();
    }
    res.setHeader('Content-Security-Policy', PANEL_CSP);
    res.setHeader('Cache-Control', 'no-cache');
    res.sendFile(index);
  });
  return router;
}
