import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { eq } from 'drizzle-orm';
import postgres from 'postgres';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { media, posts } from '../db/schema.js';
import { EMULATOR_MODEL, type OpenAiEmulator, startOpenAiEmulator } from '../emulators/openai.js';
import {
  approveUpdate,
  cancelUpdate,
  progressQuery,
  rejectUpdate,
  rescheduleUpdate,
  retryTargetUpdate,
} from '../workflows/messages.js';
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

// People and the clock racing each other on one post. Each test holds a real PostgreSQL row lock
// (what a slow or stalled database looks like to an activity) to open the window a race needs.

let emulator: OpenAiEmulator;
let app: TestApp;
let user: TestUser;
let sql: postgres.Sql;

beforeAll(async () => {
  emulator = await startOpenAiEmulator();
  // A second connection holds rows locked to open race windows: PostgreSQL, also under TEST_DATABASE.
  app = await startTestApp({
    database: 'postgres',
    env: { OPENAI_BASE_URL: emulator.url, OPENAI_API_KEY: 'sk-test', OPENAI_MODEL: EMULATOR_MODEL },
  });
  sql = postgres(app.database!.url, { max: 2, onnotice: () => {} });
  user = await signUp(app.baseUrl);
});
afterAll(async () => {
  await sql?.end();
  await app?.stop();
  await emulator?.stop();
});
beforeEach(() => emulator.reset());

const brief = { topic: 'Night trains across Europe', language: 'en' };
const awaitingReview = (round: number) => (p: Json) => p.status === 'awaiting_review' && p.review.round === round;
const handleOf = (post: Json) => app.temporal.workflow.getHandle(post.workflow.id);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Holds `select ... for update` on a row until released, the way a stalled writer would. */
async function lockRow(table: 'posts' | 'publications' | 'post_steps', where: string, id: string) {
  let release!: () => void;
  const released = new Promise<void>((r) => {
    release = r;
  });
  let locked!: () => void;
  const holding = new Promise<void>((r) => {
    locked = r;
  });
  const done = sql.begin(async (tx) => {
    await tx.unsafe(`select 1 from ${table} where ${where} = $1 for update`, [id]);
    locked();
    await released;
  });
  await holding;
  return async () => {
    release();
    await done;
  };
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function historyEvents(post: Json) {
  return (await handleOf(post).fetchHistory()).events ?? [];
}

async function activityStarted(post: Json, type: string) {
  const description = await handleOf(post).describe();
  return (description.raw.pendingActivities ?? []).some(
    (a) => a.activityType?.name === type && a.state === 2 /* PENDING_ACTIVITY_STATE_STARTED */,
  );
}

async function refusal(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) return (err.cause as Error)?.message ?? err.message;
    return (err as Error).message;
  }
  throw new Error('expected the Update to be refused, and it was accepted');
}

describe('review deadline', () => {
  it('refuses a decision once the deadline has fired, with the reason, while approval is recorded', async () => {
    const created = await postJson(user.api, '/api/v1/posts', {
      brief,
      review: { mode: 'manual', deadline: new Date(Date.now() + 5000).toISOString(), onExpiry: 'approve' },
      targets: [{ type: 'local_export', platform: 'facebook' }],
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const post = await waitForPost(user.api, created.body.id, awaitingReview(0));
    // The database stalls while the deadline's approval is being recorded.
    const release = await lockRow('posts', 'id', post.id);
    try {
      await until('the review deadline to fire', async () =>
        (await historyEvents(post)).some((e) => e.timerFiredEventAttributes),
      );
      const message = await refusal(
        handleOf(post).executeUpdate(rejectUpdate, { args: [{ feedback: 'Shorter, please' }] }),
      );
      expect(message).toMatch(/review deadline \(.+\) passed: the drafts were approved automatically/);
    } finally {
      await release();
    }
    expect((await handleOf(post).result()).status).toBe('published');
    const done = (await call(user.api, `/api/v1/posts/${post.id}`)).body;
    expect(done.generation.rounds).toHaveLength(1);
    expect(emulator.requests.filter((r) => r.path === '/v1/chat/completions')).toHaveLength(1);
  });

  it('never shows a round that was drafted after the deadline as awaiting review', async () => {
    const deadline = Date.now() + 6000;
    const created = await postJson(user.api, '/api/v1/posts', {
      brief,
      review: { mode: 'manual', deadline: new Date(deadline).toISOString(), onExpiry: 'approve' },
      targets: [{ type: 'local_export', platform: 'facebook' }],
    });
    const post = await waitForPost(user.api, created.body.id, awaitingReview(0));
    // The second round is still being written when the deadline passes.
    emulator.setLatency(deadline - Date.now() + 1500);
    const rejected = await postJson(user.api, `/api/v1/posts/${post.id}/review/reject`, { feedback: 'More trains' });
    expect(rejected.status, JSON.stringify(rejected.body)).toBe(200);
    expect((await handleOf(post).result()).status).toBe('published');

    const events = await historyEvents(post);
    const marked = events.filter(
      (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'markAwaitingReview',
    );
    expect(marked).toHaveLength(1);
    const done = (await call(user.api, `/api/v1/posts/${post.id}`)).body;
    expect(done.steps.find((s: Json) => s.name === 'review')).toMatchObject({
      status: 'succeeded',
      error: 'Approved automatically: the review deadline passed',
    });
  });
});

describe('edits and decisions', () => {
  it('applies an edit sent before an approval first, and publishes the edited draft', async () => {
    const created = await postJson(user.api, '/api/v1/posts', {
      caption: 'Original words',
      review: { mode: 'manual' },
      targets: [{ type: 'local_export', key: 'site' }],
    });
    const post = await waitForPost(user.api, created.body.id, awaitingReview(0));
    const release = await lockRow('publications', 'post_id', post.id);
    const order: string[] = [];
    let edit: Promise<unknown>;
    let approve: Promise<unknown>;
    try {
      edit = fetch(`${app.baseUrl}/api/v1/posts/${post.id}/drafts/site`, {
        method: 'PUT',
        headers: { ...user.api.headers, 'content-type': 'application/json' },
        body: JSON.stringify({ draft: { caption: 'Edited words' } }),
      }).then((res) => order.push(`edit ${res.status}`));
      await until('the edit to be saving', () => activityStarted(post, 'applyDraftEdits'));
      approve = postJson(user.api, `/api/v1/posts/${post.id}/review/approve`, {}).then((res) =>
        order.push(`approve ${res.status}`),
      );
      await sleep(1500);
    } finally {
      await release();
    }
    await Promise.all([edit!, approve!]);
    expect(order).toEqual(['edit 200', 'approve 200']);
    const done = await waitForPost(user.api, post.id, isFinished);
    expect(done.status).toBe('published');
    const caption = await readFile(join(app.dataDir, 'exports', post.id, 'site', 'caption.txt'), 'utf8');
    expect(caption).toContain('Edited words');
  });
});

describe('cancel', () => {
  it('takes effect before it answers', async () => {
    const created = await postJson(user.api, '/api/v1/posts', {
      caption: 'Maybe later',
      targets: [{ type: 'local_export' }],
      publishAt: new Date(Date.now() + 3600_000).toISOString(),
    });
    const post = await waitForPost(user.api, created.body.id, (p) => p.status === 'scheduled');
    const answer = await handleOf(post).executeUpdate(cancelUpdate, { args: [{ reason: 'Plans changed' }] });
    expect(answer).toEqual({ status: 'cancelled' });
    // Recorded before the answer came back.
    const [row] = await app.db.select().from(posts).where(eq(posts.id, post.id));
    expect(row).toMatchObject({ status: 'cancelled', error: 'Plans changed' });
    expect((await handleOf(post).result()).status).toBe('cancelled');
  });

  it('is refused with the reason once published in part, and the retry window keeps working', async () => {
    const created = await postJson(user.api, '/api/v1/posts', {
      caption: 'Half way',
      review: { mode: 'manual' },
      targets: [
        { type: 'local_export', key: 'archive' },
        { type: 'local_export', key: 'blocked' },
      ],
    });
    const post = await waitForPost(user.api, created.body.id, awaitingReview(0));
    // Something that is not ours stands where the second export would go.
    const blocked = join(app.dataDir, 'exports', post.id, 'blocked');
    await mkdir(dirname(blocked), { recursive: true });
    await writeFile(blocked, 'somebody else');
    await postJson(user.api, `/api/v1/posts/${post.id}/review/approve`, {});
    expect((await waitForPost(user.api, post.id, isFinished)).status).toBe('partially_published');
    // The row says so as the activity writes it, a moment before the workflow takes that answer and
    // opens its retry window; until then a cancel is refused as "publishing has started".
    await until(
      'the retry window',
      async () => (await handleOf(post).query(progressQuery)).status === 'partially_published',
    );

    const message = await refusal(handleOf(post).executeUpdate(cancelUpdate, { args: [{}] }));
    expect(message).toBe('Too late to cancel: the post is published in part; failed targets can still be retried');
    await rm(blocked);
    const retried = await postJson(user.api, `/api/v1/posts/${post.id}/targets/blocked/retry`, {});
    expect(retried.status, JSON.stringify(retried.body)).toBe(202);
    expect((await handleOf(post).result()).status).toBe('published');
  });

  it('still records a cancellation from outside (account deletion cancels the workflow)', async () => {
    const created = await postJson(user.api, '/api/v1/posts', {
      caption: 'Gone with the account',
      targets: [{ type: 'local_export' }],
      publishAt: new Date(Date.now() + 3600_000).toISOString(),
    });
    const post = await waitForPost(user.api, created.body.id, (p) => p.status === 'scheduled');
    await handleOf(post).cancel();
    expect((await handleOf(post).result()).status).toBe('cancelled');
    const [row] = await app.db.select().from(posts).where(eq(posts.id, post.id));
    expect(row).toMatchObject({ status: 'cancelled', error: 'Cancelled on request' });
  });
});

describe('the end of the run', () => {
  it('refuses a reschedule once the end is being recorded, instead of accepting and losing it', async () => {
    const mediaId = await uploadPhoto(user.api, 640, 480);
    const [file] = await app.db.select().from(media).where(eq(media.id, mediaId));
    await rm(app.services.store.pathOf(file!.storageKey));
    const created = await postJson(user.api, '/api/v1/posts', {
      caption: 'Lost file',
      mediaIds: [mediaId],
      review: { mode: 'manual' },
      targets: [{ type: 'local_export' }],
    });
    const post = await waitForPost(user.api, created.body.id, awaitingReview(0));
    // Rendering fails (the file is gone); recording that end stalls on its step row.
    const release = await lockRow('post_steps', "step = 'record' and post_id", post.id);
    try {
      await handleOf(post).executeUpdate(approveUpdate, { args: [{}] });
      await until('the end to be recorded', async () =>
        (await historyEvents(post)).some(
          (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'recordResults',
        ),
      );
      const message = await refusal(
        handleOf(post).executeUpdate(rescheduleUpdate, {
          args: [{ publishAt: new Date(Date.now() + 3600_000).toISOString() }],
        }),
      );
      expect(message).toBe('Too late to reschedule: the post has ended; its result is being recorded');
    } finally {
      await release();
    }
    expect((await handleOf(post).result()).status).toBe('failed');
  });
});

describe('the retry window', () => {
  it('publishes a retry accepted while another target republishes, even when the window closes meanwhile', async () => {
    const created = await postJson(user.api, '/api/v1/posts', {
      caption: 'Three places',
      review: { mode: 'manual' },
      targets: ['archive', 'first', 'second'].map((key) => ({ type: 'local_export', key })),
    });
    const post = await waitForPost(user.api, created.body.id, awaitingReview(0));
    // The same pipeline with a retry window of seconds instead of days (the API only offers days).
    const started = await handleOf(post).fetchHistory();
    const [payload] = started.events![0]!.workflowExecutionStartedEventAttributes!.input!.payloads!;
    const input = JSON.parse(Buffer.from(payload!.data!).toString());
    await handleOf(post).terminate('restarted with a short retry window');
    const handle = await app.temporal.workflow.start('postPipeline', {
      workflowId: `${post.workflow.id}-short-window`,
      taskQueue: app.taskQueue,
      args: [{ ...input, retryWindowDays: 4 / 86_400 }],
    });
    await until('the review', async () => (await handle.query(progressQuery)).status === 'awaiting_review');
    // Something that is not ours stands where two of the exports would go.
    const blocked = ['first', 'second'].map((key) => join(app.dataDir, 'exports', post.id, key));
    await mkdir(join(app.dataDir, 'exports', post.id), { recursive: true });
    for (const file of blocked) await writeFile(file, 'somebody else');
    await handle.executeUpdate(approveUpdate, { args: [{}] });
    await until('the partial result', async () => (await handle.query(progressQuery)).status === 'partially_published');
    const windowOpened = Date.now();
    for (const file of blocked) await rm(file);

    // The first retry stalls on its database row while the second is accepted; the window closes.
    const release = await lockRow('publications', 'target_key', 'first');
    try {
      await handle.executeUpdate(retryTargetUpdate, { args: [{ targetKey: 'first' }] });
      await until('the first retry to run', async () =>
        ((await handle.describe()).raw.pendingActivities ?? []).some((a) => a.activityType?.name === 'publishTarget'),
      );
      await handle.executeUpdate(retryTargetUpdate, { args: [{ targetKey: 'second' }] });
      await sleep(Math.max(0, windowOpened + 5000 - Date.now()));
    } finally {
      await release();
    }
    expect((await handle.result()).status).toBe('published');
    const after = (await call(user.api, `/api/v1/posts/${post.id}`)).body;
    expect(after.targets.map((t: Json) => `${t.key}:${t.status}`).sort()).toEqual([
      'archive:published',
      'first:published',
      'second:published',
    ]);
  });
});

describe('a database outage', () => {
  it('fails an approval in words within seconds instead of hanging', async () => {
    const created = await postJson(user.api, '/api/v1/posts', {
      caption: 'Approve me',
      review: { mode: 'manual' },
      targets: [{ type: 'local_export' }],
    });
    const post = await waitForPost(user.api, created.body.id, awaitingReview(0));
    const release = await lockRow('posts', 'id', post.id);
    const started = Date.now();
    let message: string;
    try {
      message = await refusal(handleOf(post).executeUpdate(approveUpdate, { args: [{}] }));
    } finally {
      await release();
    }
    expect(message).toMatch(/^Could not record the approval just now \(.+\); nothing changed, try again shortly$/);
    expect(Date.now() - started).toBeLessThan(30_000);
    // Through the API the same refusal is a 503 the client may retry, with the reason in words.
    const release2 = await lockRow('posts', 'id', post.id);
    let viaApi: Awaited<ReturnType<typeof postJson>>;
    try {
      viaApi = await postJson(user.api, `/api/v1/posts/${post.id}/review/approve`, {});
    } finally {
      await release2();
    }
    expectProblem(viaApi, 503);
    expect(Number(viaApi.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(viaApi.body.detail).toMatch(/^Could not record the approval just now/);
    // Nothing changed: the post still waits for review, and a second try goes through.
    const again = await postJson(user.api, `/api/v1/posts/${post.id}/review/approve`, {});
    expect(again.status, JSON.stringify(again.body)).toBe(200);
    expect((await waitForPost(user.api, post.id, isFinished)).status).toBe('published');
  }, 60_000);
});
