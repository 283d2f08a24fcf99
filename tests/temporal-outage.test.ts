import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { posts } from '../db/schema.js';
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
import { closedPort, startTarpit } from './helpers/unresponsive.js';

// Issue 7, scenario 6: no API request waits on Temporal without a deadline. A second API on the
// same database talks to a Temporal that never answers (a port that accepts and stays silent) or
// is not there (a refused port); the real one serves the same user afterwards.

const DEADLINE_MS = 1000;

let app: TestApp;
let user: TestUser;
let tarpit: Awaited<ReturnType<typeof startTarpit>>;
let silent: Awaited<ReturnType<typeof startApiAgainst>>;
let refused: Awaited<ReturnType<typeof startApiAgainst>>;
/** The same user, through the API whose Temporal never answers / refuses connections. */
let viaSilent: { url: string; headers: Record<string, string> };
let viaRefused: { url: string; headers: Record<string, string> };

beforeAll(async () => {
  // The API's sweep for unconfirmed starts looks often here; in production once a minute.
  app = await startTestApp({ pipelineSweep: { intervalMs: 250, olderThanMs: 3 * DEADLINE_MS } });
  user = await signUp(app.baseUrl);
  tarpit = await startTarpit();
  silent = await startApiAgainst(app, { temporalAddress: tarpit.address, temporalCallTimeoutMs: DEADLINE_MS });
  refused = await startApiAgainst(app, { temporalAddress: await closedPort(), temporalCallTimeoutMs: DEADLINE_MS });
  viaSilent = { url: silent.baseUrl, headers: user.api.headers };
  viaRefused = { url: refused.baseUrl, headers: user.api.headers };
});
afterAll(async () => {
  await silent?.stop();
  await refused?.stop();
  await tarpit?.close();
  await app?.stop();
});

async function timed<T>(run: () => Promise<T>): Promise<{ result: T; ms: number }> {
  const started = Date.now();
  const result = await run();
  return { result, ms: Date.now() - started };
}

function expectUnavailable(res: { status: number; headers: Headers; body: Json }) {
  expectProblem(res, 503);
  expect(res.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
}

async function awaitingReview(caption: string): Promise<Json> {
  const created = await postJson(user.api, '/api/v1/posts', {
    caption,
    targets: [{ type: 'local_export' }],
    review: { mode: 'manual' },
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return waitForPost(user.api, created.body.id, (p) => p.status === 'awaiting_review');
}

describe('a Temporal outage', () => {
  it('answers every post action 503 with Retry-After within the deadline, and changes nothing', async () => {
    const post = await awaitingReview('Decided during an outage');
    const path = `/api/v1/posts/${post.id}`;
    const actions: [string, (via: typeof viaSilent) => ReturnType<typeof postJson>][] = [
      ['approve', (via) => postJson(via, `${path}/review/approve`, {}, { 'Idempotency-Key': 'outage-approve' })],
      ['reject', (via) => postJson(via, `${path}/review/reject`, { feedback: 'shorter' })],
      ['edit', (via) => postJson(via, `${path}/drafts/local_export`, { draft: { caption: 'x' } }, {}, 'PUT')],
      ['reschedule', (via) => postJson(via, `${path}/reschedule`, { publishAt: '2030-01-01T00:00:00Z' })],
      ['cancel', (via) => postJson(via, `${path}/cancel`, {})],
      ['retry', (via) => postJson(via, `${path}/targets/local_export/retry`, {})],
    ];
    for (const [name, send] of actions) {
      // Every action against the silent server; two against the refusing one (the same code path).
      for (const via of name === 'approve' || name === 'cancel' ? [viaSilent, viaRefused] : [viaSilent]) {
        const { result, ms } = await timed(() => send(via));
        expectUnavailable(result);
        // The deadline plus the request's own database work; never the minutes an Update can wait.
        expect(ms, `${name} via ${via.url}`).toBeLessThan(DEADLINE_MS + 3000);
      }
    }
    // Reading needs no Temporal.
    expect((await call(viaSilent, path)).body.status).toBe('awaiting_review');
    // Once Temporal answers, the same keyed request goes through.
    const approved = await postJson(user.api, `${path}/review/approve`, {}, { 'Idempotency-Key': 'outage-approve' });
    expect(approved.status, JSON.stringify(approved.body)).toBe(200);
    expect((await waitForPost(user.api, post.id, isFinished)).status).toBe('published');
  });

  it('keeps a post whose start was not confirmed; a repeat with the same key starts it', async () => {
    const body = { caption: 'Created during an outage', targets: [{ type: 'local_export' }] };
    const { result: created, ms } = await timed(() =>
      postJson(viaSilent, '/api/v1/posts', body, { 'Idempotency-Key': 'outage-create' }),
    );
    expectUnavailable(created);
    expect(ms).toBeLessThan(DEADLINE_MS + 3000);
    expect(created.body.detail).toMatch(/Idempotency-Key/);
    const [saved] = await app.db.select().from(posts).where(eq(posts.idempotencyKey, 'outage-create'));
    expect(saved).toMatchObject({ pipelineStartedAt: null, status: 'queued' });

    const repeat = await postJson(user.api, '/api/v1/posts', body, { 'Idempotency-Key': 'outage-create' });
    expect(repeat.status, JSON.stringify(repeat.body)).toBe(200);
    expect(repeat.body.id).toBe(saved!.id);
    const done = await waitForPost(user.api, saved!.id, isFinished);
    expect(done).toMatchObject({ status: 'published', error: null });
  });

  it('starts a post saved during the outage by itself once Temporal answers, without a repeat', async () => {
    const created = await postJson(viaSilent, '/api/v1/posts', {
      caption: 'Created during an outage, never repeated',
      targets: [{ type: 'local_export' }],
    });
    expectUnavailable(created);
    expect(created.body.detail).toMatch(/starts by itself/);
    const id = String(created.body.detail).match(/Post ([0-9a-f-]{36})/)?.[1];
    expect(id).toBeDefined();
    expect((await call(user.api, `/api/v1/posts/${id}`)).body).toMatchObject({
      status: 'queued',
      error: expect.stringMatching(/may not have started/),
    });
    // The real API's sweep starts it: published once, the note gone.
    const done = await waitForPost(user.api, id!, isFinished);
    expect(done).toMatchObject({ status: 'published', error: null });
    const [row] = await app.db.select().from(posts).where(eq(posts.id, id!));
    expect(row!.pipelineStartedAt).not.toBeNull();
    const runs = await app.temporal.workflow.list({ query: `WorkflowId = '${row!.workflowId}'` });
    let count = 0;
    for await (const _ of runs) count++;
    expect(count).toBe(1);
  });

  it('leaves alone a post saved before the sweep existed, whose owner was told to repeat the request', async () => {
    const created = await postJson(viaSilent, '/api/v1/posts', {
      caption: 'Saved before the sweep, perhaps created again since',
      targets: [{ type: 'local_export' }],
    });
    expectUnavailable(created);
    const id = String(created.body.detail).match(/Post ([0-9a-f-]{36})/)![1]!;
    // As such a post was left: its owner may have made a second one instead, which published.
    await app.db
      .update(posts)
      .set({
        error:
          'The pipeline may not have started: Temporal did not answer. Repeat the request with the same Idempotency-Key to make sure.',
      })
      .where(eq(posts.id, id));
    // Several sweeps (every 250 ms, posts older than 3 s) pass it by.
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    const [row] = await app.db.select().from(posts).where(eq(posts.id, id));
    expect(row).toMatchObject({ pipelineStartedAt: null, status: 'queued' });
    await expect(app.temporal.workflow.getHandle(row!.workflowId).describe()).rejects.toThrow(/not found/i);
  });

  it("reserves the campaign slots' key prefix", async () => {
    const res = await postJson(
      user.api,
      '/api/v1/posts',
      { caption: 'A key like a campaign slot', targets: [{ type: 'local_export' }] },
      { 'Idempotency-Key': 'campaign:mine:2030-01-01T09:00' },
    );
    expectProblem(res, 422);
    expect(res.body.errors).toEqual([expect.objectContaining({ field: 'Idempotency-Key' })]);
  });

  it('takes nothing away when an account deletion meets the outage', async () => {
    const leaving = await signUp(app.baseUrl, 'Leaving');
    const res = await call({ url: silent.baseUrl, headers: leaving.api.headers }, '/api/v1/me', {
      method: 'DELETE',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ password: leaving.password }),
    });
    expectUnavailable(res);
    // Still signed in, key still valid: they can simply try again.
    expect((await call(leaving.api, '/api/v1/me')).status).toBe(200);
  });

  it('refuses a create cleanly when Temporal refuses connections', async () => {
    const res = await postJson(viaRefused, '/api/v1/posts', {
      caption: 'Refused',
      targets: [{ type: 'local_export' }],
    });
    expectUnavailable(res);
  });
});
