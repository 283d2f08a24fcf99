import { Context, type Info } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { ValidationError } from '../domain/errors.js';
import { cancelSlotPosts } from '../use-cases/campaigns/cancel-slot-posts.js';
import {
  createSlotPost,
  recordSlot,
  SlotConnectionUnusableError,
  type SlotPostRequest,
  saveCampaignState,
} from '../use-cases/campaigns/slot-post.js';
import { markPipelineStarted } from '../use-cases/posts/start-pipeline.js';
import type { ActivityDeps } from './deps.js';

/** The campaign workflow's side effects: thin adapters over use-cases/campaigns. */
export function createCampaignActivities(deps: ActivityDeps) {
  const { db } = deps;
  return {
    async createSlotPost(request: SlotPostRequest) {
      try {
        // The same settings the API creates a post with: a slot's post is checked as a person's is.
        const slotDeps = {
          db,
          tiktokAudited: deps.tiktokAudited ?? false,
          quotas: deps.quotas,
          aiImages: deps.drafts.mode === 'ai',
        };
        return await createSlotPost(slotDeps, request, madeAt(Context.current().info));
      } catch (err) {
        // Settings that no longer make a valid post (media gone, a target refused) will not get
        // better by retrying: the slot fails in words and the campaign goes on.
        // The campaign pauses on this (it names the account and what to do) rather than failing slot after slot.
        if (err instanceof SlotConnectionUnusableError) {
          throw ApplicationFailure.nonRetryable(err.message, 'ConnectionNeedsReconnect');
        }
        if (err instanceof ValidationError) {
          const reason = err.errors.map((e) => `${e.field}: ${e.message}`).join('; ');
          throw ApplicationFailure.nonRetryable(reason, 'SlotPostInvalid');
        }
        throw err;
      }
    },
    async markSlotPipelineStarted({ postId }: { postId: string }) {
      await markPipelineStarted(db, postId);
    },
    async recordSlot(row: Parameters<typeof recordSlot>[1]) {
      await recordSlot(db, row);
    },
    async cancelSlotPosts(request: { campaignId: string; ownerId: string; reason: string; now?: number }) {
      if (!deps.temporal) throw ApplicationFailure.nonRetryable('No Temporal client to cancel posts with');
      return cancelSlotPosts({ db, ...deps.temporal }, request);
    },
    async saveCampaignState(state: Parameters<typeof saveCampaignState>[1]) {
      await saveCampaignState(db, state, doneBy(Context.current().info));
    },
  };
}

/**
 * Now on the clock the campaign's slots are planned on (Temporal's): the later of this try's
 * scheduling and the worker's clock. A task that waited for a worker began after it was scheduled;
 * a time-skipping test server's clock runs ahead of the worker's.
 */
function madeAt(info: Info): number {
  return Math.max(Date.now(), info.currentAttemptScheduledTimestampMs);
}

/** When this try must be done: its own deadline or that of all tries, less a margin for the answer to travel back. */
function doneBy(info: Info): number {
  const ends = [Date.now() + info.startToCloseTimeoutMs];
  if (info.scheduleToCloseTimeoutMs > 0) ends.push(info.scheduledTimestampMs + info.scheduleToCloseTimeoutMs);
  return Math.min(...ends) - 500;
}
