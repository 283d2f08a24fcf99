import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import express, { Router } from 'express';
import { z } from 'zod';
import type { RouteDoc } from '../openapi.js';

const swaggerUiDir = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));

export const docsDocs: RouteDoc[] = [
  {
    method: 'get',
    path: '/api/v1/openapi.json',
    tag: 'Operations',
    summary: 'This OpenAPI 3.1 document',
    auth: false,
    responses: {
      200: {
        description: 'The document',
        schema: z.looseObject({
          openapi: z.string(),
          info: z.looseObject({}),
          paths: z.record(z.string(), z.unknown()),
        }),
      },
    },
  },
  {
    method: 'get',
    path: '/docs',
    tag: 'Operations',
    summary: 'Interactive API documentation',
    auth: false,
    responses: { 200: { description: 'An HTML page', contentType: 'text/html' } },
  },
];

const PAGE = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>AutoPostPanel API</title>
  <link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png">
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
  <div id="docs"></div>
  <script src="/docs/assets/swagger-ui-bundle.js"></script>
  <script src="/docs/init.js"></script>
</body>
</html>
`;

// A file of its own rather than an inline script, so the page works under a strict CSP.
const INIT = `window.ui = SwaggerUIBundle({
  url: '/api/v1/openapi.json',
  dom_id: '#docs',
  deepLinking: true,
  withCredentials: true,
  requestInterceptor: (request) => {
    const csrf = document.cookie.split('; ').find((c) => c.startsWith('app_csrf='));
    if (csrf) request.headers['X-CSRF-Token'] = decodeURIComponent(csrf.slice('app_csrf='.length));
    return request;
  },
});
`;

/** The OpenAPI document and Swagger UI, served from the installed package: no CDN, works offline. */
export function docsRoutes(openApi: () => unknown): Router {
  const router = Router();
  let cached: unknown;
  router.get('/api/v1/openapi.json', (_req, res) => {
    cached ??= openApi();
    res.json(cached);
  });
  router.get('/docs', (_req, res) => {
    res.type('html').send(PAGE);
  });
  router.get('/docs/init.js', (_req, res) => {
    res.type('application/javascript').send(INIT);
  });
  router.use('/docs/assets', express.static(swaggerUiDir, { index: false, maxAge: '1d', fallthrough: false }));
  return router;
}

export const SWAGGER_UI_ASSETS = join(swaggerUiDir, 'swagger-ui-bundle.js');
