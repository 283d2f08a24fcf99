import type { Express } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, ROUTE_DOCS } from '../api/app.js';
import type { ApiDeps } from '../api/deps.js';
import { createLogger } from '../runtime/logger.js';
import { call } from './helpers/api.js';
import { launchBrowser } from './helpers/browser.js';
import { startTestApp, type TestApp } from './helpers/harness.js';

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp();
});
afterAll(async () => {
  await app?.stop();
});

interface Layer {
  route?: { path: string; methods: Record<string, boolean> };
  handle?: { stack?: Layer[] };
}

/** Every method and path the Express app actually serves, read from its router. */
function servedRoutes(express: Express): string[] {
  const found: string[] = [];
  const walk = (stack: Layer[]) => {
    for (const layer of stack) {
      if (layer.route) {
        for (const method of Object.keys(layer.route.methods)) found.push(`${method} ${layer.route.path}`);
      } else if (layer.handle?.stack) {
        walk(layer.handle.stack);
      }
    }
  };
  walk((express as unknown as { router: { stack: Layer[] } }).router.stack);
  return found;
}

describe('OpenAPI document', () => {
  it('documents every route the app serves, and nothing it does not', async () => {
    // Building the app only wires handlers; none runs here.
    const express = createApp({
      logger: createLogger('silent'),
      db: app.db,
      temporal: app.temporal,
    } as unknown as ApiDeps);
    const served = servedRoutes(express).filter((r) => !r.startsWith('get /docs/init.js') && r !== 'get /');
    const documented = ROUTE_DOCS.map((d) => `${d.method} ${d.path}`);
    expect([...new Set(served)].sort()).toEqual([...documented].sort());

    const res = await call(app.baseUrl, '/api/v1/openapi.json');
    expect(res.status).toBe(200);
    expect(res.body.openapi).toBe('3.1.0');
    for (const doc of ROUTE_DOCS) {
      const path = doc.path.replace(/:([A-Za-z]+)/g, '{$1}');
      expect(res.body.paths[path]?.[doc.method], `${doc.method} ${path}`).toBeDefined();
    }
  });

  it('carries the request schemas the routes validate with', async () => {
    const { body } = await call(app.baseUrl, '/api/v1/openapi.json');
    const createPost = body.paths['/api/v1/posts'].post.requestBody.content['application/json'].schema;
    expect(createPost.required).toEqual(['targets']);
    expect(Object.keys(createPost.properties)).toEqual(
      expect.arrayContaining(['caption', 'brief', 'review', 'publishAt']),
    );
    expect(createPost.properties.targets.minItems).toBe(1);
    expect(createPost.additionalProperties).toBe(false);
    const register = body.paths['/api/v1/auth/register'].post;
    expect(register.security).toEqual([]);
    expect(register.requestBody.content['application/json'].schema.properties.password.minLength).toBe(10);
    expect(body.paths['/api/v1/media'].post.requestBody.content['multipart/form-data']).toBeDefined();
    expect(body.paths['/api/v1/posts'].get.parameters.map((p: { name: string }) => p.name)).toEqual(
      expect.arrayContaining(['limit', 'cursor', 'status']),
    );
  });
});

describe('docs page', () => {
  it('loads in a real browser and lists the operations, with no console errors', async () => {
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      page.on('pageerror', (e) => errors.push(e.message));
      page.on('response', (r) => {
        if (r.status() >= 400) errors.push(`${r.status()} ${r.url()}`);
      });
      const response = await page.goto(`${app.baseUrl}/docs`);
      expect(response?.status()).toBe(200);
      await page.waitForSelector('.opblock', { timeout: 20_000 });
      const summaries = await page.locator('.opblock-summary-path').allInnerTexts();
      expect(summaries.map((s) => s.replace(/\u200b/g, ''))).toEqual(
        expect.arrayContaining(['/api/v1/posts', '/api/v1/me/export']),
      );
      expect(await page.locator('.opblock').count()).toBe(ROUTE_DOCS.length);
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
