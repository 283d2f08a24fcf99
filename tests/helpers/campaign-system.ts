import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { eq } from 'drizzle-orm';
import { inject } from 'vitest';
import { type Services, startServices } from '../../composition/services.js';
import type { Database } from '../../db/client.js';
import { campaignSlots, posts } from '../../db/schema.js';
import { loadConfig } from '../../runtime/config.js';
import { createLogger } from '../../runtime/logger.js';
import { requireBinary } from '../../runtime/temporal-binary.js';
import { createTestDatabase } from './database.js';

export const HOUR = 3_600_000;

/**
 * The real worker and API against PostgreSQL, on a time-skipping test server of the file's own:
 * the server stops skipping once a child pipeline outlives its campaign's run, so files must not
 * share one.
 */
export async function startCampaignSystem(name: string) {
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: requireBinary('temporal-test-server') } },
  });
  const database = await createTestDatabase();
  const dataDir = await mkdtemp(join(tmpdir(), `autopostpanel-${name}-`));
  let services: Services | undefined;
  try {
    services = await startServices({
      config: loadConfig({ DATA_DIR: dataDir, DATABASE_URL: database.url, TEMPORAL_TASK_QUEUE: `${name}-ts` }),
      logger: createLogger(process.env.TEST_LOG_LEVEL ?? 'silent'),
      temporalAddress: env.address,
      worker: true,
      api: true,
      port: 0,
      workflowBundlePath: inject('workflowBundlePath'),
    });
  } catch (err) {
    await env.teardown();
    await database.drop();
    throw err;
  }
  const running = services;
  const db = running.database.db;

  const slotsOf = (campaignId: string) => campaignSlotsOf(db, campaignId);
  const finish = (handle: CampaignHandle) => finishCampaign(env, handle);

  return {
    env,
    services: running,
    db,
    slotsOf,
    finish,
    async stop() {
      await running.stop();
      await env.teardown();
      await database.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

type CampaignHandle = ReturnType<TestWorkflowEnvironment['client']['workflow']['getHandle']>;

/** Every reached slot of a campaign with its post's time and status, oldest first. */
export function campaignSlotsOf(db: Database, campaignId: string) {
  return db
    .select({
      slot: campaignSlots.slotLocal,
      outcome: campaignSlots.outcome,
      postId: campaignSlots.postId,
      publishAt: posts.publishAt,
      status: posts.status,
    })
    .from(campaignSlots)
    .leftJoin(posts, eq(posts.id, campaignSlots.postId))
    .where(eq(campaignSlots.campaignId, campaignId))
    .orderBy(campaignSlots.slotLocal);
}

/**
 * Skips the server's clock until a campaign closes. Waiting on result() alone stops skipping once
 * a run has continued as new, so time is moved on explicitly, half a day at a time.
 */
export async function finishCampaign(env: TestWorkflowEnvironment, handle: CampaignHandle, maxSteps = 200) {
  for (let i = 0; i < maxSteps; i++) {
    const { status } = await handle.describe();
    if (status.name !== 'RUNNING') return handle.result();
    // To just after the next slot (its post publishes then), or half a day when none is planned.
    const progress = await handle.query<{ nextSlots: { at: string }[] }>('campaignProgress').catch(() => undefined);
    const next = progress?.nextSlots[0] ? Date.parse(progress.nextSlots[0].at) : undefined;
    const now = await env.currentTimeMs();
    // Ended meanwhile, the wait is cut short: once the campaign has closed while its last post's
    // pipeline runs on, the test server stops skipping time and the sleep would last in real time.
    const sleeping = env.sleep(next ? Math.max(60_000, next - now + 60_000) : 12 * HOUR).catch(() => undefined);
    let slept = false;
    void sleeping.then(() => {
      slept = true;
    });
    while (!slept && (await handle.describe()).status.name === 'RUNNING') {
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw new Error('the campaign did not finish');
}

export function campaignBody(overrides: Record<string, unknown>) {
  return {
    name: 'Launch series',
    brief: { topic: 'Our product launch', tone: 'upbeat' },
    targets: [{ type: 'local_export' }],
    review: { mode: 'auto' },
    ...overrides,
  };
}
