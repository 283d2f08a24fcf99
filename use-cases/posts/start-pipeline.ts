import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/client';
import type { Priority } from '@temporalio/common';
import { eq, sql } from 'drizzle-orm';
import type { Database } from '../../db/client.js';
import { posts } from '../../db/schema.js';
import { UnavailableError } from '../../domain/errors.js';
import { DEFAULT_RENDER_LEAD_MINUTES, type PostPipelineInput, priorityFor } from '../../domain/pipeline.js';
import { pipelineSummary } from '../../domain/pipeline-summary.js';
import { OwnerIdAttribute, PostIdAttribute, PostStatusAttribute } from '../../domain/search-attributes.js';
import type { postPipeline } from '../../workflows/post-pipeline.js';
import {
  isTemporalUnavailable,
  TEMPORAL_RETRY_AFTER_SECONDS,
  type TemporalAccess,
  withTemporalDeadline,
} from '../temporal-calls.js';
import type { PipelineToStart } from './create-post.js';

export interface StartPipelineDeps extends TemporalAccess {
  db: Database;
  taskQueue: string;
  /** False on servers without custom search attributes (the time-skipping test server). */
  searchAttributes: boolean;
}

/**
 * The first workflow task's priority, by the same rule as the pipeline's own tasks
 * (domain/pipeline.ts priorityFor): a post due soon is dispatched before far ones when the task
 * queue has a backlog, so a burst of far-ahead posts never delays a near one.
 */
export function pipelinePriority(input: PostPipelineInput, now = Date.now()): Priority {
  const leadMs = (input.renderLeadMinutes ?? DEFAULT_RENDER_LEAD_MINUTES) * 60_000;
  return { priorityKey: priorityFor(input.publishAt, now, leadMs) };
}

/**
 * The workflow options a post's pipeline is started with, top-level or as a campaign's child: the
 * id derived from the post, its search attributes, priority and static summary. Plain data: a
 * campaign's activity returns it (after createPost) for the workflow's startChild, then records the
 * start with markPipelineStarted.
 */
export function pipelineStartOptions(pipeline: PipelineToStart, searchAttributes: boolean) {
  const { post, input } = pipeline;
  return {
    workflowId: pipeline.workflowId,
    args: [input] as [typeof input],
    priority: pipelinePriority(input),
    // What the operator reads in the Temporal UI's list and on the workflow page.
    ...pipelineSummary({
      caption: post.caption,
      brief: post.brief,
      targets: input.targets,
      publishAt: input.publishAt ?? null,
      timeZone: post.timeZone,
    }),
    ...(searchAttributes
      ? {
          typedSearchAttributes: [
            { key: PostIdAttribute, value: post.id },
            ...(post.ownerId ? [{ key: OwnerIdAttribute, value: post.ownerId }] : []),
            { key: PostStatusAttribute, value: post.status },
          ],
        }
      : {}),
  };
}

/**
 * Starts a saved post's pipeline as a top-level workflow and records that Temporal confirmed it.
 * When Temporal does not answer, the start may or may not have happened: the post stays, marked
 * unconfirmed, and is started by the API's sweep (start-unconfirmed.ts) or a repeat with the same
 * Idempotency-Key, whichever comes first.
 */
export async function startPipeline(deps: StartPipelineDeps, pipeline: PipelineToStart): Promise<void> {
  try {
    await launchPipeline(deps, pipeline);
  } catch (err) {
    await settleFailedStart(deps, pipeline, err);
  }
  await markPipelineStarted(deps.db, pipeline.post.id);
}

/**
 * Asks Temporal for the post's pipeline, within the call deadline. Starting it again is harmless:
 * a repeat joins the running pipeline or finds the ended one, never a second run.
 */
export async function launchPipeline(deps: StartPipelineDeps, pipeline: PipelineToStart): Promise<void> {
  await withTemporalDeadline(deps, async () => {
    try {
      await deps.temporal.workflow.start<typeof postPipeline>('postPipeline', {
        taskQueue: deps.taskQueue,
        ...pipelineStartOptions(pipeline, deps.searchAttributes),
        workflowIdConflictPolicy: 'USE_EXISTING',
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
      });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
  });
}

/**
 * The note on a post whose start Temporal did not confirm. Its owner was told the post starts by
 * itself, so the API's sweep starts exactly the posts that carry it (start-unconfirmed.ts).
 */
export const UNCONFIRMED =
  'The pipeline may not have started: Temporal did not answer. It is started as soon as Temporal answers again.';
/**
 * The note before the sweep existed: its owner was told to repeat the request, and may have made
 * a second post instead, so such a post is never started by the sweep, only by its repeat.
 */
const UNCONFIRMED_BEFORE_SWEEP =
  'The pipeline may not have started: Temporal did not answer. Repeat the request with the same Idempotency-Key to make sure.';

/** Records that the post's pipeline exists; a campaign calls this after starting it as a child. */
export async function markPipelineStarted(db: Database, postId: string): Promise<void> {
  await db
    .update(posts)
    .set({
      pipelineStartedAt: new Date(),
      // Only our own "may not have started" note goes; an error the pipeline wrote meanwhile stays.
      error: sql`case when ${posts.error} in (${UNCONFIRMED}, ${UNCONFIRMED_BEFORE_SWEEP}) then null else ${posts.error} end`,
    })
    .where(eq(posts.id, postId));
}

/** Returns when the pipeline turns out to exist after all; otherwise throws UnavailableError. */
async function settleFailedStart(deps: StartPipelineDeps, pipeline: PipelineToStart, err: unknown): Promise<void> {
  const { post } = pipeline;
  // After a timeout the start may still land, and asking again would only wait as long: keep the
  // post. A start refused outright and confirmed absent left nothing behind: remove the post again
  // so nothing is half-created.
  const found = isTemporalUnavailable(err) ? undefined : await pipelineExists(deps, pipeline.workflowId);
  if (found === true) return;
  if (found === false) {
    await deps.db.delete(posts).where(eq(posts.id, post.id));
    throw new UnavailableError(
      'Workflow engine unavailable',
      'The post pipeline could not be started; nothing was saved. Try again shortly.',
      TEMPORAL_RETRY_AFTER_SECONDS,
    );
  }
  await deps.db.update(posts).set({ error: UNCONFIRMED, updatedAt: new Date() }).where(eq(posts.id, post.id));
  throw new UnavailableError(
    'Workflow engine unavailable',
    `Post ${post.id} was saved, but Temporal did not confirm its pipeline in time; it starts by itself once Temporal answers. Repeating the request with the same Idempotency-Key is safe.`,
    TEMPORAL_RETRY_AFTER_SECONDS,
  );
}

/** True or false when Temporal says so, undefined when it does not answer. */
async function pipelineExists(deps: StartPipelineDeps, workflowId: string): Promise<boolean | undefined> {
  try {
    await withTemporalDeadline(deps, () => deps.temporal.workflow.getHandle(workflowId).describe());
    return true;
  } catch (err) {
    return err instanceof WorkflowNotFoundError ? false : undefined;
  }
}
