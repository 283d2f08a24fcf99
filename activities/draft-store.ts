import { and, eq } from 'drizzle-orm';
import type { z } from 'zod';
import type { Database } from '../db/client.js';
import { publications } from '../db/schema.js';
import type { Draft, DraftFormat, DraftProblem } from '../domain/drafts.js';

type Tx = Parameters<Parameters<Database['transaction']>[0]>[0];

/** Checks proposed drafts (by target key) against each target's platform schema. */
export function checkDrafts(
  targets: { targetKey: string; format: DraftFormat }[],
  proposed: Record<string, unknown>,
  schemaFor: (format: DraftFormat) => z.ZodType,
): { accepted: Record<string, Draft>; problems: DraftProblem[] } {
  const accepted: Record<string, Draft> = {};
  const problems: DraftProblem[] = [];
  for (const [key, value] of Object.entries(proposed)) {
    const target = targets.find((t) => t.targetKey === key);
    if (!target) {
      problems.push({ target: key, path: '', message: 'this post has no such target' });
      continue;
    }
    const parsed = schemaFor(target.format).safeParse(value);
    if (parsed.success) accepted[key] = parsed.data as Draft;
    else
      for (const issue of parsed.error.issues)
        problems.push({ target: key, path: issue.path.map(String).join('.'), message: issue.message });
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
