import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { type Services, startServices } from '../composition/services.js';
import { DEFAULT_RENDER_LEAD_MINUTES } from '../domain/pipeline.js';
import { loadConfig } from '../runtime/config.js';
import { createLogger } from '../runtime/logger.js';
import { requireBinary } from '../runtime/temporal-binary.js';
import { call, postJson, signUp } from './helpers/api.js';
import { createTestDatabase } from './helpers/database.js';
import { captureHistory } from './helpers/histories.js';

// publishAt days ahead, proven in seconds: the time-skipping test server (installed like the CLI,
// never downloaded) jumps over the durable timer while real activities run against PostgreSQL.
let env: TestWorkflowEnvironment;
let services: Services;
let dataDir: string;
let dropDatabase: () => Promise<void>;

beforeAll(async () => {
  env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: requireBinary('temporal-test-server') } },
  });
  const database = await createTestDatabase();
  dropDatabase = database.drop;
  dataDir = await mkdtemp(join(tmpdir(), 'autopostpanel-ts-'));
  services = await startServices({
    config: loadConfig({ DATA_DIR: dataDir, DATABASE_URL: database.url, TEMPORAL_TASK_QUEUE: 'time-skipping' }),
    logger: createLogger(process.env.TEST_LOG_LEVEL ?? 'silent'),
    temporalAddress: env.address,
    worker: true,
    api: true,
    port: 0,
    workflowBundlePath: inject('workflowBundlePath'),
  });
});

afterAll(async () => {
  await services?.stop();
  await env?.teardown();
  await dropDatabase?.();
  await rm(dataDir, { recursive: true, force: true });
});

it('holds a post scheduled three days ahead until then, then publishes it', async () => {
  const publishAt = new Date(Date.now() + 3 * 24 * 3600 * 1000);
  const user = await signUp(services.apiUrl!);
  const created = await postJson(user.api, '/api/v1/posts', {
    caption: 'See you on Friday',
    targets: [{ type: 'local_export' }],
    publishAt: publishAt.toISOString(),
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  expect(created.body.steps.find((s: { name: string }) => s.name === 'schedule')).toMatchObject({ status: 'pending' });

  const handle = env.client.workflow.getHandle(created.body.workflow.id);
  const result = await handle.result();
  expect(result.status).toBe('published');

  const post = (await call(user.api, `/api/v1/posts/${created.body.id}`)).body;
  expect(post.status).toBe('published');
  expect(post.steps.find((s: { name: string }) => s.name === 'schedule')).toMatchObject({ status: 'succeeded' });
  // By the workflow's clock (which the test server skipped ahead): nothing is rendered until the
  // lead time before publishing, and nothing is published before the time asked.
  const events = (await handle.fetchHistory()).events ?? [];
  const at = (e: (typeof events)[number]) => Number(e.eventTime!.seconds) * 1000;
  const fired = events.filter((e) => e.timerFiredEventAttributes);
  expect(fired).toHaveLength(2);
  const rendered = events.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'renderMedia');
  const lead = DEFAULT_RENDER_LEAD_MINUTES * 60_000;
  expect(at(rendered!)).toBeGreaterThanOrEqual(publishAt.getTime() - lead - 1000);
  expect(at(rendered!)).toBeLessThan(publishAt.getTime());
  expect(at(fired[1]!)).toBeGreaterThanOrEqual(publishAt.getTime() - 1000);
  await captureHistory(handle, 'post-pipeline-v3-render-lead-time');
});

it.each([
  ['approve', 'published'],
  ['cancel', 'cancelled'],
] as const)('acts on an expired review deadline two days ahead: onExpiry %s ends %s', async (onExpiry, expected) => {
  const user = await signUp(services.apiUrl!);
  // The test server's clock, which earlier tests have already skipped ahead.
  const deadline = new Date((await env.currentTimeMs()) + 2 * 24 * 3600 * 1000).toISOString();
  const created = await postJson(user.api, '/api/v1/posts', {
    caption: `Nobody reviews this (${onExpiry})`,
    targets: [{ type: 'local_export' }],
    review: { mode: 'manual', deadline, onExpiry },
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const result = await env.client.workflow.getHandle(created.body.workflow.id).result();
  expect(result.status).toBe(expected);

  const post = (await call(user.api, `/api/v1/posts/${created.body.id}`)).body;
  expect(post.status).toBe(expected);
  const review = post.steps.find((s: { name: string }) => s.name === 'review');
  if (expected === 'published') {
    expect(review).toMatchObject({ status: 'succeeded', error: 'Approved automatically: the review deadline passed' });
  } else {
    expect(post.error).toBe('The review deadline passed without a decision');
    expect(review.status).toBe('skipped');
  }
  const history = await env.client.workflow.getHandle(created.body.workflow.id).fetchHistory();
  const fired = history.events?.find((e) => e.timerFiredEventAttributes);
  expect(Number(fired!.eventTime!.seconds) * 1000).toBeGreaterThanOrEqual(Date.parse(deadline) - 1000);
});
