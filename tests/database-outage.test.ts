import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DatabaseHandle, openDatabase } from '../db/client.js';
import {
  call,
  expectProblem,
  isFinished,
  type Json,
  postJson,
  signUp,
  type TestUser,
  waitForPost,
} from './helpers/api.js';
import { startApiAgainst, startTestApp, type TestApp } from './helpers/harness.js';
import { startTcpProxy } from './helpers/unresponsive.js';

// Issue 7, scenario 6 from the database side: an API whose PostgreSQL goes away answers 503 with
// Retry-After (an outage to wait out), never a 500 or a hang. The API under test reaches the real
// test database through a TCP proxy that the test takes down; the shared server is untouched.

let app: TestApp;
let user: TestUser;
let proxy: Awaited<ReturnType<typeof startTcpProxy>>;
let proxied: DatabaseHandle;
let api: Awaited<ReturnType<typeof startApiAgainst>>;
let via: { url: string; headers: Record<string, string> };
let post: Json;

beforeAll(async () => {
  // The outage is a TCP proxy in front of PostgreSQL, also under TEST_DATABASE.
  app = await startTestApp({ database: 'postgres' });
  user = await signUp(app.baseUrl);
  const url = new URL(app.database!.url);
  proxy = await startTcpProxy(`${url.hostname}:${url.port || 5432}`);
  url.host = `127.0.0.1:${proxy.port}`;
  proxied = await openDatabase({ url: url.toString(), dataDir: app.dataDir });
  api = await startApiAgainst(app, { db: proxied.db });
  via = { url: api.baseUrl, headers: user.api.headers };
  const created = await postJson(user.api, '/api/v1/posts', {
    caption: 'Waiting out a database outage',
    targets: [{ type: 'local_export' }],
    review: { mode: 'manual' },
  });
  post = await waitForPost(user.api, created.body.id, (p) => p.status === 'awaiting_review');
});
afterAll(async () => {
  await api?.stop();
  await proxied?.close().catch(() => {});
  await proxy?.close();
  await app?.stop();
});

describe('a database outage', () => {
  it('answers 503 with Retry-After while the database is gone, and the request is safe to repeat', async () => {
    expect((await call(via, `/api/v1/posts/${post.id}`)).status).toBe(200);
    await proxy.down();

    const started = Date.now();
    const reads = await call(via, `/api/v1/posts/${post.id}`);
    const approve = await postJson(via, `/api/v1/posts/${post.id}/review/approve`, {}, { 'Idempotency-Key': 'db-1' });
    const create = await postJson(via, '/api/v1/posts', { caption: 'During', targets: [{ type: 'local_export' }] });
    for (const res of [reads, approve, create]) {
      expectProblem(res, 503);
      expect(res.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
      expect(JSON.stringify(res.body)).not.toMatch(/ECONN|select|postgres/i);
    }
    expect(Date.now() - started).toBeLessThan(15_000);

    // Nothing happened meanwhile; the same keyed request succeeds where the database answers.
    expect((await call(user.api, `/api/v1/posts/${post.id}`)).body.status).toBe('awaiting_review');
    const repeated = await postJson(
      user.api,
      `/api/v1/posts/${post.id}/review/approve`,
      {},
      { 'Idempotency-Key': 'db-1' },
    );
    expect(repeated.status, JSON.stringify(repeated.body)).toBe(200);
    expect((await waitForPost(user.api, post.id, isFinished)).status).toBe('published');
  });
});
