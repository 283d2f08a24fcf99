import {
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  log,
  setHandler,
} from '@temporalio/workflow';
import {
  isFinalStatus,
  type PipelineProgress,
  type PipelineResult,
  type PipelineTarget,
  type PostPipelineInput,
  type PostStatus,
  type TargetOutcome,
} from '../domain/pipeline.js';
import { databaseActivities, generateDrafts, publisherFor, renderMedia } from './activity-proxies.js';
import { describeFailure } from './describe-failure.js';
import {
  type ApproveInput,
  approveUpdate,
  type CancelInput,
  cancelUpdate,
  editDraftUpdate,
  rejectUpdate,
  rescheduleUpdate,
  retryTargetUpdate,
} from './messages.js';

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
 * The second pipeline (draft -> review -> render -> wait -> publish -> retry window), kept so
 * workflows started before `patched('pipeline-v3')` replay exactly as they ran. Change no call or
 * its order here: the committed histories in tests/fixtures/histories/post-pipeline-v2-*.json prove
 * it still matches. Only additions that schedule nothing in those histories belong here (a handler
 * for the cancel Update, waiting for running handlers before returning).
 */
export async function reviewPipelineV2(
  input: PostPipelineInput,
  progress: PipelineProgress,
  setStatus: (status: PostStatus) => void,
): Promise<PipelineResult> {
  const { postId, targets } = input;
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
  // Everything before publishing; the cancel Update cancels it, the way an external cancellation does.
  const beforePublishing = new CancellationScope();
  setHandler(
    cancelUpdate,
    async (_input: CancelInput) => {
      beforePublishing.cancel();
      // 'done' comes before the end is recorded; the recorded status says how it ended.
      await condition(() => stage === 'done' && isFinalStatus(progress.status));
      if (progress.status !== 'cancelled') {
        throw ApplicationFailure.create({
          message: `Too late to cancel: the post is ${progress.status}`,
          type: 'TooLate',
          nonRetryable: true,
        });
      }
      return { status: 'cancelled' as const };
    },
    {
      validator: (_input: CancelInput) => {
        if (stage === 'publishing' || stage === 'retry_window' || stage === 'done')
          throw new Error(`Too late to cancel: the post is ${progress.status.replace('_', ' ')}`);
      },
    },
  );
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

  const early = await beforePublishing.run(async (): Promise<PipelineResult | undefined> => {
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
    return undefined;
  });
  if (early) return early;

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
        // Activity inputs are not part of what replay compares: the retry flag is safe to add.
        await CancellationScope.nonCancellable(() => publishOne(target, true));
        result = await finish(outcomes, undefined, true);
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

  async function publishOne(target: PipelineTarget, retry = false): Promise<void> {
    const outcome = outcomes.find((o) => o.key === target.key)!;
    progress.targets[target.key] = 'publishing';
    try {
      await publisherFor(target)({ postId, targetKey: target.key, ...(retry ? { retry } : {}) });
      progress.targets[target.key] = 'published';
      outcome.ok = true;
      delete outcome.error;
    } catch (err) {
      progress.targets[target.key] = 'failed';
      outcome.ok = false;
      outcome.error = describeFailure(err);
    }
  }

  async function finish(final: TargetOutcome[], renderError?: string, retry = false): Promise<PipelineResult> {
    const status = await CancellationScope.nonCancellable(() =>
      recordResults({ postId, outcomes: final, ...(renderError ? { renderError } : {}), ...(retry ? { retry } : {}) }),
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
