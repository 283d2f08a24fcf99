import { z } from 'zod';
import { pageQuery } from './paging.js';
import { storableText } from './text.js';

const email = z
  .email({ error: 'expected an email address' })
  .max(254, 'must be at most 254 characters')
  // RFC 5321: mail servers need not accept a longer local part.
  .refine((v) => v.lastIndexOf('@') <= 64, 'the part before "@" must be at most 64 characters')
  .transform((v) => v.trim());
const name = storableText().trim().min(1, 'must not be empty').max(100, 'must be at most 100 characters');
const newPassword = storableText().min(10, 'must be at least 10 characters').max(200, 'must be at most 200 characters');
const password = storableText().min(1, 'required').max(200, 'must be at most 200 characters');

export const registerSchema = z.strictObject({ name, email, password: newPassword });
export const signInSchema = z.strictObject({ email, password });
export const updateProfileSchema = z
  .strictObject({
    name: name.optional(),
    email: email.optional(),
    /** Needed to change the email address. */
    currentPassword: password.optional(),
  })
  .refine((v) => v.name !== undefined || v.email !== undefined, { message: 'send a new name or email', path: [] });
export const changePasswordSchema = z.strictObject({ currentPassword: password, newPassword });
export const deleteAccountSchema = z.strictObject({ password });
export const createApiKeySchema = z.strictObject({
  /** A stolen session alone must not be able to mint a key that outlives it. */
  password,
  name: storableText().trim().min(1, 'must not be empty').max(100, 'must be at most 100 characters'),
});
export const auditQuery = pageQuery(50);

export const userView = z.object({
  id: z.uuid(),
  name: z.string(),
  email: z.string(),
  createdAt: z.iso.datetime(),
});
export const sessionView = z.object({ user: userView, csrfToken: z.string().nullable() });
export const apiKeyView = z.object({
  id: z.uuid(),
  name: z.string(),
  prefix: z.string(),
  createdAt: z.iso.datetime(),
  lastUsedAt: z.iso.datetime().nullable(),
  revokedAt: z.iso.datetime().nullable(),
});
export const createdApiKeyView = apiKeyView.extend({ key: z.string().describe('Shown once; store it now') });
export const auditEventView = z.object({
  id: z.uuid(),
  action: z.string(),
  outcome: z.enum(['success', 'failure']),
  ip: z.string().nullable(),
  detail: z.record(z.string(), z.unknown()).nullable(),
  createdAt: z.iso.datetime(),
});
