import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { eq } from 'drizzle-orm';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Services } from '../composition/services.js';
import { media } from '../db/schema.js';
import { ensureWebBuilt } from '../scripts/build-web.mjs';
import { call, type Json, postJson, signUp, type TestUser, uploadPhoto } from './helpers/api.js';
import { axeViolations, DESKTOP, launchBrowser } from './helpers/browser.js';
import { campaignBody, HOUR, startCampaignSystem } from './helpers/campaign-system.js';
import { until } from './helpers/until.js';

// A slot whose post cannot be made fails, and says why where a person looks: the campaign's API
// view and its row in the panel, not only the workflow's history. The brief's source photo goes
// away between two slots (its row deleted directly, as data that went away would be).

const DAY = 24 * HOUR;

let system: Awaited<ReturnType<typeof startCampaignSystem>>;
let services: Services;
let env: TestWorkflowEnvironment;
let user: TestUser;
let browser: Browser;
/** Campaign workflows this file started: ended in afterAll whatever a test left behind. */
const started: string[] = [];

beforeAll(async () => {
  await ensureWebBuilt();
  system = await startCampaignSystem('campaign-slot-reasons');
  ({ services, env } = system);
  user = await signUp(services.apiUrl!, 'Sam Slots');
  browser = await launchBrowser();
}, 120_000);

afterAll(async () => {
  for (const id of started) {
    await env?.client.workflow
      .getHandle(`campaign-${id}`)
      .terminate('test over')
      .catch(() => {});
  }
  await browser?.close();
  await system?.stop();
});

const utcDate = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** The campaign's slot rows once `count` slots are reached. */
const reached = (campaignId: string, count: number) =>
  until(`${count} slot(s) reached`, async () => {
    const rows = await system.slotsOf(campaignId);
    return rows.length >= count && rows;
  });

it("records why a slot made no post (its brief's photo is gone) and shows it in the API view and the panel", {
  timeout: 180_000,
}, async () => {
  // To the next 12:00 UTC on the server's clock, so the slots lie where the test puts them.
  const toNoon = (12 * HOUR - ((await env.currentTimeMs()) % DAY) + DAY) % DAY;
  if (toNoon > 0) await env.sleep(toNoon);
  const noon = await env.currentTimeMs();
  const first = utcDate(noon + DAY);
  const second = utcDate(noon + 2 * DAY);
  const photo = await uploadPhoto(user.api);
  const created = await postJson(
    user.api,
    '/api/v1/campaigns',
    campaignBody({
      name: 'Photo series',
      brief: { topic: 'Our product launch', tone: 'upbeat', sourceMediaIds: [photo] },
      cadence: { kind: 'rrule', rule: 'FREQ=DAILY;BYHOUR=10' },
      timeZone: 'UTC',
      startDate: first,
      end: { count: 3 },
      leadMinutes: 0,
    }),
  );
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const campaign = created.body as Json;
  started.push(campaign.id);

  // The first slot, with the photo there: a post, and no reason.
  await env.sleep(DAY + 5 * 60_000);
  expect((await reached(campaign.id, 1)).map((r) => [r.slot, r.outcome])).toEqual([[`${first}T10:00`, 'created']]);

  // The photo goes away; the next slot's post cannot be made.
  await system.db.delete(media).where(eq(media.id, photo));
  await env.sleep(DAY);
  const rows = await reached(campaign.id, 2);
  expect(rows.map((r) => [r.slot, r.outcome])).toEqual([
    [`${first}T10:00`, 'created'],
    [`${second}T10:00`, 'failed'],
  ]);

  const view = await call(user.api, `/api/v1/campaigns/${campaign.id}`);
  expect(view.status, JSON.stringify(view.body)).toBe(200);
  expect(view.body.status).toBe('active');
  expect(view.body.summary.failed).toBe(1);
  const failed = view.body.slots.find((s: Json) => s.slot === `${second}T10:00`);
  expect(failed).toMatchObject({ outcome: 'failed', postId: null });
  // The refusal in words: the field and the photo it names, not Temporal's "activity task failed".
  expect(failed.reason).toEqual(expect.stringContaining('brief.sourceMediaIds[0]'));
  expect(failed.reason).toEqual(expect.stringContaining(photo));
  expect(failed.reason).not.toMatch(/activity task failed|\n\s+at /i);
  expect(view.body.slots.find((s: Json) => s.slot === `${first}T10:00`)).toMatchObject({
    outcome: 'created',
    reason: null,
  });

  // The OpenAPI document says a slot carries its reason.
  const doc = await call(services.apiUrl!, '/api/v1/openapi.json');
  const slotSchema =
    doc.body.paths['/api/v1/campaigns/{id}'].get.responses['200'].content['application/json'].schema.properties.slots
      .items;
  expect(slotSchema.properties.reason).toBeDefined();
  expect(slotSchema.properties.reason.description).toMatch(/failed slot/);

  // The panel: the campaign's row names the failed slot and why.
  const context = await browser.newContext({ viewport: DESKTOP });
  try {
    await context.addCookies(
      user.browser.headers.cookie!.split('; ').map((c) => {
        const [name, ...rest] = c.split('=');
        return { name: name!, value: rest.join('='), url: services.apiUrl! };
      }),
    );
    const page = await context.newPage();
    await page.goto(`${services.apiUrl}/campaigns`);
    const line = page.getByText(`No post for ${second} at 10:00: ${failed.reason}`);
    await expect.poll(() => line.isVisible()).toBe(true);
    for (const scheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme: scheme });
      expect(await axeViolations(page), scheme).toEqual([]);
    }
  } finally {
    await context.close();
  }

  expect((await postJson(user.api, `/api/v1/campaigns/${campaign.id}/cancel`, {})).status).toBe(200);
});
