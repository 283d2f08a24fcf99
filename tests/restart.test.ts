import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { call, isFinished, type Json, postJson, signUp, waitForPost } from './helpers/api.js';
import { startTestApp, type TestApp } from './helpers/harness.js';

let second: TestApp | undefined;
afterAll(async () => {
  await second?.stop();
});

it('survives the whole app going down mid-pipeline and publishes each target exactly once', async () => {
  const first = await startTestApp();
  const user = await signUp(first.baseUrl);
  const created = await postJson(user.api, '/api/v1/posts', {
    caption: 'Through a restart',
    targets: [{ type: 'local_export', key: 'done-before-crash' }, { type: 'local_export' }],
    publishAt: new Date(Date.now() + 4000).toISOString(),
  });
  expect(created.status).toBe(201);
  const postId = created.body.id as string;
  await waitForPost(user.api, postId, (p) => p.status === 'scheduled');
  // Everything stops: worker, API, connections. The workflow lives on in Temporal.
  await first.services.stop();
  await first.temporal.connection.close();

  // As if an earlier attempt had finished one export and crashed before recording it.
  const earlier = join(first.dataDir, 'exports', postId, 'done-before-crash');
  await mkdir(earlier, { recursive: true });
  const earlierMetadata = {
    postId,
    targetKey: 'done-before-crash',
    format: 'generic',
    caption: 'Through a restart',
    draft: { caption: 'Through a restart' },
    publishedAt: '2026-01-01T00:00:00.000Z',
    media: [],
  };
  await writeFile(join(earlier, 'metadata.json'), JSON.stringify(earlierMetadata));

  second = await startTestApp({ restartOf: first });
  const api = { url: second.baseUrl, headers: user.api.headers };
  const post = await waitForPost(api, postId, isFinished, 30_000);
  expect(post.status).toBe('published');
  const byKey = Object.fromEntries(post.targets.map((t: Json) => [t.key, t]));
  // Found, not written again.
  expect(byKey['done-before-crash'].result.publishedAt).toBe('2026-01-01T00:00:00.000Z');
  expect(JSON.parse(await readFile(join(earlier, 'metadata.json'), 'utf8'))).toEqual(earlierMetadata);
  expect(byKey.local_export.status).toBe('published');
  expect((await readdir(join(first.dataDir, 'exports', postId))).sort()).toEqual(['done-before-crash', 'local_export']);
  const publishes = (await call(api, `/api/v1/posts/${postId}/attempts`)).body.items.filter(
    (a: Json) => a.step === 'publish',
  );
  expect(publishes.map((a: Json) => a.targetKey).sort()).toEqual(['done-before-crash', 'local_export']);
});
