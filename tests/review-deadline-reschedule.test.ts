import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { workflowMetadataQuery } from '@temporalio/workflow';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { type Services, startServices } from '../composition/services.js';
import { formatInstant } from '../domain/pipeline-summary.js';
import { loadConfig } from '../runtime/config.js';
import { createLogger } from '../runtime/logger.js';
import { requireBinary } from '../runtime/temporal-binary.js';
import { progressQuery } from '../workflows/messages.js';
import { call, expectProblem, type Json, postJson, signUp, type TestUser, waitForPost } from './helpers/api.js';
import { createTestDatabase } from './helpers/database.js';
import { until } from './helpers/until.js';

// A reviewer moves Tuesday's post to Friday: its review deadline moves by the same shift, so the
// review keeps its lead before publishing. Days of waiting, proven in seconds on the time-skipping
// test server, with the real worker, API and PostgreSQL.
let env: TestWorkflowEnvironment;
let services: Services;
let dataDir: string;
let dropDatabase: () => Promise<void>;
let user: TestUser;

beforeAll(async () => {
  env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: requireBinary('temporal-test-server') } },
  });
  const database = await createTestDatabase();
  dropDatabase = database.drop;
  dataDir = await mkdtemp(join(tmpdir(), 'autopostpanel-deadline-'));
  services = await startServices({
    config: loadConfig({ DATA_DIR: dataDir, DATABASE_URL: database.url, TEMPORAL_TASK_QUEUE: 'deadline-reschedule' }),
    logger: createLogger(process.env.TEST_LOG_LEVEL ?? 'silent'),
    temporalAddress: env.address,
    worker: true,
    api: true,
    port: 0,
    workflowBundlePath: inject('workflowBundlePath'),
  });
  user = await signUp(services.apiUrl!);
});

afterAll(async () => {
  await services?.stop();
  await env?.teardown();
  await dropDatabase?.();
  await rm(dataDir, { recursive: true, force: true });
});

const HOUR = 3600_000;
const DAY = 24 * HOUR;
const PATCH = 'review-deadline-follows';
const iso = (ms: number) => new Date(ms).toISOString();
const handleOf = (post: Json) => env.client.workflow.getHandle(post.workflow.id);
const awaitingReview = (p: Json) => p.status === 'awaiting_review';

/** A hand-written post under manual review: review due in 2 days, publishing in 3 (server clock). */
async function reviewedPost(onExpiry: 'cancel' | 'approve' = 'cancel') {
  const now = await env.currentTimeMs();
  const deadline = now + 2 * DAY;
  const publishAt = now + 3 * DAY;
  const created = await postJson(user.api, '/api/v1/posts', {
    caption: `Tuesday's post (${onExpiry} at the deadline)`,
    targets: [{ type: 'local_export' }],
    review: { mode: 'manual', deadline: iso(deadline), onExpiry },
    publishAt: iso(publishAt),
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const post = await waitForPost(user.api, created.body.id, awaitingReview);
  expect(post.review.deadline).toBe(iso(deadline));
  return { post, now, deadline, publishAt };
}

const reschedule = (post: Json, publishAt: number) =>
  postJson(user.api, `/api/v1/posts/${post.id}/reschedule`, { publishAt: iso(publishAt) });

async function historyOf(post: Json) {
  return (await handleOf(post).fetchHistory()).events ?? [];
}

/** The patch ids the run recorded markers for. */
async function patchesOf(post: Json): Promise<string[]> {
  return (await historyOf(post))
    .filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_patch')
    .flatMap((e) => Object.values(e.markerRecordedEventAttributes!.details ?? {}))
    .flatMap((p) => p.payloads ?? [])
    .map((p) => JSON.parse(Buffer.from(p.data!).toString()).id as string);
}

/** The run's history replays against the current workflow code (the moved deadline's timers included). */
async function expectReplays(post: Json) {
  const history = await handleOf(post).fetchHistory();
  await Worker.runReplayHistory({ workflowBundle: { codePath: inject('workflowBundlePath') } }, history, post.id);
}

const detailsOf = async (post: Json) => (await handleOf(post).query(workflowMetadataQuery)).currentDetails ?? '';

it('moves the review deadline with a later publish time: still open at the old deadline, decided after it', {
  timeout: 120_000,
}, async () => {
  const { post, deadline, publishAt } = await reviewedPost('cancel');
  const shift = 3 * DAY;
  const moved = await reschedule(post, publishAt + shift);
  expect(moved.status, JSON.stringify(moved.body)).toBe(200);
  // The view answered with the new time and the deadline moved by the same shift.
  expect(moved.body).toMatchObject({
    status: 'awaiting_review',
    publishAt: iso(publishAt + shift),
    review: { mode: 'manual', deadline: iso(deadline + shift), onExpiry: 'cancel' },
  });
  expect((await call(user.api, `/api/v1/posts/${post.id}`)).body.review.deadline).toBe(iso(deadline + shift));
  // What the operator reads in Temporal says the new deadline.
  await until(
    'the details to show the new deadline',
    async () =>
      (await detailsOf(post)) === `awaiting review (round 0), deadline ${formatInstant(iso(deadline + shift))}`,
  );

  // Past the old deadline: the review is still open.
  await env.sleep(deadline + HOUR - (await env.currentTimeMs()));
  expect((await historyOf(post)).some((e) => e.timerFiredEventAttributes)).toBe(false);
  expect((await handleOf(post).query(progressQuery)).status).toBe('awaiting_review');
  expect((await call(user.api, `/api/v1/posts/${post.id}`)).body.status).toBe('awaiting_review');

  const approved = await postJson(user.api, `/api/v1/posts/${post.id}/review/approve`, {});
  expect(approved.status, JSON.stringify(approved.body)).toBe(200);
  const result = await handleOf(post).result();
  expect(result.status).toBe('published');
  // Published at the new time, by the workflow's clock.
  const events = await historyOf(post);
  const fired = events.filter((e) => e.timerFiredEventAttributes);
  expect(Number(fired.at(-1)!.eventTime!.seconds) * 1000).toBeGreaterThanOrEqual(publishAt + shift - 1000);
  expect(await patchesOf(post)).toContain(PATCH);
  await expectReplays(post);
});

it('with onExpiry cancel, cancels the unreviewed post at the moved deadline, not the old one', {
  timeout: 120_000,
}, async () => {
  const { post, deadline, publishAt } = await reviewedPost('cancel');
  const shift = 3 * DAY;
  expect((await reschedule(post, publishAt + shift)).status).toBe(200);
  const result = await handleOf(post).result();
  expect(result.status).toBe('cancelled');
  const done = (await call(user.api, `/api/v1/posts/${post.id}`)).body;
  expect(done).toMatchObject({ status: 'cancelled', error: 'The review deadline passed without a decision' });
  expect(done.review.deadline).toBe(iso(deadline + shift));
  // The one review timer that fired is the moved deadline's.
  const fired = (await historyOf(post)).filter((e) => e.timerFiredEventAttributes);
  expect(fired).toHaveLength(1);
  expect(Number(fired[0]!.eventTime!.seconds) * 1000).toBeGreaterThanOrEqual(deadline + shift - 1000);
  await expectReplays(post);
});

it('refuses a move earlier that would put the review deadline in the past, and changes nothing', {
  timeout: 120_000,
}, async () => {
  const { post, now, deadline, publishAt } = await reviewedPost('cancel');
  // Three days out to one: the deadline would move two days back, before now.
  const refused = await reschedule(post, now + DAY);
  expectProblem(refused, 409);
  expect(refused.body.detail).toMatch(
    /^Too late to reschedule: the review deadline moves with the publish time and would be .+, which has passed; choose a later time, or decide the review first$/,
  );
  const after = (await call(user.api, `/api/v1/posts/${post.id}`)).body;
  expect(after).toMatchObject({
    status: 'awaiting_review',
    publishAt: iso(publishAt),
    review: { deadline: iso(deadline) },
  });
  expect((await handleOf(post).query(progressQuery)).publishAt).toBe(iso(publishAt));
  expect(await detailsOf(post)).toBe(`awaiting review (round 0), deadline ${formatInstant(iso(deadline))}`);
  expect(await patchesOf(post)).not.toContain(PATCH);

  // A move earlier that leaves the deadline ahead is taken, and the deadline comes along.
  const earlier = await reschedule(post, publishAt - DAY);
  expect(earlier.status, JSON.stringify(earlier.body)).toBe(200);
  expect(earlier.body.review.deadline).toBe(iso(deadline - DAY));
  expect((await postJson(user.api, `/api/v1/posts/${post.id}/cancel`, {})).status).toBe(200);
  expect((await handleOf(post).result()).status).toBe('cancelled');
});

it('leaves the deadline alone once the review is decided: an approved post moves freely', {
  timeout: 120_000,
}, async () => {
  const { post, now, deadline } = await reviewedPost('cancel');
  const approved = await postJson(user.api, `/api/v1/posts/${post.id}/review/approve`, {});
  expect(approved.status, JSON.stringify(approved.body)).toBe(200);
  await waitForPost(user.api, post.id, (p) => p.status === 'scheduled');
  // Earlier than the shift the deadline would allow, were it still open.
  const moved = await reschedule(post, now + DAY);
  expect(moved.status, JSON.stringify(moved.body)).toBe(200);
  expect(moved.body).toMatchObject({ publishAt: iso(now + DAY), review: { deadline: iso(deadline) } });
  expect((await handleOf(post).result()).status).toBe('published');
  expect(await patchesOf(post)).not.toContain(PATCH);
});
