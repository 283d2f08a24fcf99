import { eq } from 'drizzle-orm';
import postgres from 'postgres';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { campaigns } from '../db/schema.js';
import type { CampaignProgress } from '../workflows/campaign-messages.js';
import { expectProblem, postJson, signUp, type TestUser } from './helpers/api.js';
import { campaignBody } from './helpers/campaign-system.js';
import { startTestApp, type TestApp } from './helpers/harness.js';
import { until } from './helpers/until.js';

// A campaign's Update whose change cannot be saved (its table locked against writes past the
// save's deadline, the database otherwise answering) is refused, and has changed nothing: the
// campaign runs on, its row and its workflow agree, and the same request succeeds afterwards.

let app: TestApp;
let user: TestUser;
let locker: postgres.Sql;

beforeAll(async () => {
  app = await startTestApp({ database: 'postgres' });
  user = await signUp(app.baseUrl);
  locker = postgres(app.database!.url, { max: 1, onnotice: () => {} });
});
afterAll(async () => {
  await locker?.end();
  await app?.stop();
});

const tomorrow = () => new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);

it('a cancel whose save fails is refused and cancels nothing; repeated later it cancels', {
  timeout: 90_000,
}, async () => {
  const created = await postJson(
    user.api,
    '/api/v1/campaigns',
    campaignBody({
      cadence: { kind: 'rrule', rule: 'FREQ=DAILY;BYHOUR=9' },
      timeZone: 'UTC',
      startDate: tomorrow(),
      end: { count: 5 },
    }),
  );
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const id = created.body.id as string;
  const handle = app.temporal.workflow.getHandle(`campaign-${id}`);

  // Reads go on; the campaign's own write waits on the lock until its deadline (15 s) passes.
  let release!: () => void;
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  let locked!: () => void;
  const isLocked = new Promise<void>((resolve) => {
    locked = resolve;
  });
  const holding = locker.begin(async (tx) => {
    await tx`lock table campaigns in exclusive mode`;
    locked();
    await released;
  });
  await isLocked;
  const refused = await postJson(user.api, `/api/v1/campaigns/${id}/cancel`, { reason: 'During the lock' });
  expectProblem(refused, 503);
  // The API gave up on the answer before the workflow did; wait for the workflow's own verdict.
  await new Promise((resolve) => setTimeout(resolve, 7_000));
  release();
  await holding;

  const progress = await handle.query<CampaignProgress>('campaignProgress');
  expect(progress.status).toBe('active');
  expect((await handle.describe()).status.name).toBe('RUNNING');
  const [row] = await app.db.select().from(campaigns).where(eq(campaigns.id, id));
  expect(row!.status).toBe('active');

  const cancelled = await postJson(user.api, `/api/v1/campaigns/${id}/cancel`, { reason: 'After the lock' });
  expect(cancelled.status, JSON.stringify(cancelled.body)).toBe(200);
  await until('the row says cancelled', async () => {
    const [after] = await app.db.select().from(campaigns).where(eq(campaigns.id, id));
    return after!.status === 'cancelled';
  });
  expect((await handle.result()) as CampaignProgress).toMatchObject({ status: 'cancelled' });
});
