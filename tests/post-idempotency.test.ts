import { WorkflowNotFoundError } from '@temporalio/client';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postActionKeys, posts } from '../db/schema.js';
import { TASK_PRIORITY } from '../domain/pipeline.js';
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
import { startTestApp, type TestApp } from './helpers/harness.js';

// Issue 7, scenarios 1 and 7: a repeated request answers from what the first one did, and never
// makes a post's pipeline run again.

let app: TestApp;
let user: TestUser;

beforeAll(async () => {
  app = await startTestApp();
  user = await signUp(app.baseUrl);
});
afterAll(async () => {
  await app?.stop();
});

const target = [{ type: 'local_export' }];
const inAnHour = () => new Date(Date.now() + 3600_000).toISOString();
const handle = (post: Json) => app.temporal.workflow.getHandle(post.workflow.id);

/** What a namespace's retention does to closed runs: their histories are gone (the dev server takes ~20 s). */
async function forgetHistories(list: Json[]): Promise<void> {
  await Promise.all(
    list.map((post) =>
      app.temporal.workflowService.deleteWorkflowExecution({
        namespace: app.temporal.options.namespace,
        workflowExecution: { workflowId: post.workflow.id },
      }),
    ),
  );
  const deadline = Date.now() + 90_000;
  for (const post of list) {
    while (await runExists(post)) {
      if (Date.now() > deadline) throw new Error(`the history of ${post.workflow.id} was not deleted`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

async function runExists(post: Json): Promise<boolean> {
  try {
    await handle(post).describe();
    return true;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
}

function createWithKey(key: string, body: Record<string, unknown>) {
  return postJson(user.api, '/api/v1/posts', body, { 'Idempotency-Key': key });
}

async function manualReviewPost(key: string): Promise<Json> {
  const created = await createWithKey(key, {
    caption: `Review me ${key}`,
    targets: target,
    review: { mode: 'manual' },
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return waitForPost(user.api, created.body.id, (p) => p.status === 'awaiting_review');
}

describe('a repeated create (scenario 1)', () => {
  const bodies = {
    published: { caption: 'Published once', targets: target },
    terminated: { caption: 'Stopped by an operator', targets: target, publishAt: inAnHour() },
    unconfirmed: { caption: 'Start never confirmed', targets: target },
    unconfirmedEnded: { caption: 'Start never confirmed, post ended', targets: target },
  };
  const seen: Record<keyof typeof bodies, Json> = {} as never;

  beforeAll(async () => {
    for (const [key, body] of Object.entries(bodies)) {
      const created = await createWithKey(key, body);
      expect(created.status, JSON.stringify(created.body)).toBe(201);
    }
    const ids = async (key: string) => (await createWithKey(key, bodies[key as keyof typeof bodies])).body.id as string;
    seen.published = await waitForPost(user.api, await ids('published'), isFinished);
    seen.unconfirmed = await waitForPost(user.api, await ids('unconfirmed'), isFinished);
    seen.unconfirmedEnded = await waitForPost(user.api, await ids('unconfirmedEnded'), isFinished);
    seen.terminated = await waitForPost(user.api, await ids('terminated'), (p) => p.status === 'scheduled');
    // An operator stops this run: its status never reaches the database.
    await handle(seen.terminated).terminate('operator stopped it');
    await forgetHistories(Object.values(seen));
    // What a start that timed out leaves behind (tests/temporal-outage.test.ts makes one for real).
    await app.db
      .update(posts)
      .set({ pipelineStartedAt: null, status: 'queued' })
      .where(eq(posts.id, seen.unconfirmed.id));
    await app.db.update(posts).set({ pipelineStartedAt: null }).where(eq(posts.id, seen.unconfirmedEnded.id));
  }, 120_000);

  it('answers a published post from its own state after its history is gone, starting nothing', async () => {
    const repeat = await createWithKey('published', bodies.published);
    expect(repeat.status, JSON.stringify(repeat.body)).toBe(200);
    expect(repeat.body).toMatchObject({ id: seen.published.id, status: 'published' });
    expect(repeat.body.updatedAt).toBe(seen.published.updatedAt);
    expect(await runExists(seen.published)).toBe(false);
  });

  it('never restarts a post whose run was stopped, though its status never reached the database', async () => {
    const repeat = await createWithKey('terminated', bodies.terminated);
    expect(repeat.status).toBe(200);
    expect(repeat.body).toMatchObject({ id: seen.terminated.id, status: 'scheduled' });
    expect(await runExists(seen.terminated)).toBe(false);
  });

  it('starts a post whose start was never confirmed, on a repeat', async () => {
    const repeat = await createWithKey('unconfirmed', bodies.unconfirmed);
    expect(repeat.status).toBe(200);
    expect(await runExists(seen.unconfirmed)).toBe(true);
    await handle(seen.unconfirmed).result();
    const [row] = await app.db.select().from(posts).where(eq(posts.id, seen.unconfirmed.id));
    expect(row!.pipelineStartedAt).not.toBeNull();
  });

  it('never starts an unconfirmed post that has ended', async () => {
    const repeat = await createWithKey('unconfirmedEnded', bodies.unconfirmedEnded);
    expect(repeat.body.status).toBe('published');
    expect(await runExists(seen.unconfirmedEnded)).toBe(false);
  });

  it('checks brief.sourceMediaIds like mediaIds: unknown media names the field', async () => {
    const res = await postJson(user.api, '/api/v1/posts', {
      brief: { topic: 'Anything', sourceMediaIds: ['00000000-0000-4000-8000-000000000000'] },
      targets: target,
    });
    expectProblem(res, 422, 'brief.sourceMediaIds[0]');
  });
});

describe('retried actions (scenario 7)', () => {
  it('answers a retried approve with the first answer; without a key the repeat is refused', async () => {
    const post = await manualReviewPost('approve-retried');
    const approve = () =>
      postJson(user.api, `/api/v1/posts/${post.id}/review/approve`, {}, { 'Idempotency-Key': 'approve-1' });
    // Sent twice at once, like a client retrying while the first is still on its way.
    const [first, second] = await Promise.all([approve(), approve()]);
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect(second.status, JSON.stringify(second.body)).toBe(200);
    expect((await approve()).status).toBe(200);
    const without = await postJson(user.api, `/api/v1/posts/${post.id}/review/approve`, {});
    expectProblem(without, 409);
    expect((await waitForPost(user.api, post.id, isFinished)).status).toBe('published');
  });

  it('refuses the same key for another action or another body (422 naming the header)', async () => {
    const post = await manualReviewPost('key-reuse');
    const path = `/api/v1/posts/${post.id}`;
    const edit = await postJson(
      user.api,
      `${path}/drafts/local_export`,
      { draft: { caption: 'Edited once' } },
      { 'Idempotency-Key': 'edit-1' },
      'PUT',
    );
    expect(edit.status, JSON.stringify(edit.body)).toBe(200);
    const again = await postJson(
      user.api,
      `${path}/drafts/local_export`,
      { draft: { caption: 'Edited once' } },
      { 'Idempotency-Key': 'edit-1' },
      'PUT',
    );
    expect(again.status).toBe(200);
    const otherBody = await postJson(
      user.api,
      `${path}/drafts/local_export`,
      { draft: { caption: 'Something else' } },
      { 'Idempotency-Key': 'edit-1' },
      'PUT',
    );
    expectProblem(otherBody, 422, 'Idempotency-Key');
    expectProblem(
      await postJson(user.api, `${path}/cancel`, {}, { 'Idempotency-Key': 'edit-1' }),
      422,
      'Idempotency-Key',
    );
    const [row] = await app.db.select().from(postActionKeys).where(eq(postActionKeys.key, 'edit-1'));
    expect(row).toMatchObject({ action: 'editDraft', postId: post.id });
    expect((await call(user.api, path)).body.targets[0].draft.caption).toBe('Edited once');
  });

  it('cancels with 200 "cancelled"; a retry gets the same answer, even once the run has closed', async () => {
    const post = await manualReviewPost('cancel-retried');
    const cancel = () => postJson(user.api, `/api/v1/posts/${post.id}/cancel`, {}, { 'Idempotency-Key': 'cancel-1' });
    const first = await cancel();
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect((await handle(post).result()).status).toBe('cancelled');
    expect((await cancel()).status).toBe(200);
    // As if the first answer never reached the database: Temporal still has it for this Update id.
    await app.db.update(postActionKeys).set({ succeededAt: null }).where(eq(postActionKeys.key, 'cancel-1'));
    const replay = await cancel();
    expect(replay.status, JSON.stringify(replay.body)).toBe(200);
    expect(replay.body.status).toBe('cancelled');
    // A new request (no key) to cancel what has ended is refused with the reason.
    expectProblem(await postJson(user.api, `/api/v1/posts/${post.id}/cancel`, {}), 409);
  });
});

describe('starting a pipeline', () => {
  it('gives the operator a summary and dispatches posts due soon before far ones', async () => {
    const soon = await postJson(user.api, '/api/v1/posts', {
      caption: 'Harvest festival on Saturday\nSecond line stays out of the summary',
      targets: [{ type: 'local_export', key: 'fb', platform: 'facebook' }],
    });
    expect(soon.status, JSON.stringify(soon.body)).toBe(201);
    const far = await postJson(user.api, '/api/v1/posts', {
      caption: 'Next month',
      targets: target,
      publishAt: new Date(Date.now() + 2 * 24 * 3600_000).toISOString(),
    });
    const soonRun = await handle(soon.body).describe();
    expect(await soonRun.staticSummary()).toContain('Harvest festival on Saturday');
    expect(await soonRun.staticSummary()).not.toContain('Second line');
    expect(await soonRun.staticDetails()).toContain('fb (facebook)');
    const farRun = await handle(far.body).describe();
    expect(soonRun.raw.workflowExecutionInfo?.priority?.priorityKey).toBe(TASK_PRIORITY.dueSoon);
    expect(farRun.raw.workflowExecutionInfo?.priority?.priorityKey).toBe(TASK_PRIORITY.later);
    expect(TASK_PRIORITY.dueSoon).toBeLessThan(TASK_PRIORITY.later);
    await handle(far.body).terminate('test done');
  });
});
