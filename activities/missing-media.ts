import { and, eq } from 'drizzle-orm';
import { postSteps, posts } from '../db/schema.js';
import type { ActivityDeps } from './deps.js';
import { IMAGE_NOTE } from './generate-drafts.js';

// A post reaches publishing without media only when its brief's image could not be made (creation
// counts that image, and refuses a post that needs media and will have none). The targets whose
// platform needs a picture fail there, each in words, and the others publish.

/**
 * Why a post whose brief asked for an image has none, ending in a space: the generate step's words
 * when it kept them; empty for a post that asked for none.
 */
export async function missingImageReason(deps: Pick<ActivityDeps, 'db'>, postId: string): Promise<string> {
  const [row] = await deps.db
    .select({ brief: posts.brief, lastError: postSteps.lastError })
    .from(posts)
    .leftJoin(postSteps, and(eq(postSteps.postId, posts.id), eq(postSteps.step, 'generate')))
    .where(eq(posts.id, postId));
  if ((row?.brief as { generateImage?: boolean } | null | undefined)?.generateImage !== true) return '';
  const reason = row?.lastError?.startsWith(IMAGE_NOTE)
    ? `No image could be generated: ${row.lastError.slice(IMAGE_NOTE.length)}`
    : 'No image could be generated for this post';
  return `${reason.replace(/\.?$/, '.')} `;
}
