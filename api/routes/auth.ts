import { randomUUID } from 'node:crypto';
import { count, eq, isNull, sql } from 'drizzle-orm';
import express, { type Request, type Response, Router } from 'express';
import { audit } from '../../auth/audit.js';
import { hashPassword } from '../../auth/passwords.js';
import { hit, ipThrottleKey, registerThrottleKey } from '../../auth/rate-limit.js';
import { csrfTokenFor } from '../../auth/secrets.js';
import { media, posts, sessions, users } from '../../db/schema.js';
import { callerOf, clearSessionCookies, requireCaller, setSessionCookies } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import type { RouteDoc } from '../openapi.js';
import { Problem, parseOrThrow } from '../problem.js';
import { registerSchema, sessionView, signInSchema } from '../schemas/account.js';
import { tooManyAttempts, verifyPasswordThrottled } from '../throttled-password.js';

export const authDocs: RouteDoc[] = [
  {
    method: 'post',
    path: '/api/v1/auth/register',
    tag: 'Account',
    summary: 'Create an account and sign in',
    auth: false,
    body: registerSchema,
    responses: {
      201: { description: 'Signed in; session and CSRF cookies set', schema: sessionView },
      409: { description: 'An account with this email exists (in any letter case)' },
      429: { description: 'Too many registrations from this address or for this email; see Retry-After' },
    },
  },
  {
    method: 'post',
    path: '/api/v1/auth/sign-in',
    tag: 'Account',
    summary: 'Sign in with email and password',
    auth: false,
    body: signInSchema,
    responses: {
      200: { description: 'Signed in; session and CSRF cookies set', schema: sessionView },
      401: { description: 'The email or password is incorrect (the answer does not say which)' },
      429: {
        description:
          'Too many attempts from this address, or from this address for this account; see Retry-After. The owner signing in from an address they used before is not held up by guesses from elsewhere.',
      },
    },
  },
  {
    method: 'post',
    path: '/api/v1/auth/sign-out',
    tag: 'Account',
    summary: 'Sign out: the session is revoked at once',
    responses: { 204: { description: 'Signed out' } },
  },
  {
    method: 'get',
    path: '/api/v1/auth/session',
    tag: 'Account',
    summary: 'Who is signed in, and the CSRF token for this session',
    responses: { 200: { description: 'The caller', schema: sessionView } },
  },
];

export function toUserView(user: typeof users.$inferSelect) {
  return { id: user.id, name: user.name, email: user.email, createdAt: user.createdAt.toISOString() };
}

export function authRoutes(deps: ApiDeps): Router {
  const router = Router();
  const { db } = deps;
  const json = express.json({ limit: '16kb' });

  async function startSession(req: Request, res: Response, userId: string) {
    const session = {
      id: randomUUID(),
      userId,
      expiresAt: new Date(Date.now() + deps.sessionTtlHours * 3600_000),
    };
    await db.insert(sessions).values(session);
    return setSessionCookies(req, res, deps.authKeys, session);
  }

  async function throttle(key: string, limit: number) {
    const decision = await hit(db, key, limit);
    if (!decision.allowed) throw tooManyAttempts(decision.retryAfterSeconds);
  }

  router.post('/api/v1/auth/register', json, async (req, res) => {
    await throttle(ipThrottleKey(req.ip), deps.authIpLimit);
    const input = parseOrThrow(registerSchema, req.body);
    // Also per address, so "already registered" answers cannot be farmed to list accounts.
    await throttle(registerThrottleKey(input.email), deps.authAccountLimit);
    const passwordHash = await hashPassword(input.password);
    const id = randomUUID();
    const user = await db.transaction(async (tx) => {
      const [taken] = await tx
        .select({ id: users.id })
        .from(users)
        .where(sql`lower(${users.email}) = lower(${input.email})`);
      if (taken)
        throw new Problem(409, 'Email already registered', 'An account with this email exists; sign in instead', [
          { field: 'email', message: 'already registered' },
        ]);
      const [{ n }] = (await tx.select({ n: count() }).from(users)) as [{ n: number }];
      const [row] = await tx
        .insert(users)
        .values({ id, name: input.name, email: input.email, passwordHash })
        .returning();
      if (n === 0) {
        // Posts and media made before accounts existed belong to the first account.
        await tx.update(media).set({ ownerId: id }).where(isNull(media.ownerId));
        await tx.update(posts).set({ ownerId: id }).where(isNull(posts.ownerId));
      }
      return row!;
    });
    await audit(db, { userId: user.id, action: 'account.register', outcome: 'success', ip: req.ip });
    const csrfToken = await startSession(req, res, user.id);
    res.status(201).json({ user: toUserView(user), csrfToken });
  });

  router.post('/api/v1/auth/sign-in', json, async (req, res) => {
    await throttle(ipThrottleKey(req.ip), deps.authIpLimit);
    const input = parseOrThrow(signInSchema, req.body);
    const [user] = await db.select().from(users).where(sql`lower(${users.email}) = lower(${input.email})`);
    const ok = await verifyPasswordThrottled(
      db,
      { id: user?.id, email: input.email, passwordHash: user?.passwordHash },
      input.password,
      deps.authAccountLimit,
      req.ip,
    );
    if (!user || !ok) {
      await audit(db, { userId: user?.id ?? null, action: 'session.sign_in', outcome: 'failure', ip: req.ip });
      throw new Problem(401, 'Sign-in failed', 'The email or password is incorrect');
    }
    await audit(db, { userId: user.id, action: 'session.sign_in', outcome: 'success', ip: req.ip });
    const csrfToken = await startSession(req, res, user.id);
    res.json({ user: toUserView(user), csrfToken });
  });

  router.post('/api/v1/auth/sign-out', requireCaller, async (req, res) => {
    const caller = callerOf(req);
    if (caller.sessionId) {
      await db.update(sessions).set({ revokedAt: new Date() }).where(eq(sessions.id, caller.sessionId));
      await audit(db, { userId: caller.userId, action: 'session.sign_out', outcome: 'success', ip: req.ip });
    }
    clearSessionCookies(req, res);
    res.status(204).end();
  });

  router.get('/api/v1/auth/session', requireCaller, async (req, res) => {
    const caller = callerOf(req);
    const [user] = await db.select().from(users).where(eq(users.id, caller.userId));
    if (!user) throw new Problem(401, 'Not signed in', 'This account no longer exists');
    res.json({
      user: toUserView(user),
      csrfToken: caller.sessionId ? csrfTokenFor(deps.authKeys, caller.sessionId) : null,
    });
  });

  return router;
}
