import { safeError } from '../runtime/errors.js';
import type { Logger } from '../runtime/logger.js';
import { type StartUnconfirmedDeps, startUnconfirmedPipelines } from '../use-cases/posts/start-unconfirmed.js';

export interface PipelineSweepTiming {
  /** How often the API looks for posts whose pipeline start was never confirmed. */
  intervalMs: number;
  /** Only posts older than this: younger ones may still be inside their create request. */
  olderThanMs: number;
}

/** Once a minute; a create request gives up on Temporal within about 20 s (two calls' deadlines). */
export const PIPELINE_SWEEP: PipelineSweepTiming = { intervalMs: 60_000, olderThanMs: 60_000 };

/**
 * Runs the sweep of unconfirmed pipeline starts in the API process, one sweep at a time, until
 * stopped. A post saved while Temporal did not answer thus starts by itself once it answers again.
 */
export function runPipelineSweep(
  deps: StartUnconfirmedDeps,
  logger: Logger,
  timing: PipelineSweepTiming,
): () => Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  let stopped = false;
  let wasUnanswered = false;
  const sweep = async () => {
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
