import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { connections } from '../db/schema.js';
import { sealCredentials } from '../use-cases/connections/credentials.js';
import { call, expectProblem, postJson, signUp } from './helpers/api.js';
import { campaignBody, HOUR, startCampaignSystem } from './helpers/campaign-system.js';
import { until } from './helpers/until.js';

// A campaign whose account must be reconnected pauses with the reason instead of failing its
// slots one after another; after the reconnect, resuming reaches the slot again.
let system: Awaited<ReturnType<typeof startCampaignSystem>>;
beforeAll(async () => {
  system = await startCampaignSystem('campaign-reconnect');
});
afterAll(async () => {
  await system?.stop();
});

it('pauses the campaign when its Facebook Page must be reconnected, and reaches the slot again after resume', {
  timeout: 180_000,
}, async () => {
  const { services, env, db } = system;
  const user = await signUp(services.apiUrl!);
  const vault = services.apiDeps!.connections.vault;
  const connectionId = randomUUID();
  const now = new Date(await env.currentTimeMs());
  await db.insert(connections).values({
    id: connectionId,
    ownerId: user.id,
    platform: 'facebook',
    platformAccountId: '500000000000001',
    displayName: 'Emulated Bakery',
    grantKey: `facebook:${connectionId}`,
    ...sealCredentials(vault, connectionId, {
      accessToken: 'page-token',
      accessTokenExpiresAt: null,
      refreshToken: null,
      refreshTokenExpiresAt: null,
      userToken: null,
      userTokenExpiresAt: null,
      scopes: ['pages_manage_posts'],
      issuedAt: now,
    }),
  });

  // Another user's account, or one of another platform, is refused when the campaign is created.
  const stranger = await signUp(services.apiUrl!);
  expectProblem(
    await postJson(
      stranger.api,
      '/api/v1/campaigns',
      campaignBody({
        cadence: { kind: 'rrule', rule: 'FREQ=DAILY;BYHOUR=9' },
        timeZone: 'UTC',
        startDate: new Date(now.getTime() + 24 * HOUR).toISOString().slice(0, 10),
        end: { count: 2 },
        targets: [{ type: 'facebook', connectionId }],
      }),
    ),
    422,
    'targets[0].connectionId',
  );

  const created = await postJson(
    user.api,
    '/api/v1/campaigns',
    campaignBody({
      cadence: { kind: 'rrule', rule: 'FREQ=DAILY;BYHOUR=9' },
      timeZone: 'UTC',
      startDate: new Date(now.getTime() + 24 * HOUR).toISOString().slice(0, 10),
      end: { count: 2 },
      leadMinutes: 30,
      targets: [{ type: 'facebook', connectionId }],
    }),
  );
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const id = created.body.id as string;

  // The platform refused the token: the owner marked the connection (as a renewal would).
  await db
    .update(connections)
    .set({ status: 'needs_reconnect', statusReason: 'Facebook says the token was revoked' })
    .where(eq(connections.id, connectionId));

  await env.sleep(2 * 24 * HOUR);
  const paused = await until('the campaign to pause', async () => {
    const view = await call(user.api, `/api/v1/campaigns/${id}`);
    return view.body.status === 'paused' ? view.body : undefined;
  });
  expect(paused.statusReason).toMatch(
    /Emulated Bakery must be connected again \(Facebook says the token was revoked\)/,
  );
  expect(await system.slotsOf(id)).toEqual([]);

  // Reconnected: resuming reaches the slot again (late, within the catch-up policy, or missed).
  await db.update(connections).set({ status: 'active', statusReason: null }).where(eq(connections.id, connectionId));
  const resumed = await postJson(user.api, `/api/v1/campaigns/${id}/resume`, {});
  expect(resumed.status, JSON.stringify(resumed.body)).toBe(200);
  const slots = await until('the slot to be reached', async () => {
    const rows = await system.slotsOf(id);
    return rows.length > 0 ? rows : undefined;
  });
  expect(['created', 'missed']).toContain(slots[0]!.outcome);
  expect((await call(user.api, `/api/v1/campaigns/${id}`)).body.status).not.toBe('paused');
});
