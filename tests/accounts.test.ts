import { connect } from 'node:net';
import { and, eq, lt } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientOf, ipThrottleKey } from '../auth/rate-limit.js';
import { housekeepingScheduleId } from '../composition/housekeeping-schedule.js';
import { auditEvents, postActionKeys, publishingUsage } from '../db/schema.js';
import { call, expectProblem, postJson, signUp } from './helpers/api.js';
import { startTestApp, type TestApp } from './helpers/harness.js';

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp({ env: { AUDIT_RETENTION_DAYS: '30' } });
});
afterAll(async () => {
  await app?.stop();
});

function cookiesOf(res: Response): string {
  return res.headers
    .getSetCookie()
    .map((c) => c.split(';')[0])
    .join('; ');
}

async function signIn(email: string, password: string) {
  const res = await fetch(`${app.baseUrl}/api/v1/auth/sign-in`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password }),
  });
  const body = (await res.json()) as { csrfToken?: string };
  return {
    status: res.status,
    res,
    browser: { url: app.baseUrl, headers: { cookie: cookiesOf(res), 'x-csrf-token': body.csrfToken ?? '' } },
  };
}

describe('registration and sessions', () => {
  it('registers, signs in and out, and a signed-out session stops working at once', async () => {
    const user = await signUp(app.baseUrl, 'Ada');
    const session = await call(user.browser, '/api/v1/auth/session');
    expect(session.status).toBe(200);
    expect(session.body.user).toMatchObject({ id: user.id, name: 'Ada', email: user.email });
    expect(session.body.user.passwordHash).toBeUndefined();

    const signedIn = await signIn(user.email.toUpperCase(), user.password);
    expect(signedIn.status).toBe(200);
    const setCookies = signedIn.res.headers.getSetCookie();
    const sessionCookie = setCookies.find((c) => c.startsWith('app_session='))!;
    expect(sessionCookie).toMatch(/HttpOnly/i);
    expect(sessionCookie).toMatch(/SameSite=Lax/i);
    expect(sessionCookie).not.toMatch(/Secure/i); // plain http here; Secure over HTTPS
    expect(setCookies.find((c) => c.startsWith('app_csrf='))).not.toMatch(/HttpOnly/i);

    expect((await call(signedIn.browser, '/api/v1/me')).status).toBe(200);
    expect((await postJson(signedIn.browser, '/api/v1/auth/sign-out', {})).status).toBe(204);
    expectProblem(await call(signedIn.browser, '/api/v1/me'), 401);
    // The other session (from registration) is untouched.
    expect((await call(user.browser, '/api/v1/me')).status).toBe(200);
  });

  it('rejects a wrong password, a duplicate email in any case, and bad input, naming the field', async () => {
    const user = await signUp(app.baseUrl);
    expectProblem(
      await postJson(app.baseUrl, '/api/v1/auth/sign-in', { email: user.email, password: 'wrong password' }),
      401,
    );
    const dup = await postJson(app.baseUrl, '/api/v1/auth/register', {
      name: 'Copy',
      email: user.email.toUpperCase(),
      password: 'another long password',
    });
    expectProblem(dup, 409, 'email');
    expectProblem(
      await postJson(app.baseUrl, '/api/v1/auth/register', {
        name: 'X',
        email: 'not-an-email',
        password: 'long enough pw',
      }),
      422,
      'email',
    );
    expectProblem(
      await postJson(app.baseUrl, '/api/v1/auth/register', { name: 'X', email: 'x@example.test', password: 'short' }),
      422,
      'password',
    );
    expectProblem(await call(app.baseUrl, '/api/v1/me'), 401);
    expectProblem(await call({ url: app.baseUrl, headers: { authorization: 'Basic abc' } }, '/api/v1/me'), 401);
  });

  it('changing the password ends every session and issues a fresh one to the browser that changed it', async () => {
    const user = await signUp(app.baseUrl);
    const other = await signIn(user.email, user.password);
    expect((await call(other.browser, '/api/v1/me')).status).toBe(200);

    const wrong = await postJson(
      user.browser,
      '/api/v1/me/password',
      { currentPassword: 'nope', newPassword: 'a brand new password' },
      {},
      'PUT',
    );
    expectProblem(wrong, 403, 'currentPassword');
    const changed = await fetch(`${app.baseUrl}/api/v1/me/password`, {
      method: 'PUT',
      headers: { ...user.browser.headers, 'content-type': 'application/json' },
      body: JSON.stringify({ currentPassword: user.password, newPassword: 'a brand new password' }),
    });
    expect(changed.status).toBe(200);
    const { csrfToken } = (await changed.json()) as { csrfToken: string };
    expectProblem(await call(other.browser, '/api/v1/me'), 401);
    expectProblem(await call(user.browser, '/api/v1/me'), 401);
    const fresh = { url: app.baseUrl, headers: { cookie: cookiesOf(changed), 'x-csrf-token': csrfToken } };
    expect((await call(fresh, '/api/v1/me')).status).toBe(200);
    // API keys are not sessions: they keep working.
    expect((await call(user.api, '/api/v1/me')).status).toBe(200);
    expect((await signIn(user.email, user.password)).status).toBe(401);
    expect((await signIn(user.email, 'a brand new password')).status).toBe(200);
  });

  it('corrects the profile; an email change needs the password', async () => {
    const user = await signUp(app.baseUrl);
    const renamed = await postJson(user.api, '/api/v1/me', { name: 'Grace Hopper' }, {}, 'PATCH');
    expect(renamed.body).toMatchObject({ name: 'Grace Hopper', email: user.email });
    const newEmail = `new.${user.email}`;
    expectProblem(await postJson(user.api, '/api/v1/me', { email: newEmail }, {}, 'PATCH'), 403, 'currentPassword');
    const moved = await postJson(
      user.api,
      '/api/v1/me',
      { email: newEmail, currentPassword: user.password },
      {},
      'PATCH',
    );
    expect(moved.body.email).toBe(newEmail);
    expect((await signIn(newEmail, user.password)).status).toBe(200);
  });
});

describe('CSRF', () => {
  it('refuses a state-changing cookie request without the token, and accepts it with the token', async () => {
    const user = await signUp(app.baseUrl);
    const cookieOnly = { url: app.baseUrl, headers: { cookie: user.browser.headers.cookie! } };
    const before = await call(user.api, '/api/v1/me/api-keys');
    expectProblem(await postJson(cookieOnly, '/api/v1/me/api-keys', { name: 'sneaky' }), 403, 'x-csrf-token');
    expectProblem(
      await postJson(
        { url: app.baseUrl, headers: { ...cookieOnly.headers, 'x-csrf-token': 'forged' } },
        '/api/v1/me/api-keys',
        { name: 'sneaky' },
      ),
      403,
    );
    expectProblem(
      await postJson(cookieOnly, '/api/v1/posts', { caption: 'x', targets: [{ type: 'local_export' }] }),
      403,
    );
    expect((await call(user.api, '/api/v1/me/api-keys')).body.items).toHaveLength(before.body.items.length);
    // Reads need no token; API-key requests need none either.
    expect((await call(cookieOnly, '/api/v1/me')).status).toBe(200);
    expect(
      (await postJson(user.browser, '/api/v1/me/api-keys', { name: 'with token', password: user.password })).status,
    ).toBe(201);
  });
});

describe('API keys', () => {
  it('are shown once, listed without the secret, and stop working at once when revoked', async () => {
    const user = await signUp(app.baseUrl);
    expectProblem(await postJson(user.api, '/api/v1/me/api-keys', { name: 'no password' }), 422, 'password');
    expectProblem(
      await postJson(user.api, '/api/v1/me/api-keys', { name: 'stolen session', password: 'guess' }),
      403,
      'password',
    );
    const created = await postJson(user.api, '/api/v1/me/api-keys', { name: 'deploy script', password: user.password });
    expect(created.status).toBe(201);
    const key = created.body.key as string;
    expect(key).toMatch(/^app_[A-Za-z0-9_-]{40,}$/);
    const asKey = { url: app.baseUrl, headers: { authorization: `Bearer ${key}` } };
    expect((await call(asKey, '/api/v1/me')).body.id).toBe(user.id);

    const listed = await call(user.api, '/api/v1/me/api-keys');
    expect(JSON.stringify(listed.body)).not.toContain(key);
    expect(listed.body.items.find((k: { id: string }) => k.id === created.body.id)).toMatchObject({
      name: 'deploy script',
      prefix: key.slice(0, 10),
      revokedAt: null,
    });

    const revoked = await call(user.api, `/api/v1/me/api-keys/${created.body.id}`, { method: 'DELETE' });
    expect(revoked.status).toBe(204);
    expectProblem(await call(asKey, '/api/v1/me'), 401);
    expectProblem(await postJson(asKey, '/api/v1/posts', { caption: 'x', targets: [{ type: 'local_export' }] }), 401);
  });
});

describe('throttling', () => {
  it('refuses the 11th rapid failed sign-in for an account from one address, even with the right password', async () => {
    const user = await signUp(app.baseUrl);
    for (let i = 1; i <= 10; i++) expect((await signIn(user.email, `wrong ${i}`)).status).toBe(401);
    const eleventh = await signIn(user.email, 'wrong 11');
    expect(eleventh.status).toBe(429);
    expect(Number(eleventh.res.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(eleventh.res.headers.get('content-type')).toMatch(/problem\+json/);
    expect((await signIn(user.email, user.password)).status).toBe(429);
    // Another account is not affected.
    const other = await signUp(app.baseUrl);
    expect((await signIn(other.email, other.password)).status).toBe(200);
  });

  it("keeps the owner's way in while guesses from other addresses hammer the account", async () => {
    // Addresses come from X-Forwarded-For, as behind the one proxy this app is told about.
    const limited = await startTestApp({ env: { TRUST_PROXY: '1', AUTH_ACCOUNT_LIMIT: '3' } });
    const from = (ip: string) => ({ 'x-forwarded-for': ip });
    const signInFrom = (ip: string, email: string, password: string) =>
      postJson(limited.baseUrl, '/api/v1/auth/sign-in', { email, password }, from(ip)).then((r) => r.status);
    try {
      const owner = { email: `owner.${Date.now()}@example.test`, password: 'the owner knows this one' };
      const home = '198.51.100.7';
      const registered = await postJson(
        limited.baseUrl,
        '/api/v1/auth/register',
        { name: 'Owner', ...owner },
        from(home),
      );
      expect(registered.status).toBe(201);
      expect(await signInFrom(home, owner.email, owner.password)).toBe(200);

      // One attacker address: three guesses, then refused, whatever it sends.
      const attacker = '203.0.113.66';
      const statuses: number[] = [];
      for (let i = 0; i < 8; i++) statuses.push(await signInFrom(attacker, owner.email, `guess ${i}`));
      expect(statuses).toEqual([401, 401, 401, 429, 429, 429, 429, 429]);
      expect(await signInFrom(attacker, owner.email, owner.password)).toBe(429);
      // The owner, from home, is not held up.
      expect(await signInFrom(home, owner.email, owner.password)).toBe(200);

      // Guessing spread over many addresses meets the slower global cap (30 here)...
      let capped = false;
      for (let a = 1; a <= 12 && !capped; a++) {
        for (let i = 0; i < 3; i++) {
          if ((await signInFrom(`192.0.2.${a}`, owner.email, `spread guess ${a}.${i}`)) === 429) capped = true;
        }
      }
      expect(capped).toBe(true);
      // ...which then holds for every address the account never signed in from, right password or not,
      expect(await signInFrom('192.0.2.200', owner.email, owner.password)).toBe(429);
      // but not for the owner at a familiar address.
      expect(await signInFrom(home, owner.email, owner.password)).toBe(200);
      // And the owner's own typo from home counts against home alone.
      expect(await signInFrom(home, owner.email, 'typo')).toBe(401);
      expect(await signInFrom(home, owner.email, owner.password)).toBe(200);
    } finally {
      await limited.stop();
    }
  });

  it('counts parallel guesses too: at most the limit get through', async () => {
    const user = await signUp(app.baseUrl);
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) => signIn(user.email, `parallel guess ${i}`).then((r) => r.status)),
    );
    expect(results.filter((s) => s === 401).length).toBeLessThanOrEqual(10);
    expect(results.filter((s) => s === 429).length).toBeGreaterThanOrEqual(20);
  });

  it('believes X-Forwarded-For only from the proxies it was told about', async () => {
    const limited = await startTestApp({ env: { AUTH_IP_LIMIT: '3' } });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) {
        const res = await postJson(
          limited.baseUrl,
          '/api/v1/auth/sign-in',
          { email: `spoof${i}@example.test`, password: 'whatever' },
          { 'x-forwarded-for': `203.0.113.${i}` },
        );
        statuses.push(res.status);
      }
      expect(statuses).toEqual([401, 401, 401, 429, 429]);
    } finally {
      await limited.stop();
    }
  });

  it('counts every address of an IPv6 /64 as one client, however it is written', () => {
    // One home or server holds the whole /64 and may send from any address in it.
    const one = ['2001:db8:1:2::1', '2001:0db8:0001:0002:ffff:1:2:3', '2001:DB8:1:2:0:0:0:9', '2001:db8:1:2::1%eth0'];
    expect(new Set(one.map(ipThrottleKey))).toEqual(new Set(['auth:ip:2001:db8:1:2::/64']));
    expect(clientOf('2001:db8:1:3::1')).not.toBe(clientOf('2001:db8:1:2::1'));
    expect(clientOf('::1')).toBe('0:0:0:0::/64');
    expect(clientOf('fe80::1')).toBe('fe80:0:0:0::/64');
    // IPv4, plain or mapped into IPv6, is one address per client.
    expect(clientOf('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(clientOf('203.0.113.7')).not.toBe(clientOf('203.0.113.8'));
    expect(clientOf(undefined)).toBe('unknown');
  });

  it('limits sign-in and registration attempts per IP address', async () => {
    const limited = await startTestApp({ env: { AUTH_IP_LIMIT: '5' } });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 6; i++) {
        const res = await postJson(limited.baseUrl, '/api/v1/auth/sign-in', {
          email: `nobody${i}@example.test`,
          password: 'whatever',
        });
        statuses.push(res.status);
      }
      expect(statuses).toEqual([401, 401, 401, 401, 401, 429]);
      const register = await postJson(limited.baseUrl, '/api/v1/auth/register', {
        name: 'N',
        email: 'n@example.test',
        password: 'long enough pw',
      });
      expect(register.status).toBe(429);
    } finally {
      await limited.stop();
    }
  });
});

describe('security headers and limits', () => {
  it('answers 408 and closes the connection when a body trickles in past its deadline', async () => {
    const slow = await startTestApp({ env: { REQUEST_BODY_TIMEOUT_SECONDS: '1' } });
    try {
      const { port } = new URL(slow.baseUrl);
      const socket = connect(Number(port), '127.0.0.1');
      let answer = '';
      socket.on('data', (chunk) => {
        answer += chunk.toString();
      });
      const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
      socket.write(
        'POST /api/v1/auth/sign-in HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"em',
      );
      // A byte now and then, as a slow client would: never the whole body.
      const trickle = setInterval(() => socket.write(' '), 300);
      const started = Date.now();
      await closed;
      clearInterval(trickle);
      expect(answer).toMatch(/^HTTP\/1\.1 408 /);
      expect(answer).toContain('application/problem+json');
      expect(answer).toContain('did not arrive within 1 s');
      expect(Date.now() - started).toBeLessThan(10_000);
      // The server goes on answering.
      expect((await call(slow.baseUrl, '/healthz')).status).toBe(200);
    } finally {
      await slow.stop();
    }
  });

  it('sends security headers and refuses oversized JSON bodies', async () => {
    const res = await fetch(`${app.baseUrl}/healthz`);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(res.headers.get('x-frame-options')).toBe('SAMEORIGIN');
    expect(res.headers.get('x-powered-by')).toBeNull();
    const huge = await postJson(app.baseUrl, '/api/v1/auth/sign-in', {
      email: 'a@b.test',
      password: 'x'.repeat(100_000),
    });
    expectProblem(huge, 413);
  });
});

describe('audit log', () => {
  it('records security events with IP and time; a user reads only their own', async () => {
    const user = await signUp(app.baseUrl);
    await signIn(user.email, 'wrong password');
    await signIn(user.email, user.password);
    const exported = await fetch(`${app.baseUrl}/api/v1/me/export`, { headers: user.api.headers });
    await exported.arrayBuffer();
    const other = await signUp(app.baseUrl);

    const log = await call(user.api, '/api/v1/me/audit');
    const actions = log.body.items.map((e: { action: string; outcome: string }) => `${e.action}:${e.outcome}`);
    expect(actions).toEqual([
      'account.export:success',
      'session.sign_in:success',
      'session.sign_in:failure',
      'api_key.create:success',
      'account.register:success',
    ]);
    for (const entry of log.body.items) {
      expect(entry.ip).toMatch(/127\.0\.0\.1/);
      expect(Date.parse(entry.createdAt)).toBeGreaterThan(Date.now() - 60_000);
    }
    const theirs = await call(other.api, '/api/v1/me/audit');
    expect(theirs.body.items.map((e: { id: string }) => e.id)).not.toEqual(
      expect.arrayContaining([log.body.items[0].id]),
    );
    const page = await call(user.api, '/api/v1/me/audit?limit=2');
    expect(page.body.items).toHaveLength(2);
    const rest = await call(user.api, `/api/v1/me/audit?limit=10&cursor=${page.body.nextCursor}`);
    expect([...page.body.items, ...rest.body.items].map((e: { id: string }) => e.id)).toEqual(
      log.body.items.map((e: { id: string }) => e.id),
    );
  });

  it('drops entries past the retention period when the scheduled housekeeping runs', async () => {
    const user = await signUp(app.baseUrl);
    const old = new Date(Date.now() - 31 * 24 * 3600_000);
    await app.db.insert(auditEvents).values({
      id: crypto.randomUUID(),
      userId: user.id,
      action: 'session.sign_in',
      outcome: 'success',
      ip: '127.0.0.1',
      createdAt: old,
    });
    const oldRows = () =>
      app.db
        .select()
        .from(auditEvents)
        .where(
          and(eq(auditEvents.userId, user.id), lt(auditEvents.createdAt, new Date(Date.now() - 30 * 24 * 3600_000))),
        );
    expect(await oldRows()).toHaveLength(1);

    const schedule = app.temporal.schedule.getHandle(housekeepingScheduleId(app.taskQueue));
    const description = await schedule.describe();
    expect(description.spec.intervals?.[0]?.every).toBe(3600_000);
    await schedule.trigger();
    const deadline = Date.now() + 20_000;
    while ((await oldRows()).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    expect(await oldRows()).toHaveLength(0);
    // Recent entries stay.
    expect((await call(user.api, '/api/v1/me/audit')).body.items.length).toBeGreaterThan(0);
  });

  it("forgets post actions' Idempotency-Keys once no client would still retry them", async () => {
    const user = await signUp(app.baseUrl);
    const created = await postJson(user.api, '/api/v1/posts', {
      caption: 'Keys are kept for a week',
      targets: [{ type: 'local_export' }],
      publishAt: new Date(Date.now() + 3600_000).toISOString(),
    });
    expect(created.status).toBe(201);
    const postId = created.body.id as string;
    const key = (name: string, ageDays: number) => ({
      ownerId: user.id,
      key: name,
      postId,
      action: 'reschedule',
      requestHash: name,
      createdAt: new Date(Date.now() - ageDays * 24 * 3600_000),
    });
    await app.db.insert(postActionKeys).values([key('old', 8), key('recent', 1)]);
    await app.temporal.schedule.getHandle(housekeepingScheduleId(app.taskQueue)).trigger();
    const keys = () => app.db.select().from(postActionKeys).where(eq(postActionKeys.postId, postId));
    const deadline = Date.now() + 20_000;
    while ((await keys()).length > 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    expect((await keys()).map((k) => k.key)).toEqual(['recent']);
  });

  it('forgets publishing spends and paced calls once no budget window can count them', async () => {
    const user = await signUp(app.baseUrl);
    const created = await postJson(user.api, '/api/v1/posts', {
      caption: 'Spends are kept while a window can count them',
      targets: [{ type: 'local_export' }],
      publishAt: new Date(Date.now() + 3600_000).toISOString(),
    });
    expect(created.status).toBe(201);
    const postId = created.body.id as string;
    const budget = `tiktok-post:${postId}`;
    const hoursAgo = (hours: number) => new Date(Date.now() - hours * 3600_000);
    await app.db.insert(publishingUsage).values([
      // A spend older than any window (a day; YouTube's Pacific day at most 25 hours) and one inside it.
      { budget, amount: 1, at: hoursAgo(72), postId, targetKey: 'old' },
      { budget, amount: 1, at: hoursAgo(20), postId, targetKey: 'recent' },
      // Paced calls (no post) of a connection that never called again.
      { budget, amount: 1, at: hoursAgo(72), postId: null, targetKey: 'call' },
    ]);
    await app.temporal.schedule.getHandle(housekeepingScheduleId(app.taskQueue)).trigger();
    const rows = () => app.db.select().from(publishingUsage).where(eq(publishingUsage.budget, budget));
    const deadline = Date.now() + 20_000;
    while ((await rows()).length > 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    expect((await rows()).map((r) => r.targetKey)).toEqual(['recent']);
  });
});
