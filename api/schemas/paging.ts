import { z } from 'zod';

/** `?limit=&cursor=` for newest-first listings; `cursor` is opaque (see api/cursor.ts). */
export function pageQuery(defaultLimit: number) {
  return z.strictObject({
    limit: z.coerce
      .number({ error: 'expected a number' })
      .int('expected a whole number')
      .min(1, 'must be from 1 to 100')
      .max(100, 'must be from 1 to 100')
      .default(defaultLimit),
    cursor: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,200}$/, 'expected the `nextCursor` of a previous page (1-200 base64url characters)')
      .optional()
      .describe('Opaque: the `nextCursor` of the previous page, unchanged'),
  });
}
