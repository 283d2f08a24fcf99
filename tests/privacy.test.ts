import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { WorkflowNotFoundError } from '@temporalio/client';
import { eq, sql } from 'drizzle-orm';
import { extract } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hideSecretQueries } from '../api/request-log.js';
import { queryRows } from '../db/client.js';
import { campaignSlots, users } from '../db/schema.js';
import { WEEKDAYS } from '../domain/cadence.js';
import { localTimeOf } from '../domain/campaign-schedule.js';
import { type FacebookEmulator, startFacebookEmulator } from '../emulators/facebook.js';
import { startTikTokEmulator, type TikTokEmulator } from '../emulators/tiktok.js';
import { requestRenewal } from '../use-cases/connections/owner.js';
import { connectionOwnerWorkflowId } from '../workflows/connection-messages.js';
import {
  call,
  expectProblem,
  isFinished,
  type Json,
  photoWithExif,
  postJson,
  signUp,
  type TestUser,
  upload,
  waitForPost,
} from './helpers/api.js';
import { startTestApp, type TestApp } from './helpers/harness.js';
import { until } from './helpers/until.js';

let app: TestApp;
let tiktok: TikTokEmulator;
let facebook: FacebookEmulator;
beforeAll(async () => {
  [tiktok, facebook] = await Promise.all([startTikTokEmulator(), startFacebookEmulator()]);
  app = await startTestApp({ env: { ...tiktok.env, ...facebook.env } });
});
afterAll(async () => {
  await app?.stop();
  await Promise.all([tiktok?.stop(), facebook?.stop()]);
});

/** Connects through the real routes and the emulator's consent screen; Facebook Pages are all picked. */
async function connectAccount(user: Awaited<ReturnType<typeof signUp>>, platform: 'tiktok' | 'facebook') {
  const start = await postJson(user.browser, `/api/v1/connections/${platform}/authorize`, {});
  const consent = await fetch(start.body.authorizeUrl as string, { redirect: 'manual' });
  const back = await fetch(consent.headers.get('location')!, {
    redirect: 'manual',
    headers: { cookie: user.browser.headers.cookie ?? '' },
  });
  const result = new URL(back.headers.get('location')!).searchParams;
  if (result.get('status') === 'choose') {
    const choice = await call(user.api, `/api/v1/connections/pending/${result.get('pendingChoice')}`);
    const confirmed = await postJson(user.browser, `/api/v1/connections/pending/${choice.body.id}/confirm`, {
      accountIds: choice.body.accounts.map((a: { id: string }) => a.id),
    });
    expect(confirmed.status).toBe(201);
    return confirmed.body.items.map((c: { id: string }) => c.id) as string[];
  }
  expect(result.get('status'), result.get('reason') ?? '').toBe('connected');
  return [result.get('connections')!];
}

/**
 * A weekly campaign whose first slot is two days away. With a week's lead time that slot's post is
 * made (and its pipeline started as the campaign's child) at once; with none, nothing is made yet.
 */
async function startCampaign(user: TestUser, name: string, leadMinutes: number): Promise<Json> {
  const slot = localTimeOf(Date.now() + 2 * 24 * 3600_000, 'UTC');
  const weekday = (new Date(`${slot.slice(0, 10)}T00:00:00Z`).getUTCDay() + 6) % 7;
  const created = await postJson(user.api, '/api/v1/campaigns', {
    name,
    brief: { topic: `${name} brief topic` },
    targets: [{ type: 'local_export' }],
    review: { mode: 'manual', onExpiry: 'cancel' },
    cadence: { kind: 'weekly', slots: [{ day: WEEKDAYS[weekday]!, time: '12:00' }] },
    timeZone: 'UTC',
    startDate: localTimeOf(Date.now(), 'UTC').slice(0, 10),
    end: { count: 3 },
    leadMinutes,
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return created.body;
}

/** The post made for the campaign's first slot, once its pipeline waits for review. */
async function firstSlotPost(user: TestUser, campaignId: string): Promise<Json> {
  const postId = await until('the first slot made its post', async () => {
    const [slot] = await app.db.select().from(campaignSlots).where(eq(campaignSlots.campaignId, campaignId));
    return slot?.postId ?? false;
  });
  return waitForPost(user.api, postId, (p) => p.status === 'awaiting_review');
}

async function readArchive(res: Response): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  const unpack = extract();
  unpack.on('entry', (header, stream, next) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: unknown) => chunks.push(c as Buffer));
    stream.on('end', () => {
      files.set(header.name, Buffer.concat(chunks));
      next();
    });
  });
  await pipeline(Readable.fromWeb(res.body as never), createGunzip(), unpack);
  return files;
}

/** Every row of every table in the database, as text, that mentions one of `needles`. */
async function rowsMentioning(needles: string[]): Promise<string[]> {
  const tables = await queryRows<{ table_name: string }>(
    app.db,
    sql`select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE'`,
  );
  const found: string[] = [];
  for (const { table_name } of tables) {
    const rows = await queryRows<{ row: string }>(
      app.db,
      sql.raw(`select row_to_json(t)::text as row from "${table_name}" t`),
    );
    for (const { row } of rows) if (needles.some((n) => row.includes(n))) found.push(`${table_name}: ${row}`);
  }
  return found;
}

async function filesUnder(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true, withFileTypes: true }))
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));
}

describe('privacy rights', () => {
  it('exports connected accounts without tokens; account deletion revokes them, deletes them and ends their owners', async () => {
    const user = await signUp(app.baseUrl, 'Connected');
    const ids = [...(await connectAccount(user, 'tiktok')), ...(await connectAccount(user, 'facebook'))];
    expect(ids).toHaveLength(3);
    const tokens = [...tiktok.kit.tokens.keys(), ...facebook.kit.tokens.keys()];

    const res = await fetch(`${app.baseUrl}/api/v1/me/export`, { headers: user.api.headers });
    const files = await readArchive(res);
    const listed = JSON.parse(files.get('connected-accounts.json')!.toString()) as {
      id: string;
      displayName: string;
    }[];
    expect(listed.map((c) => c.id).sort()).toEqual([...ids].sort());
    expect(listed.map((c) => c.displayName)).toEqual(expect.arrayContaining(['Emulated Creator', 'Emulated Bakery']));
    const archive = [...files.values()].map((b) => b.toString('latin1')).join('\n');
    for (const token of tokens) expect(archive).not.toContain(token);

    const deleted = await postJson(user.api, '/api/v1/me', { password: user.password }, {}, 'DELETE');
    expect(deleted.status, JSON.stringify(deleted.body)).toBe(204);
    // Revoked at the platforms (TikTok's token, the Facebook grant with its last Page), and gone here.
    expect([...tiktok.kit.tokens.values()].every((t) => t.state !== 'live')).toBe(true);
    expect(facebook.kit.liveGrants().size).toBe(0);
    expect(await rowsMentioning([...tokens, 'Emulated Creator', 'Emulated Bakery', user.id])).toEqual([]);
    // Owners ended; their histories are handed to Temporal for deletion, which it does in its own time.
    for (const id of ids) {
      const described = await app.temporal.workflow
        .getHandle(connectionOwnerWorkflowId(id))
        .describe()
        .catch(() => null);
      expect(described?.status.name ?? 'DELETED').toMatch(/COMPLETED|TERMINATED|DELETED/);
    }
  });

  it('exports everything held about the caller, and no secret', async () => {
    const user = await signUp(app.baseUrl, 'Exporter');
    const photo = await photoWithExif(64, 48);
    const media = await upload(user.api, photo, 'holiday.jpg');
    const post = await postJson(user.api, '/api/v1/posts', {
      caption: 'Exported caption',
      mediaIds: [media.body.id],
      targets: [{ type: 'local_export' }],
    });
    await waitForPost(user.api, post.body.id, isFinished);
    const someoneElse = await signUp(app.baseUrl, 'Bystander');
    await postJson(someoneElse.api, '/api/v1/posts', { caption: 'Not yours', targets: [{ type: 'local_export' }] });

    const res = await fetch(`${app.baseUrl}/api/v1/me/export`, { headers: user.browser.headers });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/gzip');
    expect(res.headers.get('content-disposition')).toMatch(
      /attachment; filename="autopostpanel-export-\d{4}-\d{2}-\d{2}\.tar\.gz"/,
    );
    const files = await readArchive(res);
    const mediaFile = `media/${media.body.id}.jpg`;
    expect([...files.keys()].sort()).toEqual(
      [
        'README.txt',
        'api-keys.json',
        'audit-log.json',
        'campaigns.json',
        'connected-accounts.json',
        'media.json',
        mediaFile,
        'posts.json',
        'profile.json',
        'sessions.json',
      ].sort(),
    );
    const json = (name: string) => JSON.parse(files.get(name)!.toString());
    expect(json('profile.json')).toMatchObject({ id: user.id, name: 'Exporter', email: user.email });
    expect(files.get(mediaFile)!.equals(photo)).toBe(true);
    expect(json('media.json')).toEqual([
      expect.objectContaining({ id: media.body.id, originalName: 'holiday.jpg', file: mediaFile }),
    ]);
    const [exportedPost] = json('posts.json');
    expect(exportedPost).toMatchObject({ id: post.body.id, caption: 'Exported caption', status: 'published' });
    expect(exportedPost.attempts.length).toBeGreaterThanOrEqual(2);
    expect(json('posts.json')).toHaveLength(1);
    expect(json('api-keys.json')).toEqual([
      expect.objectContaining({ name: 'tests', prefix: user.apiKey.slice(0, 10) }),
    ]);
    expect(json('sessions.json')).toHaveLength(1);
    expect(json('audit-log.json').map((e: { action: string }) => e.action)).toEqual([
      'account.register',
      'api_key.create',
      'account.export',
    ]);
    expect(json('connected-accounts.json')).toEqual([]);
    expect(json('campaigns.json')).toEqual([]);

    const everything = [...files.values()].map((b) => b.toString('latin1')).join('\n');
    const [row] = await app.db.select().from(users).where(sql`${users.id} = ${user.id}`);
    for (const secret of [
      user.password,
      user.apiKey,
      row!.passwordHash,
      'keyHash',
      'passwordHash',
      user.browser.headers.cookie!.split('=')[1]!,
    ]) {
      expect(everything).not.toContain(secret);
    }
    expect(everything).not.toContain('Not yours');
  });

  it('deletes the account: every row, every file and every running pipeline, after the password', async () => {
    const user = await signUp(app.baseUrl, 'Leaver');
    const stays = await signUp(app.baseUrl, 'Stayer');
    const mediaId = (await upload(user.api, await photoWithExif(32, 32))).body.id as string;
    const published = await postJson(user.api, '/api/v1/posts', {
      caption: 'Done',
      mediaIds: [mediaId],
      targets: [{ type: 'local_export' }],
    });
    await waitForPost(user.api, published.body.id, isFinished);
    const later = await postJson(user.api, '/api/v1/posts', {
      caption: 'Next week',
      mediaIds: [mediaId],
      targets: [{ type: 'local_export' }],
      publishAt: new Date(Date.now() + 7 * 24 * 3600_000).toISOString(),
    });
    await waitForPost(user.api, later.body.id, (p) => p.status === 'scheduled');
    const staysPost = await postJson(stays.api, '/api/v1/posts', {
      caption: 'Staying',
      targets: [{ type: 'local_export' }],
    });
    await waitForPost(stays.api, staysPost.body.id, isFinished);

    const ids = [user.id, mediaId, published.body.id, later.body.id];
    expect((await rowsMentioning(ids)).length).toBeGreaterThan(5);
    expect((await filesUnder(app.dataDir)).some((f) => ids.some((id) => f.includes(id)))).toBe(true);

    expectProblem(
      await postJson(user.api, '/api/v1/me', { password: 'not my password' }, {}, 'DELETE'),
      403,
      'password',
    );
    expectProblem(await postJson(user.api, '/api/v1/me', {}, {}, 'DELETE'), 422, 'password');
    const deleted = await postJson(user.browser, '/api/v1/me', { password: user.password }, {}, 'DELETE');
    expect(deleted.status).toBe(204);

    expect(await rowsMentioning([...ids, user.email])).toEqual([]);
    expect((await filesUnder(app.dataDir)).filter((f) => ids.some((id) => f.includes(id)))).toEqual([]);
    // Closed; their histories are also handed to Temporal for deletion, which it does in its own time.
    for (const workflowId of [later.body.workflow.id, published.body.workflow.id]) {
      try {
        const { status } = await app.temporal.workflow.getHandle(workflowId).describe();
        expect(status.name).not.toBe('RUNNING');
      } catch (err) {
        expect((err as Error).name).toBe('WorkflowNotFoundError');
      }
    }
    expect(
      (
        await app.temporal.workflow
          .getHandle(later.body.workflow.id)
          .describe()
          .catch(() => null)
      )?.status.name ?? 'DELETED',
    ).toMatch(/TERMINATED|DELETED/);
    expectProblem(await call(user.api, '/api/v1/me'), 401);
    expectProblem(await call(user.browser, '/api/v1/me'), 401);
    expect(
      (await postJson(app.baseUrl, '/api/v1/auth/sign-in', { email: user.email, password: user.password })).status,
    ).toBe(401);

    // The other user is untouched.
    expect((await call(stays.api, `/api/v1/posts/${staysPost.body.id}`)).body.status).toBe('published');
    expect(await readdir(join(app.dataDir, 'exports', staysPost.body.id))).toEqual(['local_export']);
  });

  it("deletes the account's campaigns: their workflows, their histories and the posts their slots made", async () => {
    const user = await signUp(app.baseUrl, 'Campaigner');
    const reached = await startCampaign(user, 'Leaving series', 7 * 24 * 60);
    const slotPost = await firstSlotPost(user, reached.id);
    const waiting = await startCampaign(user, 'Waiting series', 0);

    const deleted = await postJson(user.api, '/api/v1/me', { password: user.password }, {}, 'DELETE');
    expect(deleted.status, JSON.stringify(deleted.body)).toBe(204);

    for (const campaign of [reached, waiting]) {
      const handle = app.temporal.workflow.getHandle(campaign.workflowId);
      const status = await handle.describe().then(
        (d) => d.status.name,
        (err: Error) => err.name,
      );
      expect(status).toMatch(/TERMINATED|WorkflowNotFoundError/);
      // Its history holds the owner's id, the name and the brief: handed to Temporal for deletion.
      await until(
        `the history of ${campaign.workflowId} deleted`,
        () =>
          handle.describe().then(
            () => false,
            (err) => err instanceof WorkflowNotFoundError,
          ),
        30_000,
        250,
      );
    }
    const pipeline = await app.temporal.workflow
      .getHandle(slotPost.workflow.id)
      .describe()
      .then(
        (d) => d.status.name,
        () => 'DELETED',
      );
    expect(pipeline).toMatch(/TERMINATED|DELETED/);
    expect(
      await rowsMentioning([user.id, reached.id, waiting.id, slotPost.id, 'Leaving series', 'Waiting series']),
    ).toEqual([]);
  });

  it("exports the caller's campaigns with what became of their slots", async () => {
    const user = await signUp(app.baseUrl, 'Planner');
    const reached = await startCampaign(user, 'Spring series', 7 * 24 * 60);
    const slotPost = await firstSlotPost(user, reached.id);
    const waiting = await startCampaign(user, 'Autumn series', 0);
    await startCampaign(await signUp(app.baseUrl, 'Other planner'), 'Not your series', 0);

    const res = await fetch(`${app.baseUrl}/api/v1/me/export`, { headers: user.api.headers });
    expect(res.status).toBe(200);
    const files = await readArchive(res);
    const exported = JSON.parse(files.get('campaigns.json')!.toString()) as Json[];
    expect(exported.map((c) => c.id).sort()).toEqual([reached.id, waiting.id].sort());
    const spring = exported.find((c) => c.id === reached.id)!;
    expect(spring).toMatchObject({
      name: 'Spring series',
      status: 'active',
      settings: {
        brief: { topic: 'Spring series brief topic' },
        targets: [{ type: 'local_export' }],
        cadence: { kind: 'weekly' },
        timeZone: 'UTC',
        leadMinutes: 7 * 24 * 60,
        review: { mode: 'manual' },
      },
      workflow: { id: reached.workflowId },
    });
    expect(spring.slots).toEqual([expect.objectContaining({ outcome: 'created', postId: slotPost.id })]);
    expect(exported.find((c) => c.id === waiting.id)!.slots).toEqual([]);
    const everything = [...files.values()].map((b) => b.toString('latin1')).join('\n');
    expect(everything).not.toContain('Not your series');
    expect(everything).not.toContain('requestHash');
    expect(files.get('README.txt')!.toString()).toContain('campaigns.json');
  });

  it('writes no password, token, cookie or key to the log across a full scenario', async () => {
    const start = app.logLines.length;
    const user = await signUp(app.baseUrl, 'Logged');
    const signedIn = await fetch(`${app.baseUrl}/api/v1/auth/sign-in`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: user.email, password: user.password }),
    });
    const sessionCookie = signedIn.headers
      .getSetCookie()
      .find((c) => c.startsWith('app_session='))!
      .split(';')[0]!;
    const { csrfToken } = (await signedIn.json()) as { csrfToken: string };
    await postJson(app.baseUrl, '/api/v1/auth/sign-in', { email: user.email, password: `${user.password}-typo` });
    const sessionKey = await postJson(
      { url: app.baseUrl, headers: { cookie: sessionCookie, 'x-csrf-token': csrfToken } },
      '/api/v1/me/api-keys',
      { name: 'from the browser', password: user.password },
    );
    expect(sessionKey.status).toBe(201);
    const mediaId = (await upload(user.api, await photoWithExif(16, 16))).body.id as string;
    const post = await postJson(
      user.api,
      '/api/v1/posts',
      { caption: 'Logged post', mediaIds: [mediaId], targets: [{ type: 'local_export' }] },
      { 'Idempotency-Key': 'log-1' },
    );
    await waitForPost(user.api, post.body.id, isFinished);
    await postJson(
      { url: app.baseUrl, headers: { authorization: 'Bearer app_not_a_real_key_but_long_enough' } },
      '/api/v1/posts',
      {},
    );
    await (await fetch(`${app.baseUrl}/api/v1/me/export`, { headers: user.api.headers })).arrayBuffer();
    // Connected accounts: authorize, callback (code and state in its query), a renewal, a disconnect;
    // the second TikTok connection goes with the account.
    const [tiktokId] = await connectAccount(user, 'tiktok');
    const [pageId] = await connectAccount(user, 'facebook');
    await call(user.browser, `/api/v1/connections/${pageId}`, { method: 'DELETE' });
    await requestRenewal({ temporal: app.temporal, callTimeoutMs: 30_000, taskQueue: app.taskQueue }, tiktokId!, {
      seenVersion: 1,
    });
    await connectAccount(user, 'tiktok');
    const platformSecrets = [tiktok, facebook].flatMap((e) => [
      ...e.kit.tokens.keys(),
      ...e.kit.codes.keys(),
      ...Object.entries(e.env)
        .filter(([name]) => /SECRET/.test(name))
        .map(([, value]) => value),
    ]);
    expect(platformSecrets.length).toBeGreaterThan(6);
    await postJson(
      user.browser,
      '/api/v1/me/password',
      { currentPassword: user.password, newPassword: 'second password here' },
      {},
      'PUT',
    );
    await postJson(user.api, '/api/v1/me', { password: 'second password here' }, {}, 'DELETE');

    const log = app.logLines.slice(start).join('\n');
    expect(log.length).toBeGreaterThan(1000);
    expect(log).toContain('"url":"/api/v1/auth/sign-in"');
    expect(log).toContain('/api/v1/connections/tiktok/callback?[redacted]');
    expect(log).toContain('connection renewal');
    const [, rawCookie] = sessionCookie.split('=');
    for (const secret of [
      user.password,
      'second password here',
      user.apiKey,
      rawCookie!,
      csrfToken,
      user.browser.headers['x-csrf-token']!,
      'app_not_a_real_key_but_long_enough',
      sessionKey.body.key,
      '$argon2id$',
      ...platformSecrets,
    ]) {
      expect(log, secret).not.toContain(secret);
    }
    expect(await readFile(join(app.dataDir, 'secret.key'), 'utf8').then((s) => log.includes(s.trim()))).toBe(false);
    // Nor any query text: errors are logged with the database's reason only (runtime/errors.ts).
    expect(log).not.toMatch(/Failed query|params:/);
  });
});

it('keeps the OAuth callback query out of the request log however the path is spelled', () => {
  // Express matches routes case-insensitively and with a trailing slash: so must the redaction.
  for (const url of [
    '/api/v1/connections/tiktok/callback?code=SECRET&state=S',
    '/api/v1/connections/tiktok/CALLBACK?code=SECRET&state=S',
    '/api/v1/connections/tiktok/callback/?code=SECRET&state=S',
  ]) {
    const logged = hideSecretQueries({ url, query: { code: 'SECRET', state: 'S' } });
    expect(JSON.stringify(logged)).not.toContain('SECRET');
  }
  expect(hideSecretQueries({ url: '/api/v1/posts?limit=5', query: { limit: '5' } }).url).toBe('/api/v1/posts?limit=5');
});
