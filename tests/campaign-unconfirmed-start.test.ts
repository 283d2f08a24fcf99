import { Client, Connection } from '@temporalio/client';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { campaignDepsOf } from '../api/routes/campaigns.js';
import { runPipelineSweep } from '../composition/pipeline-sweep.js';
import { campaigns } from '../db/schema.js';
import { createLogger } from '../runtime/logger.js';
import { startUnconfirmedCampaigns } from '../use-cases/campaigns/start-unconfirmed.js';
import type { CampaignProgress } from '../workflows/campaign-messages.js';
import { call, expectProblem, type Json, postJson, signUp, type TestUser } from './helpers/api.js';
import { campaignBody } from './helpers/campaign-system.js';
import { startApiAgainst, startTestApp, type TestApp } from './helpers/harness.js';
import { startTarpit } from './helpers/unresponsive.js';
import { until } from './helpers/until.js';

// A campaign saved while Temporal did not answer its create in time (503) keeps its row, its start
// unconfirmed. Nothing is left waiting for a repeat its client may never send: the API's sweep
// starts it once Temporal answers (once, however often it sweeps), a repeat with the same key
// starts it, and so does the first change a person makes to it. A second API on the same database
// talks to a Temporal that never answers (a port that accepts and stays silent); the real one and
// the worker go on.

const DEADLINE_MS = 1000;

let app: TestApp;
let user: TestUser;
let tarpit: Awaited<ReturnType<typeof startTarpit>>;
let silent: Awaited<ReturnType<typeof startApiAgainst>>;
let silentConnection: Connection;
/** The same user, through the API whose Temporal never answers. */
let viaSilent: { url: string; headers: Record<string, string> };
const started: string[] = [];

beforeAll(async () => {
  app = await startTestApp();
  user = await signUp(app.baseUrl);
  tarpit = await startTarpit();
  silent = await startApiAgainst(app, { temporalAddress: tarpit.address, temporalCallTimeoutMs: DEADLINE_MS });
  silentConnection = Connection.lazy({ address: tarpit.address });
  viaSilent = { url: silent.baseUrl, headers: user.api.headers };
});
afterAll(async () => {
  // The campaigns wait for tomorrow's slots on the shared dev server: end them.
  for (const id of started) {
    await app.temporal.workflow
      .getHandle(`campaign-${id}`)
      .terminate('test over')
      .catch(() => {});
  }
  await silent?.stop();
  await silentConnection?.close().catch(() => {});
  await tarpit?.close();
  await app?.stop();
});

const tomorrow = () => new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
const body = (name: string) =>
  campaignBody({
    name,
    cadence: { kind: 'rrule', rule: 'FREQ=DAILY;BYHOUR=9' },
    timeZone: 'UTC',
    startDate: tomorrow(),
    end: { count: 3 },
  });

/** What starting a campaign takes, as the API has it. */
const startDeps = () => campaignDepsOf(app.services.apiDeps!);

/** Creates a campaign through the API whose Temporal never answers: 503, the row saved unstarted. */
async function createDuringOutage(name: string, headers: Record<string, string> = {}): Promise<string> {
  const created = await postJson(viaSilent, '/api/v1/campaigns', body(name), headers);
  expectProblem(created, 503);
  expect(created.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
  expect(created.body.detail).toMatch(/starts by itself/);
  const id = String(created.body.detail).match(/Campaign ([0-9a-f-]{36})/)?.[1];
  expect(id, JSON.stringify(created.body)).toBeDefined();
  started.push(id!);
  const [row] = await app.db.select().from(campaigns).where(eq(campaigns.id, id!));
  expect(row).toMatchObject({ status: 'active', workflowStartedAt: null });
  await expect(app.temporal.workflow.getHandle(row!.workflowId).describe()).rejects.toThrow(/not found/i);
  return id!;
}

async function rowOf(id: string) {
  const [row] = await app.db.select().from(campaigns).where(eq(campaigns.id, id));
  return row!;
}

/** How many runs Temporal has of this workflow id (continue-as-new aside, one means it was never started twice). */
async function executions(workflowId: string): Promise<number> {
  let count = 0;
  for await (const _ of app.temporal.workflow.list({ query: `WorkflowId = '${workflowId}'` })) count++;
  return count;
}

describe('a campaign whose start Temporal did not confirm', () => {
  it('is started by the sweep once Temporal answers, and only once', { timeout: 90_000 }, async () => {
    const id = await createDuringOutage('Saved during an outage, never repeated');
    // Its view says it waits to start (reading needs no Temporal).
    const waiting = await call(user.api, `/api/v1/campaigns/${id}`);
    expect(waiting.body).toMatchObject({ id, status: 'active', workflowStartedAt: null });

    // Swept while Temporal still does not answer: nothing starts, and the sweep says so.
    const silentDeps = {
      ...startDeps(),
      temporal: new Client({ connection: silentConnection, namespace: app.temporal.options.namespace }),
      callTimeoutMs: DEADLINE_MS,
    };
    const duringOutage = await startUnconfirmedCampaigns(silentDeps, { olderThanMs: 0 });
    expect(duringOutage).toEqual({ started: [], unanswered: true });
    // A campaign younger than the sweep's age may still be in its create request: left alone.
    const tooYoung = await startUnconfirmedCampaigns(startDeps(), { olderThanMs: 60_000 });
    expect(tooYoung).toEqual({ started: [], unanswered: false });
    expect((await rowOf(id)).workflowStartedAt).toBeNull();

    // The API's sweep (composition/pipeline-sweep.ts), often here; in production once a minute.
    const apiDeps = app.services.apiDeps!;
    const stopSweep = runPipelineSweep(
      {
        db: apiDeps.db,
        temporal: apiDeps.temporal,
        callTimeoutMs: apiDeps.temporalCallTimeoutMs,
        taskQueue: apiDeps.taskQueue,
        searchAttributes: apiDeps.searchAttributes,
        retryWindowDays: apiDeps.retryWindowDays,
        uploadTaskQueue: apiDeps.uploadTaskQueue,
        reviewMaxRounds: apiDeps.reviewMaxRounds,
      },
      createLogger('silent'),
      { intervalMs: 200, olderThanMs: 500 },
    );
    try {
      await until('the sweep confirmed the start', async () => (await rowOf(id)).workflowStartedAt !== null, 30_000);
    } finally {
      await stopSweep();
    }
    const row = await rowOf(id);
    expect(row.workflowStartedAt).toBeInstanceOf(Date);
    const handle = app.temporal.workflow.getHandle(row.workflowId);
    expect((await handle.describe()).status.name).toBe('RUNNING');
    const progress = await handle.query<CampaignProgress>('campaignProgress');
    expect(progress).toMatchObject({ status: 'active', runs: 1 });
    expect(progress.nextSlots[0]?.local).toBe(`${tomorrow()}T09:00`);

    // A second sweep starts nothing new: the start is confirmed, and there is one run.
    expect(await startUnconfirmedCampaigns(startDeps(), { olderThanMs: 0 })).toEqual({
      started: [],
      unanswered: false,
    });
    expect(await executions(row.workflowId)).toBe(1);
    const view = await call(user.api, `/api/v1/campaigns/${id}`);
    expect(view.body).toMatchObject({ status: 'active', workflowStartedAt: row.workflowStartedAt!.toISOString() });
  });

  it('saved as paused, starts paused with its reason, and resumes', async () => {
    const id = await createDuringOutage('Paused before its start was confirmed');
    // As a row whose workflow ran and paused before its start was confirmed says.
    await app.db
      .update(campaigns)
      .set({ status: 'paused', statusReason: 'Paused on request' })
      .where(eq(campaigns.id, id));
    const swept = await startUnconfirmedCampaigns(startDeps(), { olderThanMs: 0 });
    expect(swept).toEqual({ started: [id], unanswered: false });
    expect((await rowOf(id)).workflowStartedAt).toBeInstanceOf(Date);
    const handle = app.temporal.workflow.getHandle(`campaign-${id}`);
    expect(await handle.query<CampaignProgress>('campaignProgress')).toMatchObject({
      status: 'paused',
      statusReason: 'Paused on request',
    });
    const resumed = await postJson(user.api, `/api/v1/campaigns/${id}/resume`, {});
    expect(resumed.status, JSON.stringify(resumed.body)).toBe(200);
    expect(resumed.body).toMatchObject({ status: 'active', statusReason: null });
  });

  it('is started by a repeat of the create with the same Idempotency-Key', async () => {
    const key = { 'Idempotency-Key': 'campaign-during-outage' };
    const id = await createDuringOutage('Saved during an outage, then repeated', key);

    const repeat = await postJson(user.api, '/api/v1/campaigns', body('Saved during an outage, then repeated'), key);
    expect(repeat.status, JSON.stringify(repeat.body)).toBe(200);
    expect(repeat.body).toMatchObject({ id, status: 'active' });
    const row = await rowOf(id);
    expect(row.workflowStartedAt).toBeInstanceOf(Date);
    expect(repeat.body.workflowStartedAt).toBe(row.workflowStartedAt!.toISOString());
    expect(repeat.body.nextSlots.map((s: Json) => s.slot)).toEqual([
      `${tomorrow()}T09:00`,
      expect.any(String),
      expect.any(String),
    ]);
    const handle = app.temporal.workflow.getHandle(row.workflowId);
    expect((await handle.describe()).status.name).toBe('RUNNING');
    expect(await handle.query<CampaignProgress>('campaignProgress')).toMatchObject({ status: 'active', runs: 1 });

    // Confirmed now, a repeat asks Temporal for no start: it answers even while Temporal does not.
    const again = await postJson(viaSilent, '/api/v1/campaigns', body('Saved during an outage, then repeated'), key);
    expect(again.status, JSON.stringify(again.body)).toBe(200);
    expect(again.body.id).toBe(id);
    expect(await executions(row.workflowId)).toBe(1);
    // The sweep has nothing left to do.
    expect(await startUnconfirmedCampaigns(startDeps(), { olderThanMs: 0 })).toEqual({
      started: [],
      unanswered: false,
    });
  });

  it('is started by a change to it instead of being refused as ended', async () => {
    const id = await createDuringOutage('Paused before it started');
    // While Temporal still does not answer, the change is refused as not made (503), not as ended.
    const refused = await postJson(viaSilent, `/api/v1/campaigns/${id}/pause`, { reason: 'Not yet' });
    expectProblem(refused, 503);
    expect((await rowOf(id)).workflowStartedAt).toBeNull();

    const paused = await postJson(user.api, `/api/v1/campaigns/${id}/pause`, { reason: 'Holding it' });
    expect(paused.status, JSON.stringify(paused.body)).toBe(200);
    expect(paused.body).toMatchObject({ status: 'paused', statusReason: 'Holding it' });
    const row = await rowOf(id);
    expect(row).toMatchObject({ status: 'paused', statusReason: 'Holding it' });
    expect(row.workflowStartedAt).toBeInstanceOf(Date);
    const handle = app.temporal.workflow.getHandle(row.workflowId);
    expect(await handle.query<CampaignProgress>('campaignProgress')).toMatchObject({ status: 'paused' });
    expect(await executions(row.workflowId)).toBe(1);
  });
});
