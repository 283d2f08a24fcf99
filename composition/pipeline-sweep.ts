import { safeError } from '../runtime/errors.js';
import type { Logger } from '../runtime/logger.js';
import {
  type StartUnconfirmedCampaignsDeps,
  startUnconfirmedCampaigns,
} from '../use-cases/campaigns/start-unconfirmed.js';
import { type StartUnconfirmedDeps, startUnconfirmedPipelines } from '../use-cases/posts/start-unconfirmed.js';

export type PipelineSweepDeps = StartUnconfirmedDeps & {
  /** The API's REVIEW_MAX_ROUNDS, which a campaign's workflow takes at start for its slot posts. */
  reviewMaxRounds: number;
};

export interface PipelineSweepTiming {
  /** How often the API looks for posts whose pipeline start was never confirmed. */
  intervalMs: number;
  /** Only posts older than this: younger ones may still be inside their create request. */
  olderThanMs: number;
}

/** Once a minute; a create request gives up on Temporal within about 20 s (two calls' deadlines). */
export const PIPELINE_SWEEP: PipelineSweepTiming = { intervalMs: 60_000, olderThanMs: 60_000 };

/** What starting a campaign takes, from the sweep's deps. */
function campaignDepsOf(deps: PipelineSweepDeps): StartUnconfirmedCampaignsDeps {
  return {
    db: deps.db,
    temporal: deps.temporal,
    callTimeoutMs: deps.callTimeoutMs,
    taskQueue: deps.taskQueue,
    postDefaults: {
      reviewMaxRounds: deps.reviewMaxRounds,
      retryWindowDays: deps.retryWindowDays,
      searchAttributes: deps.searchAttributes,
      ...(deps.uploadTaskQueue ? { uploadTaskQueue: deps.uploadTaskQueue } : {}),
    },
  };
}

/**
 * Runs the sweep of unconfirmed starts (posts' pipelines, campaigns' workflows) in the API process,
 * one sweep at a time, until stopped. A post or campaign saved while Temporal did not answer thus
 * starts by itself once it answers again.
 */
export function runPipelineSweep(
  deps: PipelineSweepDeps,
  logger: Logger,
  timing: PipelineSweepTiming,
): () => Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  let stopped = false;
  let wasUnanswered = false;
  const campaignDeps = campaignDepsOf(deps);
  let campaignsWereUnanswered = false;
  const sweepPosts = async () => {
    try {
      const { started, unanswered } = await startUnconfirmedPipelines(deps, { olderThanMs: timing.olderThanMs });
      if (started.length > 0) logger.info({ postIds: started }, 'started pipelines Temporal had not confirmed');
      // Said once per outage, not once a minute.
      if (unanswered && !wasUnanswered) {
        logger.warn('posts are waiting for their pipeline to start: Temporal does not answer; the sweep tries again');
      }
      wasUnanswered = unanswered;
    } catch (err) {
      logger.warn({ err: safeError(err) }, 'could not look for unstarted pipelines');
    }
  };
  const sweepCampaigns = async (startDeps: StartUnconfirmedCampaignsDeps) => {
    try {
      const { started, unanswered } = await startUnconfirmedCampaigns(startDeps, { olderThanMs: timing.olderThanMs });
      if (started.length > 0) logger.info({ campaignIds: started }, 'started campaigns Temporal had not confirmed');
      if (unanswered && !campaignsWereUnanswered) {
        logger.warn(
          'campaigns are waiting for their workflow to start: Temporal does not answer; the sweep tries again',
        );
      }
      campaignsWereUnanswered = unanswered;
    } catch (err) {
      logger.warn({ err: safeError(err) }, 'could not look for unstarted campaigns');
    }
  };
  const sweep = async () => {
    await sweepPosts();
    await sweepCampaigns(campaignDeps);
  };
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = sweep().finally(schedule);
    }, timing.intervalMs);
    timer.unref();
  };
  schedule();
  return async () => {
    stopped = true;
    clearTimeout(timer);
    await running;
  };
}
