import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type FacebookEmulator, startFacebookEmulator } from '../emulators/facebook.js';
import { type GoogleEmulator, startGoogleEmulator } from '../emulators/google.js';
import { type InstagramEmulator, startInstagramEmulator } from '../emulators/instagram.js';
import { callControl, type Kit } from '../emulators/oauth-kit.js';
import { startTikTokEmulator, type TikTokEmulator } from '../emulators/tiktok.js';
import { signMetaRequest } from '../platforms/webhook-signatures.js';
import { loadOrCreateSecret } from '../runtime/secret.js';
import { openCredentials } from '../use-cases/connections/credentials.js';
import type { ConnectionDeps } from '../use-cases/connections/deps.js';
import { statusOf } from '../use-cases/connections/list-connections.js';
import { requestRenewal } from '../use-cases/connections/owner.js';
import { reencryptAllTokens } from '../use-cases/connections/rotate-keys.js';
import { type ConnectionRow, connectionById } from '../use-cases/connections/rows.js';
import { withConnection } from '../use-cases/connections/use-connection.js';
import { createTokenVault, generateKeyEntry, loadKeyring } from '../vault/token-vault.js';
import { connectionOwnerWorkflowId, ownerStatusQuery } from '../workflows/connection-messages.js';
import { call, expectProblem, type Json, postJson, signUp, type TestUser } from './helpers/api.js';
import { startTestApp, type TestApp } from './helpers/harness.js';
import { captureHistory } from './helpers/histories.js';

let app: TestApp;
let tiktok: TikTokEmulator;
let google: GoogleEmulator;
let instagram: InstagramEmulator;
let facebook: FacebookEmulator;
let emulators: { url: string; kit: Kit; env: Record<string, string>; stop(): Promise<void> }[];
let user: TestUser;

beforeAll(async () => {
  [tiktok, google, instagram, facebook] = await Promise.all([
    startTikTokEmulator(),
    startGoogleEmulator(),
    startInstagramEmulator(),
    startFacebookEmulator(),
  ]);
  emulators = [tiktok, google, instagram, facebook];
  // PUBLIC_URL is left unset: redirect URIs name the API's own URL.
  // The key-rotation script runs in a process of its own on the same database: PostgreSQL, also under TEST_DATABASE.
  app = await startTestApp({
    database: 'postgres',
    env: { ...tiktok.env, ...google.env, ...instagram.env, ...facebook.env },
  });
  user = await signUp(app.baseUrl, 'Connector');
});

afterAll(async () => {
  await app?.stop();
  await Promise.all((emulators ?? []).map((e) => e.stop()));
});

/** Secrets of earlier tests, kept before each reset empties the emulators' records. */
const earlierSecrets = new Set<string>();

beforeEach(async () => {
  for (const secret of allSecrets()) earlierSecrets.add(secret);
  await Promise.all(emulators.map((e) => callControl(e.url, 'POST', 'reset')));
});

const owner = () => ({ temporal: app.temporal, callTimeoutMs: 30_000, taskQueue: app.taskQueue });
const connectionDeps = (): ConnectionDeps => app.services.apiDeps!.connections;

/** Every secret the emulators ever handed out, and their client secrets. */
function allSecrets(): string[] {
  return [
    ...earlierSecrets,
    ...emulators.flatMap((e) => [
      ...e.kit.tokens.keys(),
      ...e.kit.codes.keys(),
      ...Object.entries(e.env)
        .filter(([name]) => /SECRET/.test(name))
        .map(([, value]) => value),
    ]),
  ];
}

/** Like a browser: authorize, the platform's consent (approved at once), back to our callback with the cookie. */
async function connect(
  who: TestUser,
  platform: string,
  body: Json = {},
): Promise<{ result: URLSearchParams; callbackUrl: string }> {
  const start = await postJson(who.browser, `/api/v1/connections/${platform}/authorize`, body);
  expect(start.status, JSON.stringify(start.body)).toBe(200);
  expect(start.headers.get('cache-control')).toBe('no-store');
  const consent = await fetch(start.body.authorizeUrl as string, { redirect: 'manual' });
  expect(consent.status).toBe(302);
  const callbackUrl = consent.headers.get('location')!;
  expect(callbackUrl.startsWith(`${app.baseUrl}/api/v1/connections/${platform}/callback?`)).toBe(true);
  return { result: await followCallback(who, callbackUrl), callbackUrl };
}

async function followCallback(who: TestUser, callbackUrl: string): Promise<URLSearchParams> {
  const back = await fetch(callbackUrl, { redirect: 'manual', headers: { cookie: who.browser.headers.cookie ?? '' } });
  expect(back.status).toBe(302);
  const location = new URL(back.headers.get('location')!);
  expect(`${location.origin}${location.pathname}`).toBe(`${app.baseUrl}/connections/result`);
  return location.searchParams;
}

async function connectOne(who: TestUser, platform: string, body: Json = {}): Promise<string> {
  const { result } = await connect(who, platform, body);
  expect(result.get('status'), result.get('reason') ?? '').toBe('connected');
  return result.get('connections')!;
}

async function listed(who: TestUser): Promise<Json> {
  const res = await call(who.api, '/api/v1/connections');
  expect(res.status).toBe(200);
  return res.body;
}

async function connection(who: TestUser, id: string): Promise<Json> {
  const res = await call(who.api, `/api/v1/connections/${id}`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}

async function disconnect(who: TestUser, id: string): Promise<Json> {
  const res = await call(who.browser, `/api/v1/connections/${id}`, { method: 'DELETE' });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}

const ownerHandle = (id: string) => app.temporal.workflow.getHandle(connectionOwnerWorkflowId(id));

async function ownerStatus(id: string, want?: string) {
  for (let i = 0; i < 100; i++) {
    const status = await ownerHandle(id).query(ownerStatusQuery);
    if (!want || status.state === want) return status;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`owner of ${id} never reached ${want}`);
}

/** Every row of every table, as text. */
async function allRowsText(): Promise<string> {
  const tables = (await app.db.execute(
    sql`select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE'`,
  )) as unknown as { table_name: string }[];
  const out: string[] = [];
  for (const { table_name } of tables) {
    const rows = await app.db.execute(sql.raw(`select * from "${table_name}"`));
    out.push(`${table_name}: ${JSON.stringify(rows)}`);
  }
  return out.join('\n');
}

/** Every file under the data dir, as text. */
async function allFilesText(dir = app.dataDir): Promise<string> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(await allFilesText(path));
    else out.push(`${path}: ${await readFile(path, 'latin1')}`);
  }
  return out.join('\n');
}

/** A workflow history with every payload decoded to text. */
async function historyText(workflowId: string): Promise<string> {
  const history = await app.temporal.workflow.getHandle(workflowId).fetchHistory();
  const parts: string[] = [];
  const walk = (value: unknown): void => {
    if (value instanceof Uint8Array) parts.push(Buffer.from(value).toString('utf8'));
    else if (Array.isArray(value)) value.forEach(walk);
    else if (value && typeof value === 'object') Object.values(value).forEach(walk);
    else if (typeof value === 'string') parts.push(value);
  };
  walk(history);
  return parts.join('\n');
}

function expectNoneOf(text: string, needles: string[], where: string) {
  expect(needles.length).toBeGreaterThan(0);
  for (const needle of needles) expect(text.includes(needle), `${where} contains ${needle}`).toBe(false);
}

function refreshRequests(kit: Kit) {
  return kit.requests.filter(
    (r) => r.form?.grant_type === 'refresh_token' || r.query.grant_type === 'ig_refresh_token',
  );
}

describe('connecting accounts', () => {
  it('lists which platforms are configured, with the redirect URIs to register', async () => {
    const body = await listed(user);
    expect(body.items).toEqual([]);
    expect(body.platforms.map((p: Json) => [p.platform, p.configured])).toEqual([
      ['tiktok', true],
      ['youtube', true],
      ['instagram', true],
      ['facebook', true],
    ]);
    expect(body.platforms[0].redirectUri).toBe(`${app.baseUrl}/api/v1/connections/tiktok/callback`);
    expect(app.logLines.some((l) => l.includes('/api/v1/connections/youtube/callback'))).toBe(true);
  });

  it('TikTok: connect -> profile -> refresh through the owner (rotated pair stored once) -> disconnect, and nothing of it remains', async () => {
    const id = await connectOne(user, 'tiktok');
    const view = await connection(user, id);
    expect(view).toMatchObject({
      platform: 'tiktok',
      displayName: 'Emulated Creator',
      avatarUrl: 'https://p16.tiktokcdn.example/emulated-avatar.jpeg',
      status: 'active',
      scopes: expect.arrayContaining(['user.info.basic', 'video.publish']),
    });
    expectNoneOf(JSON.stringify(await listed(user)), allSecrets(), 'the API');
    // The owner plans the refresh ahead of expiry.
    const planned = await ownerStatus(id, 'waiting');
    expect(planned.nextAction).toBe('refresh');
    expect(new Date(planned.nextRenewalAt!).getTime()).toBeLessThan(new Date(view.accessTokenExpiresAt).getTime());

    // Two publishers met the same refused token at once: one refresh, the other finds it done.
    const [a, b] = await Promise.all([
      requestRenewal(owner(), id, { seenVersion: 1 }),
      requestRenewal(owner(), id, { seenVersion: 1 }),
    ]);
    expect([a.outcome, b.outcome].sort()).toEqual(['already_fresh', 'renewed']);
    expect(refreshRequests(tiktok.kit)).toHaveLength(1);
    expect(tiktok.kit.violations).toEqual([]);
    const row = await connectionById(app.db, id);
    expect(row?.version).toBe(2);
    expect((await connection(user, id)).lastRenewedAt).not.toBeNull();

    // Raw rows and the owner's history carry no token in plaintext.
    const secrets = allSecrets();
    expectNoneOf(await allRowsText(), secrets, 'database');
    expectNoneOf(await historyText(connectionOwnerWorkflowId(id)), secrets, 'history');
    expect(row?.accessToken).toMatch(/^v1\.app\./);

    const gone = await disconnect(user, id);
    expect(gone).toMatchObject({ id, platform: 'tiktok', deleted: true, revocation: 'revoked', affectedPostIds: [] });
    expect([...tiktok.kit.tokens.values()].every((t) => t.state !== 'live')).toBe(true);
    expect(await ownerHandle(id).result()).toEqual({ ended: 'disconnected' });
    await captureHistory(ownerHandle(id), 'connection-owner-v1-refresh-disconnect');
    expectProblem(await call(user.api, `/api/v1/connections/${id}`), 404);
    const traces = [...allSecrets(), 'Emulated Creator', 'emulated-avatar.jpeg', 'tt-open-0001'];
    expectNoneOf(await allRowsText(), traces, 'database after disconnect');
    expectNoneOf(await allFilesText(), traces, 'data dir after disconnect');
    const audit = await call(user.api, '/api/v1/me/audit?limit=50');
    expect(audit.body.items.map((e: Json) => e.action)).toEqual(
      expect.arrayContaining(['connection.connect', 'connection.disconnect']),
    );
  });

  it('TikTok: the owner refreshes on its own ahead of expiry', async () => {
    // A token living 10 min 5 s is due 10 minutes before its end: about 5 s after it was issued.
    await callControl(tiktok.url, 'POST', 'lifetimes', { accessSeconds: 605 });
    const id = await connectOne(user, 'tiktok');
    for (let i = 0; i < 150 && refreshRequests(tiktok.kit).length === 0; i++) {
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(refreshRequests(tiktok.kit).length).toBeGreaterThan(0);
    for (let i = 0; i < 50 && ((await connectionById(app.db, id))?.version ?? 0) < 2; i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    expect((await connectionById(app.db, id))?.version).toBeGreaterThanOrEqual(2);
    expect((await connection(user, id)).status).toBe('active');
    expect(tiktok.kit.violations).toEqual([]);
    await disconnect(user, id);
    await ownerHandle(id).result();
    await captureHistory(ownerHandle(id), 'connection-owner-v1-scheduled-refresh');
  });

  it('an expired access token is refreshed transparently, through the owner', async () => {
    const id = await connectOne(user, 'tiktok');
    // Three hours pass at TikTok: the 2 h access token is dead there, the refresh token alive.
    await callControl(tiktok.url, 'POST', 'clock', { advanceSeconds: 3 * 3600 });
    const deps = { ...connectionDeps(), requestRenewal: (cid: string, r: Json) => requestRenewal(owner(), cid, r) };
    const profile = await withConnection(deps, id, (credentials, row) =>
      deps.connectors.get('tiktok').readProfile({ platformAccountId: row.platformAccountId, via: null }, credentials),
    );
    expect(profile.displayName).toBe('Emulated Creator');
    expect(refreshRequests(tiktok.kit)).toHaveLength(1);
    expect((await connectionById(app.db, id))?.version).toBe(2);
    await disconnect(user, id);
  });

  it('YouTube: connect with PKCE -> channel -> refresh -> revoked grant is needs_reconnect with an audit entry -> reconnect -> disconnect', async () => {
    const id = await connectOne(user, 'youtube');
    const view = await connection(user, id);
    expect(view).toMatchObject({ platform: 'youtube', status: 'active' });
    expect(view.displayName).toBeTruthy();
    expect((await requestRenewal(owner(), id, { seenVersion: 1 })).outcome).toBe('renewed');
    expect(refreshRequests(google.kit)).toHaveLength(1);

    // The person revokes access in their Google account.
    for (const token of google.kit.tokens.values()) token.state = 'revoked';
    expect((await requestRenewal(owner(), id, { seenVersion: 2 })).outcome).toBe('needs_reconnect');
    const broken = await connection(user, id);
    expect(broken.status).toBe('needs_reconnect');
    expect(broken.statusReason).toMatch(/connect the account again|no longer accepts/i);
    await ownerStatus(id, 'needs_reconnect');
    const audit = await call(user.api, '/api/v1/me/audit?limit=50');
    const entry = audit.body.items.find((e: Json) => e.action === 'connection.needs_reconnect');
    expect(entry).toMatchObject({ outcome: 'failure', detail: { connectionId: id, platform: 'youtube' } });
    expect(entry.detail.affectedPostIds).toEqual([]);

    // Connecting again repairs the same connection and wakes its owner.
    expect(await connectOne(user, 'youtube')).toBe(id);
    expect((await connection(user, id)).status).toBe('active');
    await ownerStatus(id, 'waiting');
    expect((await disconnect(user, id)).revocation).toBe('revoked');
    await ownerHandle(id).result();
    await captureHistory(ownerHandle(id), 'connection-owner-v1-needs-reconnect');
  });

  it('Instagram Login: connect -> profile -> refresh by exchange once 24 h old -> disconnect (no revocation offered)', async () => {
    const id = await connectOne(user, 'instagram');
    const view = await connection(user, id);
    expect(view.displayName).toMatch(/^@/);
    expect(view.via).toBeNull();
    expect((await ownerStatus(id, 'waiting')).nextAction).toBe('refresh');
    // Too young: Instagram refuses refreshes under 24 h, so nothing is asked.
    expect((await requestRenewal(owner(), id, { seenVersion: 1 })).outcome).toBe('not_due');
    expect(refreshRequests(instagram.kit)).toHaveLength(0);
    // A day passes on both sides.
    await callControl(instagram.url, 'POST', 'clock', { advanceSeconds: 25 * 3600 });
    await app.db.execute(
      sql`update connections set issued_at = issued_at - interval '25 hours' where id = ${id}::uuid`,
    );
    expect((await requestRenewal(owner(), id, { seenVersion: 1 })).outcome).toBe('renewed');
    expect(refreshRequests(instagram.kit)).toHaveLength(1);
    expect((await disconnect(user, id)).revocation).toBe('not_offered');
  });

  it('Facebook Pages: pending choice by id -> validity check -> disconnect revokes the grant only with the last Page', async () => {
    const { result } = await connect(user, 'facebook');
    expect(result.get('status')).toBe('choose');
    const choiceId = result.get('pendingChoice')!;
    const choice = await call(user.api, `/api/v1/connections/pending/${choiceId}`);
    expect(choice.status).toBe(200);
    expect(choice.body.accounts.map((a: Json) => a.displayName)).toEqual(['Emulated Bakery', 'Emulated Bookshop']);
    expect(JSON.stringify(choice.body)).not.toMatch(/EAA/);
    expect((await listed(user)).pendingChoices.map((c: Json) => c.id)).toEqual([choiceId]);

    const wrong = await postJson(user.browser, `/api/v1/connections/pending/${choiceId}/confirm`, {
      accountIds: ['500000000000003'],
    });
    expectProblem(wrong, 422, 'accountIds[0]');
    const other = await signUp(app.baseUrl, 'Stranger');
    expectProblem(await call(other.api, `/api/v1/connections/pending/${choiceId}`), 404);

    const confirmed = await postJson(user.browser, `/api/v1/connections/pending/${choiceId}/confirm`, {
      accountIds: ['500000000000001', '500000000000002'],
    });
    expect(confirmed.status, JSON.stringify(confirmed.body)).toBe(201);
    const [bakery, bookshop] = confirmed.body.items.map((c: Json) => c.id as string);
    expect(confirmed.body.items.map((c: Json) => c.displayName)).toEqual(['Emulated Bakery', 'Emulated Bookshop']);
    expectProblem(await call(user.api, `/api/v1/connections/pending/${choiceId}`), 404);

    expect((await ownerStatus(bakery!, 'waiting')).nextAction).toBe('check');
    const pageReads = () => facebook.kit.requests.filter((r) => r.path.endsWith('/500000000000001')).length;
    const before = pageReads();
    expect((await requestRenewal(owner(), bakery!, { seenVersion: 1 })).outcome).toBe('checked');
    expect(pageReads()).toBe(before + 1);

    expect((await disconnect(user, bakery!)).revocation).toBe('kept_for_other_connections');
    expect(facebook.kit.liveGrants().size).toBe(1);
    expect((await disconnect(user, bookshop!)).revocation).toBe('revoked');
    await ownerHandle(bakery!).result();
    await captureHistory(ownerHandle(bakery!), 'connection-owner-v1-check');
    expect(facebook.kit.liveGrants().size).toBe(0);
    const traces = ['Emulated Bakery', 'Emulated Bookshop', 'bakery.jpg', 'bookshop.jpg', ...allSecrets()];
    expectNoneOf(await allRowsText(), traces, 'database after disconnect');
  });

  it('Instagram through a Facebook Page: pick the account -> check -> a dead Page token is needs_reconnect -> disconnect', async () => {
    const { result } = await connect(user, 'instagram', { via: 'facebook' });
    expect(result.get('status'), result.get('reason') ?? '').toBe('choose');
    const choiceId = result.get('pendingChoice')!;
    const confirmed = await postJson(user.browser, `/api/v1/connections/pending/${choiceId}/confirm`, {
      accountIds: ['17841400000000001'],
    });
    expect(confirmed.status, JSON.stringify(confirmed.body)).toBe(201);
    const id = confirmed.body.items[0].id as string;
    expect(confirmed.body.items[0]).toMatchObject({ via: 'facebook', displayName: '@emulated.bakery' });
    expect((await requestRenewal(owner(), id, { seenVersion: 1 })).outcome).toBe('checked');
    facebook.kit.revokeGrant([...facebook.kit.tokens.values()][0]!.grantId);
    expect((await requestRenewal(owner(), id, { seenVersion: 1 })).outcome).toBe('needs_reconnect');
    expect((await connection(user, id)).status).toBe('needs_reconnect');
    expect((await disconnect(user, id)).revocation).toBe('already_invalid');
  });
});

describe('connection status', () => {
  it('is expiring when the grant ends within 7 days with no renewal in sight, needs_reconnect when refused', () => {
    const now = new Date('2026-01-01T00:00:00Z');
    const inDays = (d: number) => new Date(now.getTime() + d * 86_400_000);
    const row = {
      status: 'active',
      statusReason: null,
      refreshToken: 'sealed',
      refreshTokenExpiresAt: inDays(180),
      accessTokenExpiresAt: inDays(0.1),
    } as unknown as ConnectionRow;
    expect(statusOf(row, now).status).toBe('active');
    expect(statusOf({ ...row, refreshTokenExpiresAt: inDays(3) }, now)).toMatchObject({
      status: 'expiring',
      reason: expect.stringMatching(/unless it is renewed/),
    });
    expect(statusOf({ ...row, refreshToken: null, accessTokenExpiresAt: inDays(3) }, now).status).toBe('expiring');
    expect(statusOf({ ...row, refreshToken: null, accessTokenExpiresAt: null }, now).status).toBe('active');
    expect(statusOf({ ...row, status: 'needs_reconnect', statusReason: 'revoked' }, now)).toEqual({
      status: 'needs_reconnect',
      reason: 'revoked',
    });
  });
});

describe('the state of an authorization', () => {
  it('refuses a tampered, replayed, expired or foreign state, in words, and stores nothing', async () => {
    const first = await connect(user, 'tiktok');
    expect(first.result.get('status')).toBe('connected');
    // Replayed: the same callback again.
    const replayed = await followCallback(user, first.callbackUrl);
    expect(replayed.get('status')).toBe('error');
    expect(replayed.get('reason')).toMatch(/already used|could not be matched/);
    await disconnect(user, first.result.get('connections')!);

    // Tampered.
    const start = await postJson(user.browser, '/api/v1/connections/tiktok/authorize', {});
    const consent = await fetch(start.body.authorizeUrl as string, { redirect: 'manual' });
    const tampered = new URL(consent.headers.get('location')!);
    tampered.searchParams.set('state', `${tampered.searchParams.get('state')}x`);
    expect((await followCallback(user, tampered.toString())).get('status')).toBe('error');

    // Another signed-in user cannot complete (or burn) it.
    const stranger = await signUp(app.baseUrl, 'Interloper');
    const foreign = await followCallback(stranger, consent.headers.get('location')!);
    expect(foreign.get('reason')).toMatch(/another account|could not be matched/);
    // Expired: ten minutes went by.
    await app.db.execute(sql`update oauth_states set expires_at = now() - interval '1 second'`);
    const expired = await followCallback(user, consent.headers.get('location')!);
    expect(expired.get('reason')).toMatch(/expired/);
    expect((await listed(user)).items).toEqual([]);

    // The result page shows the reason its link carries only when this installation wrote it.
    const resultPage = async (params: URLSearchParams, who: TestUser = user) =>
      (
        await fetch(`${app.baseUrl}/connections/result?${params}`, {
          headers: { cookie: who.browser.headers.cookie ?? '' },
        })
      ).text();
    const checked = async (params: URLSearchParams) =>
      (
        await call(
          user.api,
          `/api/v1/connections/outcome?${new URLSearchParams({
            platform: params.get('platform') ?? '',
            reason: params.get('reason') ?? '',
            sig: params.get('sig') ?? '',
          })}`,
        )
      ).body.reason;
    expect(expired.get('sig')).toBeTruthy();
    expect(await resultPage(expired)).toContain('expired');
    expect(await checked(expired)).toBe(expired.get('reason'));
    const madeUp = new URLSearchParams({
      platform: 'tiktok',
      status: 'error',
      reason: 'Call +1 555 0100 to fix <b>x</b>',
    });
    expect(await resultPage(madeUp)).not.toMatch(/555|&#60;b/);
    expect(await resultPage(madeUp)).toContain('Start connecting again');
    expect(await checked(madeUp)).toBeNull();
    const forged = new URLSearchParams(madeUp);
    forged.set('sig', expired.get('sig')!);
    expect(await resultPage(forged)).not.toContain('555');
    expect(await checked(forged)).toBeNull();
    // A link made from someone's own attempt carries the platform's words, signed for them only:
    // sent to another person, it shows none of them.
    expect(await resultPage(expired, stranger)).not.toContain('expired');
    expect(
      (
        await call(
          stranger.api,
          `/api/v1/connections/outcome?${new URLSearchParams({ platform: 'tiktok', reason: expired.get('reason')!, sig: expired.get('sig')! })}`,
        )
      ).body.reason,
    ).toBeNull();

    // A callback link anyone can make up, with the platform's error and words of their own: the
    // words are not passed on, as no attempt of this caller's matches it.
    const fake = await followCallback(
      user,
      `${app.baseUrl}/api/v1/connections/tiktok/callback?${new URLSearchParams({ state: 'made-up', error: 'server_error', error_description: 'Call +1 555 0100' })}`,
    );
    expect(fake.get('reason')).not.toContain('555');
    expect(fake.get('reason')).toMatch(/could not be matched/);
  });

  it('shows a declined consent and missing permissions in words', async () => {
    await callControl(google.url, 'POST', 'faults', [{ kind: 'deny_consent' }]);
    const denied = await connect(user, 'youtube');
    expect(denied.result.get('status')).toBe('error');
    expect(denied.result.get('reason')).toMatch(/not granted|declined/);

    await callControl(tiktok.url, 'POST', 'consent', { scopes: ['user.info.basic'] });
    const partial = await connect(user, 'tiktok');
    expect(partial.result.get('reason')).toMatch(/video\.publish or video\.upload/);
    expect((await listed(user)).items).toEqual([]);
  });

  it('validates the request: unknown platform, via on the wrong platform, not signed in', async () => {
    expectProblem(await postJson(user.browser, '/api/v1/connections/myspace/authorize', {}), 422, 'platform');
    expectProblem(
      await postJson(user.browser, '/api/v1/connections/tiktok/authorize', { via: 'facebook' }),
      422,
      'via',
    );
    expectProblem(await postJson(user.browser, '/api/v1/connections/instagram/authorize', { via: 'x' }), 422, 'via');
    expect((await postJson(app.baseUrl, '/api/v1/connections/tiktok/authorize', {})).status).toBe(401);
    expectProblem(await call(user.api, '/api/v1/connections/00000000-0000-4000-8000-000000000000'), 404);
    const anonymous = await fetch(`${app.baseUrl}/api/v1/connections/tiktok/callback?code=c&state=s`, {
      redirect: 'manual',
    });
    expect(new URL(anonymous.headers.get('location')!).searchParams.get('reason')).toMatch(/Sign in/);
  });
});

describe("the platforms' own notices", () => {
  it("TikTok's authorization.removed webhook (signature verified) disconnects the account", async () => {
    const id = await connectOne(user, 'tiktok');
    const bad = await fetch(`${app.baseUrl}/api/v1/connections/tiktok/webhook`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'TikTok-Signature': 't=1,s=00' },
      body: JSON.stringify({ event: 'authorization.removed', user_openid: 'tt-open-0001' }),
    });
    expect(bad.status).toBe(401);
    expect((await connection(user, id)).status).toBe('active');
    const sent = (await callControl(tiktok.url, 'POST', 'deauthorize', {
      webhookUrl: `${app.baseUrl}/api/v1/connections/tiktok/webhook`,
    })) as Json;
    expect(sent.delivered).toBe(200);
    expectProblem(await call(user.api, `/api/v1/connections/${id}`), 404);
    expect(await ownerHandle(id).result()).toEqual({ ended: 'gone' });
    await captureHistory(ownerHandle(id), 'connection-owner-v1-platform-notice');
    expectNoneOf(await allRowsText(), ['Emulated Creator', 'emulated-avatar.jpeg', ...allSecrets()], 'database');
  });

  it("Meta's deauthorize and data-deletion callbacks (signed_request verified) remove the grant's connections", async () => {
    const { result } = await connect(user, 'facebook');
    const confirmed = await postJson(
      user.browser,
      `/api/v1/connections/pending/${result.get('pendingChoice')}/confirm`,
      {
        accountIds: ['500000000000001'],
      },
    );
    const id = confirmed.body.items[0].id as string;
    const forged = signMetaRequest({ user_id: '900000000000001' }, 'not-the-app-secret');
    const refused = await fetch(`${app.baseUrl}/api/v1/connections/facebook/deauthorize`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ signed_request: forged }).toString(),
    });
    expect(refused.status).toBe(401);
    expect((await connection(user, id)).status).toBe('active');

    const sent = (await callControl(facebook.url, 'POST', 'deauthorize', {
      callbackUrl: `${app.baseUrl}/api/v1/connections/facebook/deauthorize`,
    })) as Json;
    expect(sent.delivered).toBe(200);
    expectProblem(await call(user.api, `/api/v1/connections/${id}`), 404);

    // Data deletion: answered with a code and a status link that works.
    const again = await connect(user, 'facebook');
    await postJson(user.browser, `/api/v1/connections/pending/${again.result.get('pendingChoice')}/confirm`, {
      accountIds: ['500000000000002'],
    });
    const signed = signMetaRequest({ user_id: '900000000000001' }, facebook.env.FACEBOOK_APP_SECRET!);
    const deletion = await call(app.baseUrl, '/api/v1/connections/facebook/data-deletion', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ signed_request: signed }).toString(),
    });
    expect(deletion.status).toBe(200);
    expect((await listed(user)).items).toEqual([]);
    const status = await call(app.baseUrl, new URL(deletion.body.url).pathname);
    expect(status.body).toMatchObject({ confirmationCode: deletion.body.confirmation_code, status: 'completed' });
  });
});

describe('token keys', () => {
  it('re-encrypts every token under a new key (npm run tokens:rotate); the old key can then be removed', async () => {
    const tiktokId = await connectOne(user, 'tiktok');
    const youtubeId = await connectOne(user, 'youtube');
    const before = await connectionById(app.db, tiktokId);
    expect(before?.accessToken).toMatch(/^v1\.app\./);

    const secret = await loadOrCreateSecret(app.dataDir);
    const next = generateKeyEntry('k2');
    const run = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'scripts/rotate-token-keys.ts'], {
      env: {
        ...process.env,
        DATABASE_URL: app.database!.url,
        DATA_DIR: app.dataDir,
        TOKEN_KEYS: `app,${next}`,
      },
    });
    expect(run.stdout).toMatch(/Re-encrypted: 2 connections/);
    expect(run.stdout).toMatch(/the other keys can be removed/);
    expectNoneOf(run.stdout + run.stderr, allSecrets(), 'rotation output');

    // The old key is gone from the keyring: every connection still opens, and still works.
    const onlyNew = createTokenVault(loadKeyring({ TOKEN_KEYS: next }, secret));
    for (const id of [tiktokId, youtubeId]) {
      const row = (await connectionById(app.db, id))!;
      expect(row.accessToken).toMatch(/^v1\.k2\./);
      const credentials = openCredentials(onlyNew, id, row);
      const profile = await connectionDeps()
        .connectors.get(row.platform)
        .readProfile({ platformAccountId: row.platformAccountId, via: null }, credentials);
      expect(profile.platformAccountId).toBe(row.platformAccountId);
    }
    const again = await reencryptAllTokens({ db: app.db, vault: onlyNew });
    expect(again.failed).toEqual([]);
    expect(Object.keys(again.remainingByKey)).toEqual(['k2']);

    // Without the key a value was sealed with, rotation says so and keeps the row.
    const unrelated = createTokenVault(loadKeyring({ TOKEN_KEYS: generateKeyEntry('k3') }, secret));
    expect((await reencryptAllTokens({ db: app.db, vault: unrelated })).failed).toHaveLength(2);

    // Back under the app's key so the running worker can disconnect them (revoking needs the tokens).
    await reencryptAllTokens({
      db: app.db,
      vault: createTokenVault(loadKeyring({ TOKEN_KEYS: `${next},app` }, secret)),
    });
    await disconnect(user, tiktokId);
    await disconnect(user, youtubeId);
  });
});

describe('secrets', () => {
  it('writes no token, code or client secret to the log across all of the above', () => {
    const log = app.logLines.join('\n');
    expect(log).toContain('/api/v1/connections/tiktok/callback');
    expect(log).toContain('connection renewal');
    expectNoneOf(log, allSecrets(), 'log');
  });
});
