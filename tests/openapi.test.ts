import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Express } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, ROUTE_DOCS } from '../api/app.js';
import type { ApiDeps } from '../api/deps.js';
import { STORABLE_TEXT_RULE } from '../domain/text.js';
import { createLogger } from '../runtime/logger.js';
import { call, type Json } from './helpers/api.js';
import { launchBrowser } from './helpers/browser.js';
import { startTestApp, type TestApp } from './helpers/harness.js';
import { venvTool } from './helpers/python-tools.js';

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

describe('OpenAPI document validity', () => {
  it('passes openapi-spec-validator', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'openapi-'));
    try {
      const res = await call(app.baseUrl, '/api/v1/openapi.json');
      await writeFile(join(dir, 'openapi.json'), JSON.stringify(res.body));
      const run = spawnSync(venvTool('openapi-spec-validator'), [join(dir, 'openapi.json')], { encoding: 'utf8' });
      expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
      expect(run.stdout).toMatch(/OK/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('resolves every $ref from the root and hoists nothing into $defs', async () => {
    const { body } = await call(app.baseUrl, '/api/v1/openapi.json');
    const text = JSON.stringify(body);
    expect(text).not.toContain('$defs');
    for (const [, ref] of text.matchAll(/"\$ref":"([^"]+)"/g)) {
      const target = ref!
        .replace(/^#\//, '')
        .split('/')
        .reduce<Json | undefined>((node, key) => node?.[key], body);
      expect(target, ref).toBeDefined();
    }
    expect(body.components.schemas.Problem.required).toEqual(['type', 'title', 'status', 'detail']);
  });

  it('documents every answer: what each success sends, a Problem for each refusal', async () => {
    const { body } = await call(app.baseUrl, '/api/v1/openapi.json');
    const problemRef = { $ref: '#/components/schemas/Problem' };
    const undescribed: string[] = [];
    for (const [path, operations] of Object.entries(body.paths as Json)) {
      for (const [method, op] of Object.entries(operations as Json)) {
        const where = `${method} ${path}`;
        const statuses = Object.keys(op.responses);
        expect(statuses, where).toEqual(expect.arrayContaining(['400', '431', '500']));
        expect(
          statuses.some((s) => /^[23]/.test(s)),
          where,
        ).toBe(true);
        for (const [status, response] of Object.entries(op.responses as Json)) {
          // What a success sends is described (204 and redirects send nothing).
          if (/^2/.test(status) && status !== '204' && !response.content) undescribed.push(`${where} ${status}`);
        }
        if (op.security === undefined) expect(statuses, where).toContain('401');
        if (path.includes('{')) expect(statuses, where).toContain('404');
        if (op.requestBody) expect(statuses, where).toEqual(expect.arrayContaining(['413', '415', '422']));
        for (const [status, response] of Object.entries(op.responses as Json)) {
          if (Number(status) >= 400 && status !== '503') {
            expect(response.content?.['application/problem+json']?.schema, `${where} ${status}`).toEqual(problemRef);
          }
        }
        expect(op.operationId, where).toMatch(/^[a-z][A-Za-z0-9]+$/);
      }
    }
    expect(undescribed).toEqual([]);
  });

  it('states the text rule, the Idempotency-Key limits, the cursor, timeZone and feedback rules', async () => {
    const { body } = await call(app.baseUrl, '/api/v1/openapi.json');
    const text = JSON.stringify(body);
    expect(text).toContain(STORABLE_TEXT_RULE);
    const createPost = body.paths['/api/v1/posts'].post;
    const idempotency = createPost.parameters.find((p: Json) => p.name === 'Idempotency-Key');
    expect(idempotency.schema.pattern).toBe('^[\\x21-\\x7e]{1,255}$');
    expect(idempotency.schema.description ?? idempotency.description).toMatch(/255/);
    const cursor = body.paths['/api/v1/media'].get.parameters.find((p: Json) => p.name === 'cursor');
    expect(cursor.schema.pattern).toBeDefined();
    expect(cursor.description).toMatch(/nextCursor/);
    const caption = createPost.requestBody.content['application/json'].schema.properties.caption;
    expect(caption.pattern).toBeDefined();
    expect(caption.description).toContain(STORABLE_TEXT_RULE);
    expect(text).toMatch(/IANA time zone name/);
    const reject = body.paths['/api/v1/posts/{id}/review/reject'].post.requestBody.content['application/json'].schema;
    expect(reject.properties.feedback).toMatchObject({ minLength: 1, maxLength: 4000 });
    expect(reject.properties.feedback.description).toMatch(/1-4000/);
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
