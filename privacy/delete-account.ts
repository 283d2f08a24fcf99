import { rm } from 'node:fs/promises';
import { type Client, WorkflowNotFoundError } from '@temporalio/client';
import { and, eq, inArray, isNull, or, sql } from 'drizzle-orm';
import { accountThrottleKey, pairThrottleKey, registerThrottleKey } from '../auth/rate-limit.js';
import type { Database } from '../db/client.js';
import { apiKeys, campaigns, media, posts, rateLimits, sessions, users } from '../db/schema.js';
import { exportFolderOf } from '../platforms/local-export.js';
import type { Logger } from '../runtime/logger.js';
import type { MediaStore } from '../storage/media-store.js';
import { removeAccountConnections } from '../use-cases/connections/remove-all.js';
import { type TemporalAccess, withTemporalDeadline } from '../use-cases/temporal-calls.js';

export interface DeleteAccountDeps {
  db: Database;
  store: MediaStore;
  temporal: Client;
  logger: Logger;
  dataDir: string;
  /** Deadline of each call to Temporal (10 s unless given). */
  temporalCallTimeoutMs?: number;
  /** Where connection owners run; connections are disconnected through them (revoking where offered). */
  taskQueue: string;
}

/**
 * Removes everything of one user: stops their running campaigns and pipelines and deletes their
 * histories, deletes every row (the schema cascades from `users`) and every file. Safe to run
 * again if it stopped half-way.
 */
export async function deleteAccount(deps: DeleteAccountDeps, userId: string): Promise<{ workflowsClosed: number }> {
  const { db, store, temporal, logger } = deps;
  const access = { temporal, callTimeoutMs: deps.temporalCallTimeoutMs ?? 10_000 };
  // Temporal must answer before anything is taken away: an outage half-way would leave the person
  // signed out with their account still there (UnavailableError: they can simply try again).
  await withTemporalDeadline(access, () => temporal.workflowService.getSystemInfo({}));
  // Signed out everywhere first, so nothing new can start while the rest goes.
  await db.delete(sessions).where(eq(sessions.userId, userId));
  await db.delete(apiKeys).where(eq(apiKeys.userId, userId));
  // Campaigns before posts: a running campaign makes its next slot's post and starts that post's
  // pipeline (a child that outlives it); stopped first, none can do so after the posts are read
  // below. Their histories hold the owner's id, the campaign's name and brief.
  // A campaign whose start Temporal never confirmed is not the API's sweep's to start any more.
  await db
    .update(campaigns)
    .set({ workflowStartedAt: new Date() })
    .where(and(eq(campaigns.ownerId, userId), isNull(campaigns.workflowStartedAt)));
  const userCampaigns = await db
    .select({ workflowId: campaigns.workflowId })
    .from(campaigns)
    .where(eq(campaigns.ownerId, userId));
  let workflowsClosed = 0;
  for (const campaign of userCampaigns) {
    // Every run: each one continued as new still holds the settings it carried.
    if (await closeWorkflow(access, campaign.workflowId, { everyRun: true })) workflowsClosed += 1;
  }
  // A post whose start Temporal never confirmed is not the API's sweep's to start any more.
  await db
    .update(posts)
    .set({ pipelineStartedAt: new Date() })
    .where(and(eq(posts.ownerId, userId), isNull(posts.pipelineStartedAt)));
  // Connected accounts: revoked where the platform offers it, tokens and profiles deleted, owners gone.
  await removeAccountConnections({ db, owner: { ...access, taskQueue: deps.taskQueue } }, userId);
  // Read only now, so every post whose pipeline a campaign started is among them. A slot's post an
  // activity still in flight writes later never gets a pipeline (its campaign is gone and the sweep
  // leaves slot posts to their campaign); its row goes with the others below.
  const userPosts = await db
    .select({ id: posts.id, workflowId: posts.workflowId })
    .from(posts)
    .where(eq(posts.ownerId, userId));
  const userMedia = await db
    .select({ storageKey: media.storageKey, thumbnailKey: media.thumbnailKey })
    .from(media)
    .where(eq(media.ownerId, userId));
  // Stop pipelines so none publishes or writes files while the account disappears, then delete
  // their histories too: they hold drafts, feedback and the owner's id.
  for (const post of userPosts) {
    if (await closeWorkflow(access, post.workflowId)) workflowsClosed += 1;
  }

  const removeFiles = async () => {
    for (const item of userMedia) {
      await store.remove(item.storageKey);
      if (item.thumbnailKey) await store.remove(item.thumbnailKey);
    }
    for (const post of userPosts) {
      await store.remove(`renditions/${post.id}`);
      await rm(exportFolderOf(deps.dataDir, post.id), { recursive: true, force: true });
    }
  };
  await removeFiles();
  const [user] = await db.select({ email: users.email }).from(users).where(eq(users.id, userId));
  await db.transaction(async (tx) => {
    // Throttling counters are keyed by email, not id.
    if (user) {
      // Per-address counters are "<prefix><ip><suffix>" (pairThrottleKey); matched exactly, not
      // with LIKE, whose wildcards an email address may contain.
      const sample = pairThrottleKey('IP', user.email);
      const prefix = sample.slice(0, sample.indexOf('IP'));
      const suffix = sample.slice(sample.indexOf('IP') + 2);
      await tx
        .delete(rateLimits)
        .where(
          or(
            inArray(rateLimits.key, [accountThrottleKey(user.email), registerThrottleKey(user.email)]),
            and(
              sql`starts_with(${rateLimits.key}, ${prefix})`,
              sql`right(${rateLimits.key}, ${suffix.length}) = ${suffix}`,
            ),
          ),
        );
    }
    // Posts first: their rows still point at the media the user cascade removes next.
    await tx.delete(posts).where(eq(posts.ownerId, userId));
    await tx.delete(users).where(eq(users.id, userId));
  });
  // Again, for anything an activity already in flight wrote after the first pass.
  await removeFiles();
  logger.info({ posts: userPosts.length, media: userMedia.length, workflowsClosed }, 'account deleted');
  return { workflowsClosed };
}

/**
 * Stops the workflow if it runs and deletes its history. True when it was running. A workflow
 * already gone is no error; no answer in time is UnavailableError, and the deletion can simply be
 * asked again.
 */
async function closeWorkflow(
  access: TemporalAccess,
  workflowId: string,
  options: { everyRun?: boolean } = {},
): Promise<boolean> {
  const { temporal } = access;
  const remove = (runId: string) =>
    temporal.workflowService.deleteWorkflowExecution({
      namespace: temporal.options.namespace,
      workflowExecution: { workflowId, runId },
    });
  let wasRunning = false;
  const runs = new Set<string>();
  try {
    await withTemporalDeadline(access, async () => {
      const { status, runId } = await temporal.workflow.getHandle(workflowId).describe();
      wasRunning = status.name === 'RUNNING';
      runs.add(runId);
    });
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError || isNotFound(err))) throw err;
  }
  // Every run by its id, the running one included (deleting it also stops it): each run continued
  // as new still holds what it carried. Listed whether or not the latest is still there, so a
  // repeat after a half-done deletion still finds the rest.
  if (options.everyRun) {
    await withTemporalDeadline(access, async () => {
      for await (const run of temporal.workflow.list({ query: `WorkflowId = '${workflowId}'` })) runs.add(run.runId);
    });
  }
  for (const runId of runs) {
    try {
      await withTemporalDeadline(access, () => remove(runId));
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
  return wasRunning;
}

function isNotFound(err: unknown): boolean {
  // gRPC NOT_FOUND: the history is already gone.
  for (let e: unknown = err; e && typeof e === 'object'; e = (e as { cause?: unknown }).cause) {
    if ((e as { code?: unknown }).code === 5) return true;
  }
  return false;
}
