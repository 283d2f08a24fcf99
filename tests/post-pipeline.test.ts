import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { count, eq, sql } from 'drizzle-orm';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows } from '../db/client.js';
import { attempts, media, posts } from '../db/schema.js';
import { PostIdAttribute, PostStatusAttribute } from '../domain/search-attributes.js';
import {
  call,
  expectProblem,
  isFinished,
  type Json,
  postJson,
  signUp,
  type TestUser,
  uploadPhoto,
  waitForPost,
} from './helpers/api.js';
import { startTestApp, type TestApp } from './helpers/harness.js';
import { captureHistory } from './helpers/histories.js';

let app: TestApp;
let user: TestUser;
beforeAll(async () => {
  app = await startTestApp();
  user = await signUp(app.baseUrl);
});
afterAll(async () => {
  await app?.stop();
});

async function workflowsInQueue(): Promise<string[]> {
  const ids: string[] = [];
  for await (const wf of app.temporal.workflow.list({ query: `TaskQueue = '${app.taskQueue}'` }))
    ids.push(wf.workflowId);
  return ids;
}

async function waitForVisibility(expected: number): Promise<string[]> {
  const deadline = Date.now() + 10_000;
  let ids = await workflowsInQueue();
  while (ids.length < expected && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    ids = await workflowsInQueue();
  }
  return ids;
}

describe('post pipeline to the local export target', () => {
  it('renders, exports and records a post, visible in Temporal with its search attributes', async () => {
    const mediaId = await uploadPhoto(user.api, 6000, 1500);
    const created = await postJson(user.api, '/api/v1/posts', {
      caption: 'Launch day 🚀',
      mediaIds: [mediaId],
      targets: [{ type: 'local_export' }],
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.headers.get('location')).toBe(`/api/v1/posts/${created.body.id}`);
    const postId = created.body.id as string;

    const post = await waitForPost(user.api, postId, isFinished);
    expect(post.status).toBe('published');
    expect(post.error).toBeNull();
    expect(post.steps.map((s: { name: string; status: string }) => [s.name, s.status])).toEqual([
      ['generate', 'skipped'],
      ['review', 'skipped'],
      ['schedule', 'skipped'],
      ['render', 'succeeded'],
      ['publish', 'succeeded'],
      ['record', 'succeeded'],
    ]);
    const [target] = post.targets;
    expect(target).toMatchObject({ key: 'local_export', status: 'published', attempts: 1, error: null });
    expect(post.workflow).toEqual({
      id: `post-${postId}`,
      url: `http://localhost:8233/namespaces/default/workflows/post-${postId}`,
    });

    // The hand-off folder: caption, metadata and the rendition, sized to the target's rules.
    const folder = join(app.dataDir, 'exports', postId, 'local_export');
    expect(target.result.location).toBe(folder);
    expect((await readdir(folder)).sort()).toEqual(['caption.txt', 'media-01.jpg', 'metadata.json']);
    expect(await readFile(join(folder, 'caption.txt'), 'utf8')).toBe('Launch day 🚀\n');
    const metadata = JSON.parse(await readFile(join(folder, 'metadata.json'), 'utf8'));
    expect(metadata).toMatchObject({
      postId,
      caption: 'Launch day 🚀',
      media: [{ file: 'media-01.jpg', width: 4096, height: 1024 }],
    });
    const exported = await readFile(join(folder, 'media-01.jpg'));
    const info = await sharp(exported).metadata();
    expect([info.format, info.width, info.height]).toEqual(['jpeg', 4096, 1024]);
    expect(info.exif).toBeUndefined();
    expect(exported.includes('exif-marker-123')).toBe(false);

    // Every attempt is on record.
    const tries = await app.db.select().from(attempts).where(eq(attempts.postId, postId));
    expect(tries.map((t) => [t.step, t.outcome]).sort()).toEqual([
      ['publish', 'succeeded'],
      ['render', 'succeeded'],
    ]);

    // Temporal has the workflow, completed, findable by the project's search attributes.
    const handle = app.temporal.workflow.getHandle(`post-${postId}`);
    expect(await handle.result()).toMatchObject({ postId, status: 'published' });
    await captureHistory(handle, 'post-pipeline-v3-published-with-media');
    const description = await handle.describe();
    expect(description.status.name).toBe('COMPLETED');
    expect(description.typedSearchAttributes.get(PostIdAttribute)).toBe(postId);
    expect(description.typedSearchAttributes.get(PostStatusAttribute)).toBe('published');
    const found: string[] = [];
    for await (const wf of app.temporal.workflow.list({ query: `PostId = '${postId}' AND PostStatus = 'published'` })) {
      found.push(wf.workflowId);
    }
    expect(found).toEqual([`post-${postId}`]);
  });

  it('publishes a text-only post to several export targets', async () => {
    const created = await postJson(user.api, '/api/v1/posts', {
      caption: 'No pictures today',
      targets: [{ type: 'local_export' }, { type: 'local_export', key: 'archive' }],
    });
    expect(created.status).toBe(201);
    const post = await waitForPost(user.api, created.body.id, isFinished);
    expect(post.status).toBe('published');
    expect(post.targets.map((t: { key: string; status: string }) => [t.key, t.status])).toEqual([
      ['archive', 'published'],
      ['local_export', 'published'],
    ]);
    const root = join(app.dataDir, 'exports', created.body.id);
    expect((await readdir(root)).sort()).toEqual(['archive', 'local_export']);
    await captureHistory(app.temporal.workflow.getHandle(post.workflow.id), 'post-pipeline-v3-two-targets');
  });

  it('reads the rows of a raw statement on PostgreSQL (queryRows)', async () => {
    // recordResults learns from such a row whether the post was still live.
    expect(await queryRows(app.db, sql`select 1::int as one union all select 2`)).toEqual([{ one: 1 }, { one: 2 }]);
  });

  it('answers a create with the view GET gives, built from the rows it wrote', async () => {
    const [first, second] = [await uploadPhoto(user.api, 1000, 750), await uploadPhoto(user.api, 1000, 800)];
    const created = await postJson(user.api, '/api/v1/posts', {
      caption: 'Two pictures, three folders',
      mediaIds: [second, first],
      targets: [
        { type: 'local_export', key: 'zz-last' },
        { type: 'local_export', key: 'a_b', platform: 'instagram' },
        { type: 'local_export', key: 'ab' },
      ],
      publishAt: new Date(Date.now() + 3600_000).toISOString(),
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const read = await call(user.api, `/api/v1/posts/${created.body.id}`);
    // What moved since (the pipeline marks the post scheduled) aside, the two agree field by field.
    const still = (view: Json) => ({
      ...view,
      status: undefined,
      updatedAt: undefined,
      steps: view.steps.map((s: Json) => ({ name: s.name })),
      targets: view.targets.map((t: Json) => ({ ...t, status: undefined, attempts: undefined })),
    });
    expect(still(created.body)).toEqual(still(read.body));
    expect(created.body.media.map((m: Json) => m.id)).toEqual([second, first]);
    expect(created.body.targets.map((t: Json) => t.key)).toEqual(['a_b', 'ab', 'zz-last']);
    expect((await postJson(user.api, `/api/v1/posts/${created.body.id}/cancel`, {})).status).toBe(200);
  });

  it('reports a step that cannot succeed as failed, with the reason in words', async () => {
    const mediaId = await uploadPhoto(user.api);
    const [row] = await app.db.select().from(media).where(eq(media.id, mediaId));
    await rm(app.services.store.pathOf(row!.storageKey));

    const created = await postJson(user.api, '/api/v1/posts', {
      caption: 'Lost file',
      mediaIds: [mediaId],
      targets: [{ type: 'local_export' }],
    });
    const post = await waitForPost(user.api, created.body.id, isFinished);
    expect(post.status).toBe('failed');
    expect(post.error).toMatch(/Rendering media failed: The uploaded file for media .* is missing from storage/);
    const render = post.steps.find((s: { name: string }) => s.name === 'render');
    expect(render).toMatchObject({ status: 'failed', attempts: 1 });
    expect(post.steps.find((s: { name: string }) => s.name === 'publish')).toMatchObject({ status: 'skipped' });
    expect(render.error).toMatch(/missing from storage/);
    expect(post.targets[0]).toMatchObject({ status: 'failed' });
    expect(post.targets[0].error).toMatch(/missing from storage/);
    await captureHistory(app.temporal.workflow.getHandle(post.workflow.id), 'post-pipeline-v3-render-failed');
  });

  it('waits until publishAt before publishing', async () => {
    const publishAt = new Date(Date.now() + 3000).toISOString().replace('Z', '+00:00');
    const created = await postJson(user.api, '/api/v1/posts', {
      caption: 'A little later',
      targets: [{ type: 'local_export' }],
      publishAt,
    });
    expect(created.status).toBe(201);
    // Rendered first, so problems show before the wait; then it waits.
    await waitForPost(user.api, created.body.id, (p) => p.status === 'scheduled', 2500);
    const progress = await app.temporal.workflow.getHandle(created.body.workflow.id).query('progress');
    expect(progress).toMatchObject({ status: 'scheduled', targets: { local_export: 'pending' } });
    const post = await waitForPost(user.api, created.body.id, isFinished);
    expect(post.status).toBe('published');
    expect(Date.parse(post.targets[0].publishedAt)).toBeGreaterThanOrEqual(Date.parse(publishAt));
    expect(post.steps.find((s: { name: string }) => s.name === 'schedule')).toMatchObject({ status: 'succeeded' });
    await captureHistory(app.temporal.workflow.getHandle(post.workflow.id), 'post-pipeline-v3-scheduled');
  });
});

describe('Idempotency-Key', () => {
  it('turns repeated and concurrent requests into one post and one workflow', async () => {
    const before = await waitForVisibility(0);
    const body = { caption: 'Only once', targets: [{ type: 'local_export' }] };
    const headers = { 'Idempotency-Key': 'idem-once-1' };
    const concurrent = await Promise.all([1, 2, 3].map(() => postJson(user.api, '/api/v1/posts', body, headers)));
    const again = await postJson(user.api, '/api/v1/posts', body, headers);
    const all = [...concurrent, again];
    expect(all.map((r) => r.status).sort()).toEqual([200, 200, 200, 201]);
    const ids = new Set(all.map((r) => r.body.id));
    expect(ids.size).toBe(1);

    const [{ n }] = (await app.db
      .select({ n: count() })
      .from(posts)
      .where(eq(posts.idempotencyKey, 'idem-once-1'))) as [{ n: number }];
    expect(n).toBe(1);
    const postId = [...ids][0];
    const workflows = (await waitForVisibility(before.length + 1)).filter((id) => !before.includes(id));
    expect(workflows).toEqual([`post-${postId}`]);
    expect((await waitForPost(user.api, postId, isFinished)).status).toBe('published');

    // After the pipeline finished, a repeat still answers with the same post and starts nothing.
    const late = await postJson(user.api, '/api/v1/posts', body, headers);
    expect([late.status, late.body.id, late.body.status]).toEqual([200, postId, 'published']);
    expect((await workflowsInQueue()).filter((id) => !before.includes(id))).toEqual([`post-${postId}`]);
  });

  it('refuses a reused key with a different body', async () => {
    const headers = { 'Idempotency-Key': 'idem-diff-1' };
    const first = await postJson(
      user.api,
      '/api/v1/posts',
      { caption: 'A', targets: [{ type: 'local_export' }] },
      headers,
    );
    expect(first.status).toBe(201);
    const second = await postJson(
      user.api,
      '/api/v1/posts',
      { caption: 'B', targets: [{ type: 'local_export' }] },
      headers,
    );
    expectProblem(second, 422, 'Idempotency-Key');
  });
});

describe('bad input', () => {
  const cases: { name: string; body: unknown; status: number; field: string; headers?: Record<string, string> }[] = [
    { name: 'missing targets', body: { caption: 'x' }, status: 422, field: 'targets' },
    { name: 'empty targets', body: { caption: 'x', targets: [] }, status: 422, field: 'targets' },
    {
      name: 'unknown target type',
      body: { caption: 'x', targets: [{ type: 'myspace' }] },
      status: 422,
      field: 'targets[0].type',
    },
    {
      name: 'unknown media id',
      body: { caption: 'x', mediaIds: ['7b0c5c7e-1111-4d2a-9a5e-8f7c7f1d2e3a'], targets: [{ type: 'local_export' }] },
      status: 422,
      field: 'mediaIds[0]',
    },
    {
      name: 'media id not a UUID',
      body: { caption: 'x', mediaIds: ['nope'], targets: [{ type: 'local_export' }] },
      status: 422,
      field: 'mediaIds[0]',
    },
    { name: 'missing caption', body: { targets: [{ type: 'local_export' }] }, status: 422, field: 'caption' },
    {
      name: 'publishAt without offset',
      body: { caption: 'x', targets: [{ type: 'local_export' }], publishAt: '2030-01-01T10:00:00' },
      status: 422,
      field: 'publishAt',
    },
    {
      name: 'unknown field',
      body: { caption: 'x', targets: [{ type: 'local_export' }], colour: 'red' },
      status: 422,
      field: 'colour',
    },
    {
      name: 'duplicate target keys',
      body: { caption: 'x', targets: [{ type: 'local_export' }, { type: 'local_export' }] },
      status: 422,
      field: 'targets[1].key',
    },
    { name: 'malformed JSON', body: '{"caption": "x", "targets": [', status: 400, field: '(body)' },
    { name: 'JSON that is not an object', body: '[1,2]', status: 422, field: '(body)' },
    {
      name: 'bad Idempotency-Key',
      body: { caption: 'x', targets: [{ type: 'local_export' }] },
      headers: { 'Idempotency-Key': 'has spaces in it' },
      status: 422,
      field: 'Idempotency-Key',
    },
  ];

  it.each(cases)(
    '$name gets a 4xx problem naming the field and creates nothing',
    async ({ body, status, field, headers }) => {
      const [{ n: postsBefore }] = (await app.db.select({ n: count() }).from(posts)) as [{ n: number }];
      const workflowsBefore = await workflowsInQueue();
      const res = await postJson(user.api, '/api/v1/posts', body, headers);
      expectProblem(res, status, field);
      const [{ n: postsAfter }] = (await app.db.select({ n: count() }).from(posts)) as [{ n: number }];
      expect(postsAfter).toBe(postsBefore);
      expect((await workflowsInQueue()).sort()).toEqual([...workflowsBefore].sort());
    },
  );

  it('answers 404 problems for unknown posts and routes', async () => {
    expectProblem(await call(user.api, '/api/v1/posts/7b0c5c7e-1111-4d2a-9a5e-8f7c7f1d2e3a'), 404);
    expectProblem(await call(user.api, '/api/v1/posts/not-a-uuid'), 404);
    expectProblem(await call(user.api, '/api/v1/nothing-here'), 404);
  });
});

describe('listing posts', () => {
  it('pages through every post exactly once, newest first', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await call(user.api, `/api/v1/posts?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      expect(res.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...res.body.items.map((p: { id: string }) => p.id));
      cursor = res.body.nextCursor;
      pages += 1;
    } while (cursor && pages < 50);
    const rows = await app.db.select({ id: posts.id, createdAt: posts.createdAt }).from(posts);
    expect(seen.length).toBe(rows.length);
    expect(new Set(seen).size).toBe(rows.length);
    const newestFirst = [...rows].sort(
      (a, b) => b.createdAt.getTime() - a.createdAt.getTime() || b.id.localeCompare(a.id),
    );
    expect(seen).toEqual(newestFirst.map((r) => r.id));
    expect(rows.length).toBeGreaterThan(2);
  });

  it('filters by status and rejects bad paging parameters', async () => {
    const res = await call(user.api, '/api/v1/posts?status=published&limit=100');
    expect(res.status).toBe(200);
    expect(res.body.items.length).toBeGreaterThan(0);
    expect(res.body.items.every((p: { status: string }) => p.status === 'published')).toBe(true);
    expectProblem(await call(user.api, '/api/v1/posts?limit=0'), 422, 'limit');
    expectProblem(await call(user.api, '/api/v1/posts?limit=abc'), 422, 'limit');
    expectProblem(await call(user.api, '/api/v1/posts?cursor=garbage'), 422, 'cursor');
    expectProblem(await call(user.api, '/api/v1/posts?status=lost'), 422, 'status');
  });
});
