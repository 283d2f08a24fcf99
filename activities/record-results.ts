import { eq, type SQL, sql } from 'drizzle-orm';
import { queryRows } from '../db/client.js';
import { postSteps, posts, publications } from '../db/schema.js';
import { finalStatus, type PostStatus, type TargetOutcome } from '../domain/pipeline.js';
import type { ActivityDeps } from './deps.js';
import { livePostOrRetrying } from './live-post.js';

/** Writes the pipeline's end state: the post's status, each step's, and each failed target's error. */
export function createRecordResults(deps: ActivityDeps) {
  const { db, logger } = deps;

  return async function recordResults({
    postId,
    outcomes,
    renderError,
    generateError,
    retry,
  }: {
    postId: string;
    outcomes: TargetOutcome[];
    renderError?: string;
    /** Drafting failed for good: nothing was rendered or published. */
    generateError?: string;
    /** After a retry in the post's open retry window, where `partially_published` is not final yet. */
    retry?: boolean;
  }): Promise<PostStatus> {
    const status = finalStatus(outcomes);
    const failures = outcomes.filter((o) => !o.ok);
    const error = generateError
      ? `Drafting failed: ${generateError}`
      : renderError
        ? `Rendering media failed: ${renderError}`
        : failures.length > 0
          ? failures
              // A target keyed by its platform's name already says it ("youtube: ..."): once is enough.
              .map((f) => (f.error?.startsWith(`${f.key}: `) ? f.error : `${f.key}: ${f.error ?? 'failed'}`))
              .join('; ')
          : null;
    const now = new Date();

    const record: StepChange = { step: 'record', status: 'succeeded' };
    const steps: StepChange[] = generateError
      ? [
          { step: 'generate', status: 'failed', lastError: generateError },
          ...(['review', 'schedule', 'render', 'publish'] as const).map(
            (step): StepChange => ({ step, status: 'skipped' }),
          ),
          record,
        ]
      : renderError
        ? [{ step: 'render', status: 'failed', lastError: renderError }, { step: 'publish', status: 'skipped' }, record]
        : [{ step: 'publish', status: status === 'failed' ? 'failed' : 'succeeded', lastError: error }, record];

    // One statement: the post's own update takes the row's lock and, guarded by
    // livePostOrRetrying, says whether the post has ended already (then nothing else is written).
    const at = sql`${now.toISOString()}::timestamptz`;
    const live = db
      .update(posts)
      .set({ status, error, updatedAt: now })
      .where(livePostOrRetrying(postId, retry))
      .returning({ id: posts.id });
    const [row] = await queryRows<{ live: number }>(
      db,
      sql`
      with live as (${live.getSQL()}),
      steps as (${stepsUpdate(postId, at, steps)} and exists (select 1 from live))
      ${failures.length > 0 ? sql`, failed as (${failedTargets(postId, at, failures, renderError)} and exists (select 1 from live))` : sql``}
      select count(*)::int as live from live`,
    );
    // The post has ended already: it keeps its recorded end, whatever this run says.
    const ended = Number(row?.live ?? 0) > 0 ? undefined : await endedStatus(db, postId, status);
    if (ended) {
      logger.warn({ postId, status: ended, ignored: status }, 'results for a post that has ended were not recorded');
      return ended;
    }
    logger.info({ postId, status }, 'pipeline finished');
    return status;
  };
}

interface StepChange {
  step: 'generate' | 'review' | 'schedule' | 'render' | 'publish' | 'record';
  status: 'succeeded' | 'failed' | 'skipped';
  /** Left as it is when not given. */
  lastError?: string | null;
}

/** `when k then v ...` for a `case` over a text column, one branch per key. */
function whenText(branches: [key: string, value: SQL][]): SQL {
  return sql.join(
    branches.map(([key, value]) => sql`when ${key}::text then ${value}`),
    sql` `,
  );
}

/** The keys as a list of text values, for `in (...)`. */
function textList(keys: string[]): SQL {
  return sql.join(
    keys.map((key) => sql`${key}::text`),
    sql`, `,
  );
}

/** Ends several steps of the post (an update, for the statement recordResults makes). */
function stepsUpdate(postId: string, at: SQL, changes: StepChange[]): SQL {
  const statusCase = whenText(changes.map((c) => [c.step, sql`${c.status}::text`]));
  const errorCase = whenText(
    changes.map((c) => [c.step, c.lastError !== undefined ? sql`${c.lastError}::text` : sql`last_error`]),
  );
  return sql`
    update ${postSteps}
    set status = case step ${statusCase} end, finished_at = ${at}, last_error = case step ${errorCase} end
    where post_id = ${postId}::uuid and step in (${textList(changes.map((c) => c.step))})`;
}

/**
 * Marks the failed targets failed with their errors (an update, for the same statement). A target
 * published meanwhile stays published; "outcome unknown" stays until a person confirms or retries it.
 */
function failedTargets(postId: string, at: SQL, failures: TargetOutcome[], renderError: string | undefined): SQL {
  const errorCase = whenText(failures.map((f) => [f.key, sql`${f.error ?? renderError ?? 'failed'}::text`]));
  return sql`
    update ${publications}
    set status = 'failed', last_error = case target_key ${errorCase} end, updated_at = ${at}
    where post_id = ${postId}::uuid and target_key in (${textList(failures.map((f) => f.key))}) and status not in ('published', 'unknown')`;
}

async function endedStatus(db: ActivityDeps['db'], postId: string, fallback: PostStatus): Promise<PostStatus> {
  const [row] = await db.select({ status: posts.status }).from(posts).where(eq(posts.id, postId));
  return row?.status ?? fallback;
}
