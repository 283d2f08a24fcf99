import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode, NativeConnection, Worker } from '@temporalio/worker';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { createActivities } from '../activities/index.js';
import { createOfflineGenerator } from '../ai/offline-generator.js';
import { posts } from '../db/schema.js';
import { createPublishers } from '../platforms/registry.js';
import { createLogger } from '../runtime/logger.js';
import { cancelUpdate } from '../workflows/messages.js';
import { postJson, signUp, type TestUser, waitForPost } from './helpers/api.js';
import { startTestApp, type TestApp } from './helpers/harness.js';

// A v1 pipeline (from before review existed) still waiting for its time when the API cancels it:
// the cancellation is written down, behind patched('v1-records-cancellation').

let app: TestApp;
let user: TestUser;
let worker: Worker;
let connection: NativeConnection;
let running: Promise<void>;
const taskQueue = `legacy-${Date.now()}`;

beforeAll(async () => {
  app = await startTestApp();
  user = await signUp(app.baseUrl);
  const { code } = await bundleWorkflowCode({
    workflowsPath: fileURLToPath(new URL('./fixtures/workflows/legacy-pipeline.ts', import.meta.url)),
    logger: { log() {}, trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error },
  });
  connection = await NativeConnection.connect({ address: inject('temporalAddress') });
  worker = await Worker.create({
    connection,
    taskQueue,
    workflowBundle: { code },
    activities: createActivities({
      db: app.db,
      store: app.services.store,
      logger: createLogger('silent'),
      publishers: createPublishers({ dataDir: app.dataDir }),
      drafts: createOfflineGenerator(),
    }),
  });
  running = worker.run();
}, 120_000);
afterAll(async () => {
  worker?.shutdown();
  await running;
  await connection?.close();
  await app?.stop();
});

/** A scheduled post whose pipeline is a v1 run (its current pipeline is stopped). */
async function legacyRun(caption: string) {
  const publishAt = new Date(Date.now() + 3600_000).toISOString();
  const created = await postJson(user.api, '/api/v1/posts', {
    caption,
    targets: [{ type: 'local_export' }],
    publishAt,
  });
  const post = await waitForPost(user.api, created.body.id, (p) => p.status === 'scheduled');
  await app.temporal.workflow.getHandle(post.workflow.id).terminate('replaced by a v1 run for this test');
  const handle = await app.temporal.workflow.start('legacyPipeline', {
    workflowId: `legacy-${post.id}`,
    taskQueue,
    args: [{ postId: post.id, targets: [{ key: 'local_export', type: 'local_export' }], publishAt }],
  });
  for (let i = 0; i < 100; i++) {
    if ((await handle.fetchHistory()).events?.some((e) => e.timerStartedEventAttributes)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return { post, handle };
}

const statusOf = async (id: string) => (await app.db.select().from(posts).where(eq(posts.id, id)))[0]!;

it('records a cancellation sent as the cancel Update, before answering', async () => {
  const { post, handle } = await legacyRun('Old and cancelled');
  expect(await handle.executeUpdate(cancelUpdate, { args: [{ reason: 'Not any more' }] })).toEqual({
    status: 'cancelled',
  });
  expect(await statusOf(post.id)).toMatchObject({ status: 'cancelled', error: 'Not any more' });
  expect((await handle.result()).status).toBe('cancelled');
});

it('records a cancellation from outside too', async () => {
  const { post, handle } = await legacyRun('Old and gone');
  await handle.cancel();
  expect((await handle.result()).status).toBe('cancelled');
  expect(await statusOf(post.id)).toMatchObject({ status: 'cancelled', error: 'Cancelled on request' });
});
