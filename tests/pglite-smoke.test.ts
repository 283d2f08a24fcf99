import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { queryRows } from '../db/client.js';
import { call, isFinished, postJson, signUp, uploadPhoto, waitForPost } from './helpers/api.js';
import { startTestApp, type TestApp } from './helpers/harness.js';

// The no-configuration default: the embedded PGlite database under the data dir.
let app: TestApp;
beforeAll(async () => {
  app = await startTestApp({ database: 'pglite' });
});
afterAll(async () => {
  await app?.stop();
});

it('runs the whole slice on the embedded database', async () => {
  expect(app.services.database.kind).toBe('pglite');
  expect(await readdir(join(app.dataDir, 'pglite'))).toContain('PG_VERSION');
  expect((await call(app.baseUrl, '/readyz')).body).toMatchObject({ status: 'ready' });

  const user = await signUp(app.baseUrl);
  const mediaId = await uploadPhoto(user.api);
  const created = await postJson(
    user.api,
    '/api/v1/posts',
    { caption: 'Embedded', mediaIds: [mediaId], targets: [{ type: 'local_export' }] },
    { 'Idempotency-Key': 'pglite-1' },
  );
  expect(created.status).toBe(201);
  const again = await postJson(
    user.api,
    '/api/v1/posts',
    { caption: 'Embedded', mediaIds: [mediaId], targets: [{ type: 'local_export' }] },
    { 'Idempotency-Key': 'pglite-1' },
  );
  expect([again.status, again.body.id]).toEqual([200, created.body.id]);

  const post = await waitForPost(user.api, created.body.id, isFinished);
  expect(post.status).toBe('published');
  expect(await readdir(join(app.dataDir, 'exports', post.id, 'local_export'))).toContain('media-01.jpg');
  expect((await call(user.api, '/api/v1/posts')).body.items.map((p: { id: string }) => p.id)).toEqual([post.id]);
});

it('reads the rows of a raw statement on PGlite (queryRows)', async () => {
  // recordResults learns from such a row whether the post was still live.
  expect(await queryRows(app.db, sql`select 1::int as one union all select 2`)).toEqual([{ one: 1 }, { one: 2 }]);
});
