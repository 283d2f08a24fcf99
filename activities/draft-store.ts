import { and, eq } from 'drizzle-orm';
import type { z } from 'zod';
import type { Database } from '../db/client.js';
import { publications } from '../db/schema.js';
import type { Draft, DraftFormat } from '../domain/drafts.js';

type Tx = Parameters<Parameters<Database['transaction']>[0]>[0];

/**
 * Checks proposed drafts (by target key) against each target's platform schema. Problems come
 * back in words, each naming the target and field ("ig.caption: must have at most 30 hashtags").
 */
export function checkDrafts(
  targets: { targetKey: string; format: DraftFormat }[],
  proposed: Record<string, unknown>,
  schemaFor: (format: DraftFormat) => z.ZodType,
): { accepted: Record<string, Draft>; problems: string[] } {
  const accepted: Record<string, Draft> = {};
  const problems: string[] = [];
  for (const [key, value] of Object.entries(proposed)) {
    const target = targets.find((t) => t.targetKey === key);
    if (!target) {
      problems.push(`${key}: this post has no such target`);
      continue;
    }
    const parsed = schemaFor(target.format).safeParse(value);
    if (parsed.success) accepted[key] = parsed.data as Draft;
    else for (const issue of parsed.error.issues) problems.push(`${[key, ...issue.path].join('.')}: ${issue.message}`);
  }
  return { accepted, problems };
}

export async function saveDrafts(tx: Tx | Database, postId: string, drafts: Record<string, Draft>): Promise<void> {
  for (const [key, draft] of Object.entries(drafts)) {
    await tx
      .update(publications)
      .set({ draft, updatedAt: new Date() })
      .where(and(eq(publications.postId, postId), eq(publications.targetKey, key)));
  }
}
