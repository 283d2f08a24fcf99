import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROUTE_DOCS } from '../api/app.js';
import { connections, pendingChoices } from '../db/schema.js';
import {
  call,
  expectProblem,
  isFinished,
  postJson,
  signUp,
  type TestUser,
  uploadPhoto,
  waitForPost,
} from './helpers/api.js';
import { startTestApp, type TestApp } from './helpers/harness.js';

let app: TestApp;
let alice: TestUser;
let bob: TestUser;
const owned = {
  mediaId: '',
  postId: '',
  apiKeyId: '',
  connectionId: randomUUID(),
  pendingId: randomUUID(),
  campaignId: '',
};

beforeAll(async () => {
  app = await startTestApp();
  alice = await signUp(app.baseUrl, 'Alice');
  bob = await signUp(app.baseUrl, 'Bob');
  owned.mediaId = await uploadPhoto(alice.api);
  const post = await postJson(
    alice.api,
    '/api/v1/posts',
    { caption: 'Alice only', mediaIds: [owned.mediaId], targets: [{ type: 'local_export' }] },
    { 'Idempotency-Key': 'shared-key' },
  );
  owned.postId = post.body.id;
  await waitForPost(alice.api, owned.postId, isFinished);
  const campaign = await postJson(alice.api, '/api/v1/campaigns', {
    name: 'Alice series',
    brief: { topic: 'Alice only' },
    targets: [{ type: 'local_export' }],
    cadence: { kind: 'weekly', slots: [{ day: 'mon', time: '18:00' }] },
    timeZone: 'Europe/Berlin',
    startDate: '2030-01-07',
    end: { count: 2 },
  });
  owned.campaignId = campaign.body.id;
  const keys = await call(alice.api, '/api/v1/me/api-keys');
  owned.apiKeyId = keys.body.items[0].id;
  // A connected account and an account choice of Alice's, as rows: only their ownership is at stake.
  await app.db.insert(connections).values({
    id: owned.connectionId,
    ownerId: alice.id,
    platform: 'tiktok',
    platformAccountId: 'alice-on-tiktok',
    displayName: 'Alice on TikTok',
    grantKey: `tiktok:${owned.connectionId}`,
    scopes: [],
    accessToken: 'never-opened',
    issuedAt: new Date(),
  });
  await app.db.insert(pendingChoices).values({
    id: owned.pendingId,
    ownerId: alice.id,
    platform: 'facebook',
    accounts: [],
    expiresAt: new Date(Date.now() + 600_000),
  });
});
afterAll(async () => {
  await app?.stop();
});

/** Bob's attempt on each route that takes an id, pointed at Alice's resource. */
const attempts: Record<string, () => Promise<{ status: number; headers: Headers; body: Record<string, unknown> }>> = {
  'get /api/v1/posts/:id': () => call(bob.api, `/api/v1/posts/${owned.postId}`),
  'get /api/v1/media/:id': () => call(bob.api, `/api/v1/media/${owned.mediaId}`),
  'get /api/v1/media/:id/content': () => call(bob.api, `/api/v1/media/${owned.mediaId}/content`),
  'get /api/v1/media/:id/thumbnail': () => call(bob.api, `/api/v1/media/${owned.mediaId}/thumbnail`),
  'patch /api/v1/media/:id': () => postJson(bob.api, `/api/v1/media/${owned.mediaId}`, { tags: ['bob'] }, {}, 'PATCH'),
  'delete /api/v1/media/:id': () => call(bob.api, `/api/v1/media/${owned.mediaId}`, { method: 'DELETE' }),
  'delete /api/v1/me/api-keys/:id': () => call(bob.api, `/api/v1/me/api-keys/${owned.apiKeyId}`, { method: 'DELETE' }),
  'post /api/v1/posts/:id/review/approve': () => postJson(bob.api, `/api/v1/posts/${owned.postId}/review/approve`, {}),
  'post /api/v1/posts/:id/review/reject': () =>
    postJson(bob.api, `/api/v1/posts/${owned.postId}/review/reject`, { feedback: 'mine now' }),
  'put /api/v1/posts/:id/drafts/:targetKey': () =>
    postJson(bob.api, `/api/v1/posts/${owned.postId}/drafts/local_export`, { draft: { caption: 'x' } }, {}, 'PUT'),
  'post /api/v1/posts/:id/reschedule': () =>
    postJson(bob.api, `/api/v1/posts/${owned.postId}/reschedule`, { publishAt: '2030-01-01T00:00:00Z' }),
  'post /api/v1/posts/:id/cancel': () => postJson(bob.api, `/api/v1/posts/${owned.postId}/cancel`, {}),
  'post /api/v1/posts/:id/targets/:targetKey/retry': () =>
    postJson(bob.api, `/api/v1/posts/${owned.postId}/targets/local_export/retry`, {}),
  'post /api/v1/posts/:id/targets/:targetKey/confirm': () =>
    postJson(bob.api, `/api/v1/posts/${owned.postId}/targets/local_export/confirm`, {}),
  'get /api/v1/connections/:id/tiktok/creator-info': () =>
    call(bob.api, `/api/v1/connections/${owned.connectionId}/tiktok/creator-info`),
  'get /api/v1/posts/:id/attempts': () => call(bob.api, `/api/v1/posts/${owned.postId}/attempts`),
  'get /api/v1/campaigns/:id': () => call(bob.api, `/api/v1/campaigns/${owned.campaignId}`),
  'patch /api/v1/campaigns/:id': () =>
    postJson(bob.api, `/api/v1/campaigns/${owned.campaignId}`, { name: 'mine now' }, {}, 'PATCH'),
  'post /api/v1/campaigns/:id/pause': () => postJson(bob.api, `/api/v1/campaigns/${owned.campaignId}/pause`, {}),
  'post /api/v1/campaigns/:id/resume': () => postJson(bob.api, `/api/v1/campaigns/${owned.campaignId}/resume`, {}),
  'post /api/v1/campaigns/:id/cancel': () => postJson(bob.api, `/api/v1/campaigns/${owned.campaignId}/cancel`, {}),
  'post /api/v1/campaigns/:id/skip': () =>
    postJson(bob.api, `/api/v1/campaigns/${owned.campaignId}/skip`, { slot: '2030-01-07T18:00' }),
  'post /api/v1/campaigns/:id/move': () =>
    postJson(bob.api, `/api/v1/campaigns/${owned.campaignId}/move`, {
      slot: '2030-01-07T18:00',
      to: '2030-01-07T19:00',
    }),
  'get /api/v1/connections/:id': () => call(bob.api, `/api/v1/connections/${owned.connectionId}`),
  'delete /api/v1/connections/:id': () =>
    call(bob.api, `/api/v1/connections/${owned.connectionId}`, { method: 'DELETE' }),
  'get /api/v1/connections/pending/:id': () => call(bob.api, `/api/v1/connections/pending/${owned.pendingId}`),
  'post /api/v1/connections/pending/:id/confirm': () =>
    postJson(bob.api, `/api/v1/connections/pending/${owned.pendingId}/confirm`, { accountIds: ['alice-page'] }),
};

describe('tenant isolation', () => {
  it('covers every route that takes an id', () => {
    const withId = ROUTE_DOCS.filter((d) => d.path.includes(':id')).map((d) => `${d.method} ${d.path}`);
    expect(Object.keys(attempts).sort()).toEqual(withId.sort());
  });

  it.each(Object.keys(attempts))("%s answers 404 for another user's resource, with nothing about it", async (route) => {
    const res = await attempts[route]!();
    expectProblem(res as never, 404);
    expect(JSON.stringify(res.body)).not.toMatch(/Alice|alice/);
  });

  it("keeps Alice's resources whole and working after Bob's attempts", async () => {
    expect((await call(alice.api, `/api/v1/posts/${owned.postId}`)).body.caption).toBe('Alice only');
    expect((await call(alice.api, `/api/v1/media/${owned.mediaId}/content`)).status).toBe(200);
    expect((await call(alice.api, '/api/v1/me/api-keys')).body.items[0].revokedAt).toBeNull();
    expect((await call(alice.api, '/api/v1/me')).status).toBe(200);
    expect(await app.db.select().from(connections).where(eq(connections.id, owned.connectionId))).toHaveLength(1);
    expect(await app.db.select().from(pendingChoices).where(eq(pendingChoices.id, owned.pendingId))).toHaveLength(1);
  });

  it("lists only the caller's own posts and media", async () => {
    expect((await call(bob.api, '/api/v1/posts')).body.items).toEqual([]);
    expect((await call(bob.api, '/api/v1/media')).body.items).toEqual([]);
    expect((await call(alice.api, '/api/v1/posts')).body.items.map((p: { id: string }) => p.id)).toEqual([
      owned.postId,
    ]);
    expect((await call(alice.api, '/api/v1/media')).body.items.map((m: { id: string }) => m.id)).toEqual([
      owned.mediaId,
    ]);
  });

  it("treats another user's media as unknown when creating a post", async () => {
    const res = await postJson(bob.api, '/api/v1/posts', {
      caption: 'Borrowed',
      mediaIds: [owned.mediaId],
      targets: [{ type: 'local_export' }],
    });
    expectProblem(res, 422, 'mediaIds[0]');
    expect(res.body.errors[0].message).toBe(`no media with id ${owned.mediaId}; upload it first`);
  });

  it('keeps Idempotency-Keys per user', async () => {
    const res = await postJson(
      bob.api,
      '/api/v1/posts',
      { caption: 'Bob too', targets: [{ type: 'local_export' }] },
      { 'Idempotency-Key': 'shared-key' },
    );
    expect(res.status).toBe(201);
    expect(res.body.id).not.toBe(owned.postId);
  });

  it('tags each workflow with its owner', async () => {
    const description = await app.temporal.workflow.getHandle(`post-${owned.postId}`).describe();
    expect(description.searchAttributes.OwnerId).toEqual([alice.id]);
    const input = (await app.temporal.workflow.getHandle(`post-${owned.postId}`).fetchHistory()).events?.[0]
      ?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0]?.data;
    expect(Buffer.from(input!).toString()).toContain(alice.id);
  });
});
