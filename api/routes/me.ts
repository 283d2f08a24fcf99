import { randomUUID } from 'node:crypto';
import { and, desc, eq, isNull, ne, sql } from 'drizzle-orm';
import express, { type Request, Router } from 'express';
import { z } from 'zod';
import { generateApiKey } from '../../auth/api-keys.js';
import { audit } from '../../auth/audit.js';
import { hashPassword } from '../../auth/passwords.js';
import { apiKeys, auditEvents, sessions, users } from '../../db/schema.js';
import { deleteAccount } from '../../privacy/delete-account.js';
import { writeExportArchive } from '../../privacy/export-archive.js';
import { safeError } from '../../runtime/errors.js';
import { type Caller, callerOf, clearSessionCookies, setSessionCookies } from '../auth.js';
import { after, isUuid, toPage } from '../cursor.js';
import type { ApiDeps } from '../deps.js';
import type { RouteDoc } from '../openapi.js';
import { Problem, parseOrThrow } from '../problem.js';
import {
  apiKeyView,
  auditEventView,
  auditQuery,
  changePasswordSchema,
  createApiKeySchema,
  createdApiKeyView,
  deleteAccountSchema,
  sessionView,
  updateProfileSchema,
  userView,
} from '../schemas/account.js';
import { verifyPasswordThrottled } from '../throttled-password.js';
import { toUserView } from './auth.js';

/** What AI can do on this installation, for composers deciding what to offer (never its keys or address). */
const aiView = z
  .object({
    drafting: z
      .enum(['ai', 'offline'])
      .describe(
        'ai: briefs are drafted by the configured AI endpoint; offline: without one, drafts are written from the brief',
      ),
    images: z
      .boolean()
      .describe(
        "A brief's generateImage will be made (an AI endpoint is configured); false: no image can be made, and a target that needs a picture is refused",
      ),
  })
  .describe('What AI can do here, so a panel offers only what will happen');
const meView = userView.extend({ ai: aiView });

export const meDocs: RouteDoc[] = [
  {
    method: 'get',
    path: '/api/v1/me',
    tag: 'Account',
    summary: 'Your profile, and what AI can do on this installation',
    responses: { 200: { description: 'Profile', schema: meView } },
  },
  {
    method: 'patch',
    path: '/api/v1/me',
    tag: 'Account',
    summary: 'Correct your name or email (email changes need currentPassword)',
    body: updateProfileSchema,
    responses: {
      200: { description: 'Updated profile', schema: userView },
      403: { description: 'An email change without the right currentPassword' },
      409: { description: 'Another account uses this email' },
      429: { description: 'Too many wrong passwords; see Retry-After' },
    },
  },
  {
    method: 'put',
    path: '/api/v1/me/password',
    tag: 'Account',
    summary: 'Change your password; every other session is signed out',
    body: changePasswordSchema,
    responses: {
      200: { description: 'Changed; a fresh session for this browser', schema: sessionView },
      403: { description: 'currentPassword is not your password' },
      429: { description: 'Too many wrong passwords; see Retry-After' },
    },
  },
  {
    method: 'get',
    path: '/api/v1/me/api-keys',
    tag: 'API keys',
    summary: 'Your API keys (never the keys themselves)',
    responses: { 200: { description: 'Keys', schema: z.object({ items: z.array(apiKeyView) }) } },
  },
  {
    method: 'post',
    path: '/api/v1/me/api-keys',
    tag: 'API keys',
    summary: 'Create an API key (needs your password); the key is shown once',
    body: createApiKeySchema,
    responses: {
      201: { description: 'Created', schema: createdApiKeyView },
      403: { description: 'password is not your password' },
      429: { description: 'Too many wrong passwords; see Retry-After' },
    },
  },
  {
    method: 'delete',
    path: '/api/v1/me/api-keys/:id',
    tag: 'API keys',
    summary: 'Revoke an API key; it stops working at once',
    responses: { 204: { description: 'Revoked' } },
  },
  {
    method: 'get',
    path: '/api/v1/me/audit',
    tag: 'Account',
    summary: 'Your security log: sign-ins, key changes, exports, with IP and time',
    query: auditQuery,
    responses: {
      200: {
        description: 'Newest first',
        schema: z.object({ items: z.array(auditEventView), nextCursor: z.string().nullable() }),
      },
    },
  },
  {
    method: 'get',
    path: '/api/v1/me/export',
    tag: 'Account',
    summary: 'Download everything held about you as a .tar.gz archive',
    responses: { 200: { description: 'The archive', contentType: 'application/gzip' } },
  },
  {
    method: 'delete',
    path: '/api/v1/me',
    tag: 'Account',
    summary:
      'Delete your account and all its data, files, campaigns and pipelines (their workflows stopped, their histories deleted)',
    body: deleteAccountSchema,
    responses: {
      204: { description: 'Deleted' },
      403: { description: 'password is not your password' },
      429: { description: 'Too many wrong passwords; see Retry-After' },
    },
  },
];

export function meRoutes(deps: ApiDeps): Router {
  const router = Router();
  const { db } = deps;
  const json = express.json({ limit: '16kb' });

  async function currentUser(caller: Caller) {
    const [user] = await db.select().from(users).where(eq(users.id, caller.userId));
    if (!user) throw new Problem(401, 'Not signed in', 'This account no longer exists');
    return user;
  }

  /** Password checks on an already signed-in account are throttled like sign-in. */
  async function confirmPassword(
    req: Request,
    user: typeof users.$inferSelect,
    password: string | undefined,
    field: string,
  ) {
    const ok =
      password !== undefined && (await verifyPasswordThrottled(db, user, password, deps.authAccountLimit, req.ip));
    if (!ok) {
      throw new Problem(403, 'Password incorrect', 'Confirm this change with your current password', [
        { field, message: password === undefined ? 'required for this change' : 'does not match' },
      ]);
    }
  }

  // As post and campaign creation decide: without an AI endpoint no image is made.
  const aiImages = deps.aiImages ?? true;
  const ai: z.infer<typeof aiView> = { drafting: aiImages ? 'ai' : 'offline', images: aiImages };

  router.get('/api/v1/me', async (req, res) => {
    res.json({ ...toUserView(await currentUser(callerOf(req))), ai });
  });

  router.patch('/api/v1/me', json, async (req, res) => {
    const caller = callerOf(req);
    const input = parseOrThrow(updateProfileSchema, req.body);
    const user = await currentUser(caller);
    const emailChanges = input.email !== undefined && input.email.toLowerCase() !== user.email.toLowerCase();
    if (emailChanges) {
      await confirmPassword(req, user, input.currentPassword, 'currentPassword');
      const [taken] = await db
        .select({ id: users.id })
        .from(users)
        .where(and(sql`lower(${users.email}) = lower(${input.email})`, ne(users.id, user.id)));
      if (taken)
        throw new Problem(409, 'Email already registered', 'Another account uses this email', [
          { field: 'email', message: 'already registered' },
        ]);
    }
    const [updated] = await db
      .update(users)
      .set({
        ...(input.name ? { name: input.name } : {}),
        ...(input.email ? { email: input.email } : {}),
        updatedAt: new Date(),
      })
      .where(eq(users.id, user.id))
      .returning();
    await audit(db, {
      userId: user.id,
      action: 'account.update',
      outcome: 'success',
      ip: req.ip,
      detail: { fields: [input.name !== undefined && 'name', input.email !== undefined && 'email'].filter(Boolean) },
    });
    res.json(toUserView(updated!));
  });

  router.put('/api/v1/me/password', json, async (req, res) => {
    const caller = callerOf(req);
    const input = parseOrThrow(changePasswordSchema, req.body);
    const user = await currentUser(caller);
    await confirmPassword(req, user, input.currentPassword, 'currentPassword');
    const passwordHash = await hashPassword(input.newPassword);
    await db.transaction(async (tx) => {
      await tx.update(users).set({ passwordHash, updatedAt: new Date() }).where(eq(users.id, user.id));
      // Every session, this one included: whoever else knew the old password is out now.
      await tx
        .update(sessions)
        .set({ revokedAt: new Date() })
        .where(and(eq(sessions.userId, user.id), isNull(sessions.revokedAt)));
    });
    await audit(db, { userId: user.id, action: 'account.password_change', outcome: 'success', ip: req.ip });
    let csrfToken: string | null = null;
    if (caller.via === 'session') {
      const session = {
        id: randomUUID(),
        userId: user.id,
        expiresAt: new Date(Date.now() + deps.sessionTtlHours * 3600_000),
      };
      await db.insert(sessions).values(session);
      csrfToken = await setSessionCookies(req, res, deps.authKeys, session);
    }
    res.json({ user: toUserView(user), csrfToken });
  });

  router.get('/api/v1/me/api-keys', async (req, res) => {
    const caller = callerOf(req);
    const rows = await db
      .select()
      .from(apiKeys)
      .where(eq(apiKeys.userId, caller.userId))
      .orderBy(desc(apiKeys.createdAt));
    res.json({ items: rows.map(toApiKeyView) });
  });

  router.post('/api/v1/me/api-keys', json, async (req, res) => {
    const caller = callerOf(req);
    const input = parseOrThrow(createApiKeySchema, req.body);
    await confirmPassword(req, await currentUser(caller), input.password, 'password');
    const generated = generateApiKey();
    const [row] = await db
      .insert(apiKeys)
      .values({
        id: randomUUID(),
        userId: caller.userId,
        name: input.name,
        prefix: generated.prefix,
        keyHash: generated.hash,
      })
      .returning();
    await audit(db, {
      userId: caller.userId,
      action: 'api_key.create',
      outcome: 'success',
      ip: req.ip,
      detail: { keyId: row!.id },
    });
    res.status(201).json({ ...toApiKeyView(row!), key: generated.key });
  });

  router.delete('/api/v1/me/api-keys/:id', async (req, res) => {
    const caller = callerOf(req);
    const id = req.params.id;
    if (!isUuid(id)) throw Problem.notFound(`API key ${id}`);
    const [row] = await db
      .update(apiKeys)
      .set({ revokedAt: sql`coalesce(${apiKeys.revokedAt}, now())` })
      .where(and(eq(apiKeys.id, id), eq(apiKeys.userId, caller.userId)))
      .returning();
    if (!row) throw Problem.notFound(`API key ${id}`);
    await audit(db, {
      userId: caller.userId,
      action: 'api_key.revoke',
      outcome: 'success',
      ip: req.ip,
      detail: { keyId: id },
    });
    res.status(204).end();
  });

  router.get('/api/v1/me/audit', async (req, res) => {
    const caller = callerOf(req);
    const { limit, cursor } = parseOrThrow(auditQuery, req.query);
    const rows = await db
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.userId, caller.userId), after(auditEvents.createdAt, auditEvents.id, cursor)))
      .orderBy(desc(auditEvents.createdAt), desc(auditEvents.id))
      .limit(limit + 1);
    res.json(
      toPage(rows, limit, (e) => ({
        id: e.id,
        action: e.action,
        outcome: e.outcome,
        ip: e.ip,
        detail: e.detail,
        createdAt: e.createdAt.toISOString(),
      })),
    );
  });

  router.get('/api/v1/me/export', async (req, res) => {
    const caller = callerOf(req);
    await audit(db, { userId: caller.userId, action: 'account.export', outcome: 'success', ip: req.ip });
    const date = new Date().toISOString().slice(0, 10);
    res.status(200);
    res.setHeader('Content-Type', 'application/gzip');
    res.setHeader('Content-Disposition', `attachment; filename="autopostpanel-export-${date}.tar.gz"`);
    res.setHeader('Cache-Control', 'no-store');
    try {
      await writeExportArchive(deps, caller.userId, res);
    } catch (err) {
      // Headers are gone: all that is left is to cut the download short so it is not taken as complete.
      req.log?.error({ err: safeError(err) }, 'export failed');
      res.destroy();
    }
  });

  router.delete('/api/v1/me', json, async (req, res) => {
    const caller = callerOf(req);
    // No body at all is a missing password, said as such.
    const input = parseOrThrow(deleteAccountSchema, req.body ?? {});
    const user = await currentUser(caller);
    await confirmPassword(req, user, input.password, 'password');
    await deleteAccount(deps, user.id);
    // Kept without the user's id: that the deletion happened, from where, and when.
    await audit(db, { userId: null, action: 'account.delete', outcome: 'success', ip: req.ip });
    clearSessionCookies(req, res);
    res.status(204).end();
  });

  return router;
}

function toApiKeyView(row: typeof apiKeys.$inferSelect) {
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    createdAt: row.createdAt.toISOString(),
    lastUsedAt: row.lastUsedAt?.toISOString() ?? null,
    revokedAt: row.revokedAt?.toISOString() ?? null,
  };
}
