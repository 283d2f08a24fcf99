import {
  CancellationScope,
  condition,
  isCancellation,
  log,
  patched,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import type {
  PipelineProgress,
  PipelineResult,
  PipelineTarget,
  PostPipelineInput,
  PostStatus,
  TargetOutcome,
} from '../domain/pipeline.js';
import { PostIdAttribute, PostStatusAttribute } from '../domain/search-attributes.js';
import { databaseActivities, publisherFor, renderMedia } from './activity-proxies.js';
import { describeFailure } from './describe-failure.js';
import {
  type ApproveInput,
  approveUpdate,
  editDraftUpdate,
  progressQuery,
  rejectUpdate,
  rescheduleUpdate,
  retryTargetUpdate,
} from './messages.js';
import { legacyPostPipeline } from './post-pipeline-v1.js';

export { progressQuery };

/** Marks histories made by the generate -> review -> publish pipeline (see post-pipeline-v1.ts). */
const REVIEW_PIPELINE = 'review-pipeline';

const { generateDrafts } = proxyActivities<Activities>({
  startToCloseTimeout: '5 minutes',
  heartbeatTimeout: '4 minutes',
  // 429s carry their own delay (Retry-After); malformed answers get a few fresh tries.
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 4 },
});

const {
  recordResults,
  markAwaitingReview,
  recordReviewOutcome,
  applyDraftEdits,
  markScheduled,
  recordCancellation,
  updatePublishAt,
} = databaseActivities;

type Decision = { kind: 'approve' } | { kind: 'reject'; feedback: string };

type Stage = 'drafting' | 'review' | 'deciding' | 'preparing' | 'waiting' | 'publishing' | 'retry_window' | 'done';

/**
 * One post: draft it from the brief, have a person review it (as many rounds as allowed), render
 * its media, wait for its time, publish to every target at once, and record how each went.
 */
export async function postPipeline(input: PostPipelineInput): Promise<PipelineResult> {
  const { postId, targets } = input;
  const progress: PipelineProgress = {
    postId,
    status: 'queued',
    targets: Object.fromEntries(targets.map((t) => [t.key, 'pending'])),
    round: 0,
    publishAt: input.publishAt ?? null,
  };
  setHandler(progressQuery, () => progress);
  // Started without search attributes only where the server has none to offer.
  const indexed = workflowInfo().typedSearchAttributes.get(PostIdAttribute) !== undefined;
  const setStatus = (status: PostStatus) => {
    progress.status = status;
    if (indexed) upsertSearchAttributes([{ key: PostStatusAttribute, value: status }]);
  };
  if (!patched(REVIEW_PIPELINE)) return legacyPostPipeline(input, progress, setStatus);

  const review = input.review ?? { mode: 'auto' as const };
  let stage: Stage = 'drafting';
  let round = 0;
  let decision: Decision | undefined;
  // Set by the update handlers: read through a function so the compiler does not narrow it away.
  const decided = (): Decision | undefined => decision;
  const currentStage = (): Stage => stage;
  let publishAt = input.publishAt ?? null;
  let rescheduled = false;
  const retryQueue: string[] = [];
  const outcomes: TargetOutcome[] = targets.map((t) => ({ key: t.key, ok: false }));

  const inReview = () => {
    if (stage !== 'review') throw new Error(`The post is not waiting for review (it is ${progress.status})`);
  };
  /** One decision at a time: a second approve or reject arriving meanwhile is refused by inReview. */
  const deciding = async <T>(decide: () => Promise<T>): Promise<T> => {
    stage = 'deciding';
    try {
      return await decide();
    } catch (err) {
      stage = 'review';
      throw err;
    }
  };
  setHandler(
    approveUpdate,
    async ({ edits }) =>
      deciding(async () => {
        if (edits && Object.keys(edits).length > 0) await applyDraftEdits({ postId, edits });
        // Recorded before answering, so whoever approved sees the post move on.
        await recordReviewOutcome({ postId, outcome: 'approved' });
        decision = { kind: 'approve' };
        return { round };
      }),
    { validator: (_input: ApproveInput) => inReview() },
  );
  setHandler(
    rejectUpdate,
    async ({ feedback }) =>
      deciding(async () => {
        await recordReviewOutcome({ postId, outcome: 'rejected' });
        decision = { kind: 'reject', feedback: feedback.trim() };
        return { round: round + 1 };
      }),
    {
      validator: ({ feedback }) => {
        inReview();
        if (!input.generate)
          throw new Error('This post was written by hand: edit its drafts and approve, or cancel it');
        if (typeof feedback !== 'string' || !feedback.trim()) throw new Error('feedback: say what should change');
        if (review.mode === 'manual' && round >= review.maxRounds) {
          throw new Error(
            `No revision rounds left (${review.maxRounds} used): edit the drafts and approve, or cancel the post`,
          );
        }
      },
    },
  );
  setHandler(
    editDraftUpdate,
    async ({ targetKey, draft }) => {
      await applyDraftEdits({ postId, edits: { [targetKey]: draft } });
      return { round };
    },
    {
      validator: ({ targetKey }) => {
        inReview();
        if (!targets.some((t) => t.key === targetKey))
          throw new Error(`targetKey: this post has no target "${targetKey}"`);
      },
    },
  );
  setHandler(
    rescheduleUpdate,
    async ({ publishAt: next }) => {
      publishAt = next;
      progress.publishAt = next;
      rescheduled = true;
      await updatePublishAt({ postId, publishAt: next });
      return { publishAt: next };
    },
    {
      validator: ({ publishAt: next }) => {
        if (stage === 'publishing' || stage === 'retry_window' || stage === 'done') {
          throw new Error('Too late to reschedule: publishing has started');
        }
        if (typeof next !== 'string' || !Number.isFinite(Date.parse(next)))
          throw new Error('publishAt: expected an ISO-8601 instant');
      },
    },
  );
  setHandler(
    retryTargetUpdate,
    ({ targetKey }) => {
      retryQueue.push(targetKey);
      return { targetKey };
    },
    {
      validator: ({ targetKey }) => {
        if (stage !== 'retry_window') throw new Error('Only a target that failed after publishing can be retried');
        const outcome = outcomes.find((o) => o.key === targetKey);
        if (!outcome) throw new Error(`targetKey: this post has no target "${targetKey}"`);
        if (outcome.ok) throw new Error(`Target "${targetKey}" is already published`);
        if (retryQueue.includes(targetKey) || progress.targets[targetKey] === 'publishing') {
          throw new Error(`Target "${targetKey}" is already being retried`);
        }
      },
    },
  );

  try {
    if (input.generate) {
      setStatus('generating');
      const failed = await draft(round);
      if (failed) return failed;
    }
    if (review.mode === 'manual') {
      for (;;) {
        stage = 'review';
        decision = undefined;
        setStatus('awaiting_review');
        await markAwaitingReview({ postId, round });
        const remaining = review.deadline ? Date.parse(review.deadline) - Date.now() : undefined;
        const answered =
          remaining === undefined
            ? await condition(() => decided() !== undefined).then(() => true)
            : remaining > 0
              ? await condition(() => decided() !== undefined, remaining)
              : decided() !== undefined;
        // A decision being recorded as the deadline passes wins over the deadline.
        if (!answered && currentStage() === 'deciding') {
          await condition(() => decided() !== undefined || currentStage() !== 'deciding');
        }
        const answer = decided();
        if (!answer) {
          if (review.onExpiry === 'approve') {
            await recordReviewOutcome({ postId, outcome: 'approved_at_deadline' });
            break;
          }
          return await cancel('The review deadline passed without a decision');
        }
        if (answer.kind === 'approve') break;
        stage = 'drafting';
        round += 1;
        progress.round = round;
        setStatus('generating');
        log.info('regenerating with review feedback', { postId, round });
        const failed = await draft(round, answer.feedback);
        if (failed) return failed;
      }
    }

    stage = 'preparing';
    setStatus('rendering');
    try {
      await renderMedia({ postId });
    } catch (err) {
      if (isCancellation(err)) throw err;
      const renderError = describeFailure(err);
      return await finish(
        targets.map((t) => ({ key: t.key, ok: false, error: renderError })),
        renderError,
      );
    }

    stage = 'waiting';
    while (publishAt && Date.parse(publishAt) > Date.now()) {
      setStatus('scheduled');
      await markScheduled({ postId, publishAt });
      rescheduled = false;
      await condition(() => rescheduled, Date.parse(publishAt) - Date.now());
    }
  } catch (err) {
    if (isCancellation(err)) return await cancel('Cancelled on request');
    throw err;
  }

  // From here on a cancellation request cannot interrupt: half a publish is worse than none.
  stage = 'publishing';
  setStatus('publishing');
  await CancellationScope.nonCancellable(() => Promise.all(targets.map((t) => publishOne(t))));
  let result = await finish(outcomes);

  if (outcomes.some((o) => !o.ok) && (input.retryWindowDays ?? 0) > 0) {
    stage = 'retry_window';
    const closesAt = Date.now() + (input.retryWindowDays ?? 0) * 24 * 3600_000;
    try {
      while (outcomes.some((o) => !o.ok) && Date.now() < closesAt) {
        if (!(await condition(() => retryQueue.length > 0, closesAt - Date.now()))) break;
        const key = retryQueue.shift()!;
        const target = targets.find((t) => t.key === key)!;
        await CancellationScope.nonCancellable(() => publishOne(target));
        result = await finish(outcomes);
      }
    } catch (err) {
      // Cancelling now only closes the retry window.
      if (!isCancellation(err)) throw err;
    }
  }
  stage = 'done';
  return result;

  /** Drafts a round; a failure that outlasted its retries ends the post, in words. */
  async function draft(forRound: number, feedback?: string): Promise<PipelineResult | undefined> {
    try {
      await generateDrafts({ postId, round: forRound, ...(feedback ? { feedback } : {}) });
      return undefined;
    } catch (err) {
      if (isCancellation(err)) throw err;
      const generateError = describeFailure(err);
      stage = 'done';
      const status = await CancellationScope.nonCancellable(() =>
        recordResults({
          postId,
          outcomes: targets.map((t) => ({ key: t.key, ok: false, error: generateError })),
          generateError,
        }),
      );
      setStatus(status);
      return { postId, status, targets: targets.map((t) => ({ key: t.key, ok: false, error: generateError })) };
    }
  }

  async function publishOne(target: PipelineTarget): Promise<void> {
    const outcome = outcomes.find((o) => o.key === target.key)!;
    progress.targets[target.key] = 'publishing';
    try {
      await publisherFor(target)({ postId, targetKey: target.key });
      progress.targets[target.key] = 'published';
      outcome.ok = true;
      delete outcome.error;
    } catch (err) {
      progress.targets[target.key] = 'failed';
      outcome.ok = false;
      outcome.error = describeFailure(err);
    }
  }

  async function finish(final: TargetOutcome[], renderError?: string): Promise<PipelineResult> {
    const status = await CancellationScope.nonCancellable(() =>
      recordResults({ postId, outcomes: final, ...(renderError ? { renderError } : {}) }),
    );
    setStatus(status);
    return { postId, status, targets: final.map((o) => ({ ...o })) };
  }

  async function cancel(reason: string): Promise<PipelineResult> {
    stage = 'done';
    await CancellationScope.nonCancellable(() => recordCancellation({ postId, reason }));
    setStatus('cancelled');
    for (const t of targets) progress.targets[t.key] = 'cancelled';
    return { postId, status: 'cancelled', targets: targets.map((t) => ({ key: t.key, ok: false, error: reason })) };
  }
}
