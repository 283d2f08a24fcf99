import { type ActivityOptions, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import {
  AI_OUTAGE_RIDE_OUT_MS,
  AI_REQUEST_TIMEOUT_MS,
  AI_REQUESTS_PER_ATTEMPT,
  DRAFTING_MAX_ATTEMPTS,
  DRAFTING_RETRY,
} from '../domain/drafts.js';
import { type PipelineTarget, TASK_PRIORITY } from '../domain/pipeline.js';
import { publishRetry } from '../domain/targets.js';

// Activity options shared by every version of the pipeline. Options are not part of what replay
// compares, so every version can use the current ones.

const DRAFTING: ActivityOptions = {
  // Room for every AI request an attempt may make at its own deadline, and a minute for the rest:
  // an attempt then ends with the request's reason in words, not Temporal's bare timeout.
  startToCloseTimeout: AI_REQUEST_TIMEOUT_MS * AI_REQUESTS_PER_ATTEMPT + 60_000,
  heartbeatTimeout: '4 minutes',
  // The activity decides when to stop, by the error's kind, and says why (generate-drafts.ts): an
  // endpoint outage is ridden out for up to AI_OUTAGE_RIDE_OUT_MS (less when the post is due sooner),
  // malformed answers get MALFORMED_OUTPUT_TRIES, 429s wait as long as Retry-After says.
  retry: {
    initialInterval: DRAFTING_RETRY.initialIntervalMs,
    backoffCoefficient: DRAFTING_RETRY.backoffCoefficient,
    maximumInterval: DRAFTING_RETRY.maximumIntervalMs,
    maximumAttempts: DRAFTING_MAX_ATTEMPTS,
  },
  // The bound on the whole step, whatever happens (workers away, the activity never answering): the
  // last try starts within the ride-out and runs at most its own timeout, so this never cuts one short.
  scheduleToCloseTimeout: AI_OUTAGE_RIDE_OUT_MS + AI_REQUEST_TIMEOUT_MS * AI_REQUESTS_PER_ATTEMPT + 3 * 60_000,
};

const RENDERING: ActivityOptions = {
  // Transcoding a long 4K video takes a while; a dead worker is still noticed within the heartbeat.
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '1 minute',
  // About 20 minutes of tries: long enough to ride out a database restart.
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 25 },
};

/** Database-only and idempotent, with nobody waiting on them: they retry until they land. */
const BOOKKEEPING: ActivityOptions = {
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '5 minutes' },
};

/**
 * Database writes a person is waiting for (an Update's answer): a few quick tries, then the
 * Update fails in words instead of hanging through an outage. Shorter than the API's 10 s deadline
 * on a Temporal call, so the person reads this reason rather than "Temporal did not answer".
 */
const ANSWERED: ActivityOptions = {
  scheduleToCloseTimeout: '7 seconds',
  startToCloseTimeout: '5 seconds',
  retry: { initialInterval: '250ms', backoffCoefficient: 2, maximumInterval: '2 seconds' },
};

function publishing(target: PipelineTarget, uploadTaskQueue?: string): ActivityOptions {
  return {
    // Platform uploads run on the upload queue's own slots; the local export stays with the rest.
    ...(uploadTaskQueue && target.type !== 'local_export' ? { taskQueue: uploadTaskQueue } : {}),
    startToCloseTimeout: '30 minutes',
    // A worker that dies mid-upload is noticed within the heartbeat timeout, not after the whole
    // timeout; platform uploads beat every 10 s (and on progress), so 30 s is three missed beats.
    heartbeatTimeout: target.type === 'local_export' ? '1 minute' : '30 seconds',
    retry: { backoffCoefficient: 2, ...publishRetry[target.type] },
  };
}

// The v1 and v2 pipelines use these as they always did (no summaries, default priority).
export const { renderMedia, generateDrafts } = {
  renderMedia: proxyActivities<Activities>(RENDERING).renderMedia,
  generateDrafts: proxyActivities<Activities>(DRAFTING).generateDrafts,
};
export const databaseActivities = proxyActivities<Activities>(BOOKKEEPING);
export function publisherFor(target: PipelineTarget) {
  return proxyActivities<Activities>(publishing(target)).publishTarget;
}

/**
 * The activities of the current pipeline, each scheduled with a summary the Temporal UI shows
 * ("publish -> instagram") and the priority the post has at that moment.
 */
export function pipelineActivities(priorityKey: () => number, uploadTaskQueue?: string) {
  const with_ = (options: ActivityOptions, summary: string, key = priorityKey()) =>
    proxyActivities<Activities>({ ...options, summary, priority: { priorityKey: key } });
  return {
    generateDrafts: (round: number) =>
      with_(DRAFTING, round === 0 ? 'draft with AI' : `redraft (round ${round})`).generateDrafts,
    renderMedia: () => with_(RENDERING, 'render media').renderMedia,
    publishTarget: (target: PipelineTarget) =>
      with_(publishing(target, uploadTaskQueue), `publish -> ${target.format ?? target.type} (${target.key})`)
        .publishTarget,
    /** Bookkeeping the pipeline itself waits for. */
    record: (summary: string) => with_(BOOKKEEPING, summary),
    /** Writes an Update's answer depends on: bounded, and ahead of every queue. */
    answer: (summary: string) => with_(ANSWERED, summary, TASK_PRIORITY.person),
  };
}
