import {
  ApplicationFailure,
  allHandlersFinished,
  CancellationScope,
  CancelledFailure,
  condition,
  isCancellation,
  log,
  patched,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { ReviewPolicy } from '../domain/drafts.js';
import {
  DEFAULT_RENDER_LEAD_MINUTES,
  type PipelineProgress,
  type PipelineResult,
  type PipelineTarget,
  type PostPipelineInput,
  type PostStatus,
  priorityFor,
  type TargetOutcome,
} from '../domain/pipeline.js';
import { formatInstant } from '../domain/pipeline-summary.js';
import { PostIdAttribute, PostStatusAttribute, PublishAtAttribute } from '../domain/search-attributes.js';
import { findUnstorableText, STORABLE_TEXT_RULE } from '../domain/text.js';
import { isTimeZone } from '../domain/zoned-time.js';
import { pipelineActivities } from './activity-proxies.js';
import { describeFailure, innermostFailure } from './describe-failure.js';
import { FifoLock } from './fifo-lock.js';
import {
  approveUpdate,
  type ConfirmTargetInput,
  cancelUpdate,
  confirmTargetUpdate,
  editDraftUpdate,
  progressQuery,
  rejectUpdate,
  rescheduleUpdate,
  retryTargetUpdate,
} from './messages.js';
import { legacyPostPipeline } from './post-pipeline-v1.js';
import { reviewPipelineV2 } from './post-pipeline-v2.js';

export { progressQuery };

/** Marks histories made by the generate -> review -> publish pipeline (see post-pipeline-v1.ts). */
const REVIEW_PIPELINE = 'review-pipeline';
/**
 * Marks histories of the pipeline below: messages handled one at a time in order, the cancel
 * Update, review deadlines that close the review at once, rendering a lead time before publishing,
 * PublishAt indexed (see post-pipeline-v2.ts for what ran before).
 */
const PIPELINE_V3 = 'pipeline-v3';
/**
 * Marks histories where a reschedule while the review is open moved its deadline by the same
 * shift (the review keeps its lead before publishing), and the review's wait followed it.
 */
const REVIEW_DEADLINE_FOLLOWS = 'review-deadline-follows';

/** One post's pipeline, in whichever version its history began with. */
export async function postPipeline(input: PostPipelineInput): Promise<PipelineResult> {
  const progress: PipelineProgress = {
    postId: input.postId,
    status: 'queued',
    targets: Object.fromEntries(input.targets.map((t) => [t.key, 'pending'])),
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
  const result =
    // Only committed histories carry this (ARCHITECTURE.md, versioning): they never asked patched().
    input.pipelineVersion === 3
      ? await pipeline(input, progress, setStatus, indexed)
      : !patched(REVIEW_PIPELINE)
        ? await legacyPostPipeline(input, progress, setStatus)
        : !patched(PIPELINE_V3)
          ? await reviewPipelineV2(input, progress, setStatus)
          : await pipeline(input, progress, setStatus, indexed);
  // Every Update that was accepted finishes before the run does (also when it was cancelled).
  await CancellationScope.nonCancellable(() => condition(allHandlersFinished));
  return result;
}

type Decision = { kind: 'approve' } | { kind: 'reject'; feedback: string };

type Stage =
  | 'drafting'
  | 'review'
  | 'deciding'
  | 'expired'
  | 'waiting'
  | 'rendering'
  | 'publishing'
  | 'retry_window'
  | 'ending'
  | 'done';

/** Where the post can still be rescheduled or cancelled: nothing has been published yet. */
const BEFORE_PUBLISHING: readonly Stage[] = ['drafting', 'review', 'deciding', 'expired', 'waiting', 'rendering'];
/** Where a manual review is still to come or under way (unless it was just approved). */
const REVIEW_AHEAD: readonly Stage[] = ['drafting', 'review', 'deciding'];

/**
 * Draft the post from its brief, have a person review it (as many rounds as allowed, edits and
 * decisions taken one at a time in the order sent), wait until shortly before its time, render
 * its media, wait for its time, publish to every target at once, and keep failed targets open for
 * retries for a while.
 */
async function pipeline(
  input: PostPipelineInput,
  progress: PipelineProgress,
  setStatus: (status: PostStatus) => void,
  indexed: boolean,
): Promise<PipelineResult> {
  const { postId, targets } = input;
  const leadMs = (input.renderLeadMinutes ?? DEFAULT_RENDER_LEAD_MINUTES) * 60_000;
  // The zone the post's times were given in (a reschedule may bring another).
  let zone = input.timeZone;
  const when = (iso: string) => formatInstant(iso, zone);

  const state = {
    stage: 'drafting' as Stage,
    round: 0,
    decision: undefined as Decision | undefined,
    /** Why decisions are refused once the review closed at its deadline. */
    reviewClosed: undefined as string | undefined,
    /** When the review is due (ISO); a reschedule while the review is open moves it along. */
    reviewDeadline: input.review?.mode === 'manual' ? input.review.deadline : undefined,
    /** Accepted reschedules still moving the review deadline: its timer waits for them. */
    movingDeadline: 0,
    publishAt: input.publishAt ?? null,
    /** Accepted Updates that may still change the course (reschedule, cancel): they land first. */
    pending: 0,
    /** Set once a cancel Update has been recorded. */
    cancelled: undefined as string | undefined,
    /** The post's recorded end. */
    ended: undefined as PostStatus | undefined,
  };
  // Read through a function: handlers change the stage while the main flow awaits.
  const stage = (): Stage => state.stage;
  const messages = new FifoLock();
  const activities = pipelineActivities(
    () => priorityFor(state.publishAt, Date.now(), leadMs),
    input.uploadTaskQueue ?? `${workflowInfo().taskQueue}-uploads`,
  );
  const outcomes: TargetOutcome[] = targets.map((t) => ({ key: t.key, ok: false }));
  const retryQueue: string[] = [];
  let firstRoundDone = false;
  /** Set once a target went up ahead with the platform's own schedule: why the time is no longer ours to change. */
  let scheduledByPlatform: string | undefined;
  const uploadedEarly = new Set<string>();
  const confirmQueue: ConfirmTargetInput[] = [];
  /** The public URL of each published target, for the words the Temporal UI shows. */
  const links = new Map<string, string>();
  /** Everything before publishing: a cancel Update cancels it, as an external cancellation does. */
  const beforePublishing = new CancellationScope();

  const indexPublishAt = () => {
    if (indexed && state.publishAt) {
      upsertSearchAttributes([{ key: PublishAtAttribute, value: new Date(state.publishAt) }]);
    }
  };

  // --- What people can do while it runs -----------------------------------------------------

  const inReview = () => {
    if (state.stage !== 'review') {
      throw new Error(state.reviewClosed ?? `The post is not waiting for review (it is ${words(progress.status)})`);
    }
  };
  const storable = (field: string, value: unknown) => {
    const at = findUnstorableText(value, field);
    if (at) throw new Error(`${at}: ${STORABLE_TEXT_RULE}`);
  };
  /** A decision failed to record: the review is open again for another try. */
  const reopenReview = () => {
    if (state.stage === 'deciding') {
      state.stage = 'review';
      showReview();
    }
  };

  setHandler(
    approveUpdate,
    async ({ edits }) => {
      state.stage = 'deciding';
      setCurrentDetails('recording the approval');
      return messages.run(async () => {
        try {
          if (edits && Object.keys(edits).length > 0) {
            await activities.answer('save draft edits').applyDraftEdits({ postId, edits });
          }
          await activities.answer('record: approved').recordReviewOutcome({ postId, outcome: 'approved' });
        } catch (err) {
          reopenReview();
          throw answerFailure('record the approval', err);
        }
        state.decision = { kind: 'approve' };
        return { round: state.round };
      });
    },
    {
      validator: ({ edits }) => {
        inReview();
        if (edits !== undefined) storable('edits', edits);
      },
    },
  );
  setHandler(
    rejectUpdate,
    async ({ feedback }) => {
      state.stage = 'deciding';
      setCurrentDetails('recording the rejection');
      return messages.run(async () => {
        try {
          await activities.answer('record: rejected').recordReviewOutcome({ postId, outcome: 'rejected' });
        } catch (err) {
          reopenReview();
          throw answerFailure('record the rejection', err);
        }
        state.decision = { kind: 'reject', feedback: feedback.trim() };
        return { round: state.round + 1 };
      });
    },
    {
      validator: ({ feedback }) => {
        inReview();
        if (!input.generate)
          throw new Error('This post was written by hand: edit its drafts and approve, or cancel it');
        if (typeof feedback !== 'string' || !feedback.trim()) throw new Error('feedback: say what should change');
        storable('feedback', feedback);
        const review = input.review;
        if (review?.mode === 'manual' && state.round >= review.maxRounds) {
          throw new Error(
            `No revision rounds left (${review.maxRounds} used): edit the drafts and approve, or cancel the post`,
          );
        }
      },
    },
  );
  setHandler(
    editDraftUpdate,
    ({ targetKey, draft }) =>
      messages.run(async () => {
        try {
          await activities.answer(`save draft edit -> ${targetKey}`).applyDraftEdits({
            postId,
            edits: { [targetKey]: draft },
          });
        } catch (err) {
          throw answerFailure('save the edit', err);
        }
        return { round: state.round };
      }),
    {
      validator: ({ targetKey, draft }) => {
        inReview();
        if (!targets.some((t) => t.key === targetKey))
          throw new Error(`targetKey: this post has no target "${targetKey}"`);
        storable('draft', draft);
      },
    },
  );
  /**
   * The review deadline a reschedule to `next` carries along: moved by the same shift as the
   * publish time while the review is open (not approved, not closed at its deadline); undefined
   * when nothing moves.
   */
  const followingDeadline = (next: string): string | undefined => {
    if (input.review?.mode !== 'manual' || !REVIEW_AHEAD.includes(state.stage)) return undefined;
    if (state.decision?.kind === 'approve' || state.reviewClosed !== undefined) return undefined;
    if (!state.reviewDeadline || !state.publishAt) return undefined;
    const shift = Date.parse(next) - Date.parse(state.publishAt);
    if (shift === 0) return undefined;
    return new Date(Date.parse(state.reviewDeadline) + shift).toISOString();
  };

  setHandler(
    rescheduleUpdate,
    async ({ publishAt: next, timeZone }) => {
      state.pending += 1;
      // Decided as it is accepted, so a deadline firing meanwhile waits for the move.
      const follows = followingDeadline(next) !== undefined && patched(REVIEW_DEADLINE_FOLLOWS);
      if (follows) state.movingDeadline += 1;
      try {
        await messages.run(async () => {
          // Messages ahead of this one may have decided the review or moved the time meanwhile.
          const reviewDeadline = follows ? followingDeadline(next) : undefined;
          try {
            await activities
              .answer('record: rescheduled')
              .updatePublishAt({ postId, publishAt: next, ...(reviewDeadline ? { reviewDeadline } : {}) });
          } catch (err) {
            throw answerFailure('reschedule the post', err);
          }
          // Set here, within the queue, so the next reschedule in it shifts from this time.
          state.publishAt = next;
          if (reviewDeadline) state.reviewDeadline = reviewDeadline;
        });
        progress.publishAt = next;
        if (timeZone) zone = timeZone;
        indexPublishAt();
      } finally {
        state.pending -= 1;
        if (follows) state.movingDeadline -= 1;
      }
      return { publishAt: next };
    },
    {
      validator: ({ publishAt: next, timeZone }) => {
        if (!BEFORE_PUBLISHING.includes(state.stage)) throw new Error(`Too late to reschedule: ${tooLate()}`);
        if (scheduledByPlatform) throw new Error(`Too late to reschedule: ${scheduledByPlatform}`);
        if (typeof next !== 'string' || !Number.isFinite(Date.parse(next))) {
          throw new Error('publishAt: expected an ISO-8601 instant');
        }
        if (timeZone !== undefined && (typeof timeZone !== 'string' || !isTimeZone(timeZone))) {
          throw new Error('timeZone: expected an IANA time zone');
        }
        // Shifts add up, so one measured from a time an earlier reschedule is still moving is right.
        const deadline = followingDeadline(next);
        if (deadline !== undefined && Date.parse(deadline) <= Date.now()) {
          throw new Error(
            `Too late to reschedule: the review deadline moves with the publish time and would be ${when(deadline)}, which has passed; choose a later time, or decide the review first`,
          );
        }
      },
    },
  );
  setHandler(
    cancelUpdate,
    async ({ reason }) => {
      const why = reason?.trim() || 'Cancelled on request';
      state.pending += 1;
      try {
        await messages.run(async () => {
          if (state.ended) return; // ended meanwhile, e.g. cancelled at the review deadline
          try {
            await activities.answer('record: cancelled').recordCancellation({ postId, reason: why });
          } catch (err) {
            throw answerFailure('cancel the post', err);
          }
          state.cancelled = why;
          beforePublishing.cancel();
        });
      } finally {
        state.pending -= 1;
      }
      await condition(() => state.ended !== undefined);
      if (state.ended !== 'cancelled') {
        throw ApplicationFailure.create({
          message: `Too late to cancel: the post is ${words(state.ended!)}`,
          type: 'TooLate',
          nonRetryable: true,
        });
      }
      return { status: 'cancelled' as const };
    },
    {
      validator: ({ reason } = {}) => {
        if (!BEFORE_PUBLISHING.includes(state.stage)) throw new Error(`Too late to cancel: ${tooLate()}`);
        if (scheduledByPlatform) throw new Error(`Too late to cancel: ${scheduledByPlatform}`);
        if (reason !== undefined && typeof reason !== 'string') throw new Error('reason: expected text');
        storable('reason', reason);
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
        if (!retryWindowOpen()) throw new Error('Only a target that failed after publishing can be retried');
        const outcome = outcomes.find((o) => o.key === targetKey);
        if (!outcome) throw new Error(`targetKey: this post has no target "${targetKey}"`);
        if (outcome.ok) throw new Error(`Target "${targetKey}" is already published`);
        if (retryQueue.includes(targetKey) || progress.targets[targetKey] === 'publishing') {
          throw new Error(`Target "${targetKey}" is already being retried`);
        }
      },
    },
  );

  setHandler(
    confirmTargetUpdate,
    (request) => {
      confirmQueue.push(request);
      return { targetKey: request.targetKey };
    },
    {
      validator: ({ targetKey, url }) => {
        if (!retryWindowOpen())
          throw new Error('Only a target that failed or whose outcome is unknown can be confirmed');
        const outcome = outcomes.find((o) => o.key === targetKey);
        if (!outcome) throw new Error(`targetKey: this post has no target "${targetKey}"`);
        if (outcome.ok) throw new Error(`Target "${targetKey}" is already published`);
        if (url !== undefined && (typeof url !== 'string' || !/^https?:\/\/\S+$/.test(url) || url.length > 2000))
          throw new Error('url: expected the http(s) address of the post');
        if (
          retryQueue.includes(targetKey) ||
          confirmQueue.some((c) => c.targetKey === targetKey) ||
          progress.targets[targetKey] === 'publishing'
        ) {
          throw new Error(`Target "${targetKey}" is already being retried or confirmed`);
        }
      },
    },
  );

  /**
   * Retries and confirmations are taken once every target's first try has ended: the post shows
   * its failures a moment before the window's own stage begins, and a person acting on them then
   * is queued rather than refused.
   */
  function retryWindowOpen(): boolean {
    if (state.stage === 'retry_window') return true;
    return state.stage === 'publishing' && firstRoundDone && (input.retryWindowDays ?? 0) > 0;
  }

  function tooLate(): string {
    if (state.stage === 'publishing') return 'publishing has started';
    if (state.stage === 'retry_window') return 'the post is published in part; failed targets can still be retried';
    if (state.stage === 'ending') return 'the post has ended; its result is being recorded';
    return `the post has ended (${words(state.ended ?? progress.status)})`;
  }

  // --- The process ----------------------------------------------------------------------------

  let early: PipelineResult | undefined;
  try {
    early = await beforePublishing.run(prepare);
  } catch (err) {
    if (!isCancellation(err)) throw err;
    early = await cancelled(state.cancelled ?? 'Cancelled on request', state.cancelled !== undefined);
  }
  if (early) return early;

  // From here on a cancellation cannot interrupt: half a publish is worse than none.
  setStatus('publishing');
  setCurrentDetails(`publishing to ${targets.map((t) => t.key).join(', ')}`);
  await CancellationScope.nonCancellable(() =>
    Promise.all(targets.filter((t) => !uploadedEarly.has(t.key)).map((t) => publishOne(t))),
  );
  firstRoundDone = true;
  let result = await finish(outcomes);
  if (outcomes.some((o) => !o.ok) && (input.retryWindowDays ?? 0) > 0) result = await retryWindow(result);
  state.stage = 'done';
  return result;

  /** Drafting, review, rendering and waiting; a result when the post ended before publishing. */
  async function prepare(): Promise<PipelineResult | undefined> {
    if (input.generate) {
      const failed = await draft(0);
      if (failed) return failed;
    }
    if (input.review?.mode === 'manual') {
      const ended = await reviewRounds(input.review);
      if (ended) return ended;
    }
    // A post scheduled far ahead holds no work until shortly before its time.
    await waitUntil(leadMs, 'render');
    state.stage = 'rendering';
    setStatus('rendering');
    setCurrentDetails('rendering media');
    try {
      await activities.renderMedia()({ postId });
    } catch (err) {
      if (isCancellation(err)) throw err;
      const renderError = describeFailure(err);
      await settle();
      state.stage = 'ending';
      return finish(
        targets.map((t) => ({ key: t.key, ok: false, error: renderError })),
        { renderError },
      );
    }
    await uploadAhead();
    for (;;) {
      await waitUntil(0, 'publish');
      await settle();
      if (!state.publishAt || Date.parse(state.publishAt) <= Date.now()) break;
    }
    state.stage = 'publishing';
    return undefined;
  }

  /** Drafts a round; a failure that outlasted its retries ends the post, in words. */
  async function draft(round: number, feedback?: string): Promise<PipelineResult | undefined> {
    state.stage = 'drafting';
    setStatus('generating');
    setCurrentDetails(round === 0 ? 'drafting with AI' : `redrafting with the reviewer's feedback (round ${round})`);
    try {
      await activities.generateDrafts(round)({ postId, round, ...(feedback ? { feedback } : {}) });
      return undefined;
    } catch (err) {
      if (isCancellation(err)) throw err;
      const generateError = describeFailure(err);
      await settle();
      state.stage = 'ending';
      return finish(
        targets.map((t) => ({ key: t.key, ok: false, error: generateError })),
        { generateError },
      );
    }
  }

  function showReview() {
    const deadline = state.reviewDeadline ? `deadline ${when(state.reviewDeadline)}` : 'no deadline';
    setCurrentDetails(`awaiting review (round ${state.round}), ${deadline}`);
  }

  /** Review rounds until approval; a result when the post ended instead. */
  async function reviewRounds(review: Extract<ReviewPolicy, { mode: 'manual' }>) {
    const decided = () => state.decision !== undefined;
    /** The deadline has passed, once reschedules accepted before it have moved it along. */
    const deadlinePassed = async (): Promise<boolean> => {
      for (;;) {
        const deadline = state.reviewDeadline;
        if (deadline === undefined || Date.parse(deadline) > Date.now()) return false;
        if (state.movingDeadline === 0) return true;
        await condition(() => state.movingDeadline === 0);
      }
    };
    /** Waits for a decision until the deadline, following it when a reschedule moves it. */
    const awaitDecision = async (): Promise<boolean> => {
      for (;;) {
        const deadline = state.reviewDeadline;
        if (deadline === undefined) return condition(decided).then(() => true);
        if (decided()) return true;
        const left = Date.parse(deadline) - Date.now();
        if (left > 0 && (await condition(() => decided() || state.reviewDeadline !== deadline, left))) {
          if (decided()) return true;
          if (state.stage === 'review') showReview();
          continue; // moved: wait for the new deadline
        }
        // The deadline fired: a reschedule accepted before it moves it first.
        if (state.movingDeadline > 0) await condition(() => state.movingDeadline === 0);
        if (state.reviewDeadline !== deadline) continue;
        return false;
      }
    };
    for (;;) {
      state.decision = undefined;
      // A round drafted after the deadline is never shown as awaiting review.
      if (await deadlinePassed()) return expire(review);
      state.stage = 'review';
      setStatus('awaiting_review');
      showReview();
      // In the message queue, so a decision sent meanwhile is recorded after it, never before.
      await messages.run(() =>
        activities.record('record: awaiting review').markAwaitingReview({ postId, round: state.round }),
      );
      const answered = await awaitDecision();
      if (!answered) {
        // The deadline fired. A decision accepted before it is still being recorded: it wins, unless it fails.
        if (stage() === 'deciding') await condition(() => decided() || stage() !== 'deciding');
        if (!decided()) return expire(review);
      }
      const answer = state.decision!;
      if (answer.kind === 'approve') return undefined;
      state.round += 1;
      progress.round = state.round;
      log.info('regenerating with review feedback', { postId, round: state.round });
      const failed = await draft(state.round, answer.feedback);
      if (failed) return failed;
    }
  }

  /** The deadline passed without a decision: the review closes at once, then onExpiry applies. */
  async function expire(review: Extract<ReviewPolicy, { mode: 'manual' }>): Promise<PipelineResult | undefined> {
    state.stage = 'expired';
    const deadline = when(state.reviewDeadline!);
    if (review.onExpiry === 'approve') {
      state.reviewClosed = `The review deadline (${deadline}) passed: the drafts were approved automatically`;
      setCurrentDetails(`review deadline ${deadline} passed: approving automatically`);
      await messages.run(() =>
        activities
          .record('record: approved at deadline')
          .recordReviewOutcome({ postId, outcome: 'approved_at_deadline' }),
      );
      return undefined;
    }
    state.reviewClosed = `The review deadline (${deadline}) passed: the post is cancelled`;
    return messages.run(() => cancelled('The review deadline passed without a decision'));
  }

  /**
   * Waits until `leadMs` before the publish time, following reschedules; at once when that has
   * passed. The post shows as scheduled meanwhile.
   */
  async function waitUntil(lead: number, next: 'render' | 'publish'): Promise<void> {
    for (;;) {
      const at = state.publishAt;
      const wakeAt = at ? Date.parse(at) - lead : 0;
      if (!at || wakeAt <= Date.now()) return;
      if (state.stage !== 'waiting') {
        state.stage = 'waiting';
        setStatus('scheduled');
        indexPublishAt();
        await activities.record('record: scheduled').markScheduled({ postId, publishAt: at });
        continue; // the time may have moved meanwhile
      }
      setCurrentDetails(
        next === 'render'
          ? `scheduled for ${when(at)}; media renders from ${when(new Date(wakeAt).toISOString())}`
          : `scheduled for ${when(at)}; media ready`,
      );
      await condition(() => state.publishAt !== at, wakeAt - Date.now());
    }
  }

  /**
   * Targets on the platform's clock (YouTube `scheduleOn: youtube`) go up as soon as their media is
   * ready, private until the post's time by the platform's own schedule, so its processing is done
   * by then. From that moment the time belongs to the platform: reschedule and cancel are refused
   * with the reason. Only posts created with such targets take this path.
   */
  async function uploadAhead(): Promise<void> {
    const early = targets.filter((t) => t.early);
    const at = state.publishAt;
    if (early.length === 0 || !at || Date.parse(at) <= Date.now()) return;
    await settle();
    const keys = early.map((t) => t.key).join(', ');
    scheduledByPlatform = `${keys} is uploaded and scheduled by the platform itself for ${when(at)}; change or delete it there`;
    setCurrentDetails(`uploading ${keys} ahead, scheduled by the platform for ${when(at)}`);
    for (const t of early) uploadedEarly.add(t.key);
    await CancellationScope.nonCancellable(() => Promise.all(early.map((t) => publishOne(t, false, at))));
  }

  /** Accepted reschedules and cancels land before the pipeline commits to anything. */
  async function settle(): Promise<void> {
    await condition(() => state.pending === 0);
    if (state.cancelled !== undefined) throw new CancelledFailure(state.cancelled);
  }

  async function retryWindow(first: PipelineResult): Promise<PipelineResult> {
    let result = first;
    state.stage = 'retry_window';
    const closesAt = Date.now() + (input.retryWindowDays ?? 0) * 24 * 3600_000;
    const showWindow = () =>
      setCurrentDetails(
        `published in part; failed: ${outcomes
          .filter((o) => !o.ok)
          .map((o) => o.key)
          .join(', ')}; retries possible until ${when(new Date(closesAt).toISOString())}`,
      );
    const retryNext = async () => {
      if (confirmQueue.length > 0) {
        const { targetKey, url } = confirmQueue[0]!;
        await activities
          .record(`record: ${targetKey} confirmed by a person`)
          .confirmPublished({ postId, targetKey, ...(url ? { url } : {}) });
        const outcome = outcomes.find((o) => o.key === targetKey)!;
        outcome.ok = true;
        delete outcome.error;
        if (url) links.set(targetKey, url);
        progress.targets[targetKey] = 'published';
        confirmQueue.shift();
        result = await finish(outcomes, {}, true);
        return;
      }
      const target = targets.find((t) => t.key === retryQueue[0])!;
      await CancellationScope.nonCancellable(() => publishOne(target, true));
      retryQueue.shift();
      result = await finish(outcomes, {}, true);
    };
    const waiting = () => retryQueue.length > 0 || confirmQueue.length > 0;
    try {
      for (;;) {
        showWindow();
        if (!waiting()) {
          const left = closesAt - Date.now();
          if (outcomes.every((o) => o.ok) || left <= 0) break;
          if (!(await condition(waiting, left))) break;
        }
        await retryNext();
      }
    } catch (err) {
      // Cancelling now only closes the retry window.
      if (!isCancellation(err)) throw err;
    }
    state.stage = 'done';
    // Retries accepted before the window closed still run.
    while (waiting()) await retryNext();
    setCurrentDetails(endWords(result.status));
    return result;
  }

  async function publishOne(target: PipelineTarget, retry = false, scheduledFor?: string): Promise<void> {
    const outcome = outcomes.find((o) => o.key === target.key)!;
    progress.targets[target.key] = 'publishing';
    try {
      const receipt = await activities.publishTarget(target)({
        postId,
        targetKey: target.key,
        ...(retry ? { retry } : {}),
        ...(scheduledFor ? { scheduledFor } : {}),
      });
      // Where it went, for the operator's summary (the receipt is in the history already).
      const url = receipt && typeof receipt.url === 'string' ? receipt.url : undefined;
      if (url) links.set(target.key, url);
      progress.targets[target.key] = 'published';
      outcome.ok = true;
      delete outcome.error;
    } catch (err) {
      progress.targets[target.key] = 'failed';
      outcome.ok = false;
      outcome.error = describeFailure(err);
    }
  }

  async function finish(
    final: TargetOutcome[],
    errors: { renderError?: string; generateError?: string } = {},
    retry = false,
  ): Promise<PipelineResult> {
    const status = await CancellationScope.nonCancellable(() =>
      activities
        .record('record: results')
        .recordResults({ postId, outcomes: final, ...errors, ...(retry ? { retry } : {}) }),
    );
    setStatus(status);
    state.ended = status;
    setCurrentDetails(endWords(status));
    return { postId, status, targets: final.map((o) => ({ ...o })) };
  }

  function endWords(status: PostStatus): string {
    const failed = outcomes.filter((o) => !o.ok).map((o) => `${o.key}: ${o.error ?? 'failed'}`);
    const published = [...links].map(([key, url]) => `${key} -> ${url}`);
    return [
      failed.length > 0 ? `${words(status)} (${failed.join('; ')})` : words(status),
      ...(published.length > 0 ? [published.join(', ')] : []),
    ].join('; ');
  }

  /** Ends the post as cancelled; `recorded` when the cancel Update already wrote it down. */
  async function cancelled(reason: string, recorded = false): Promise<PipelineResult> {
    state.stage = 'ending';
    if (!recorded) {
      await CancellationScope.nonCancellable(() =>
        activities.record('record: cancelled').recordCancellation({ postId, reason }),
      );
    }
    setStatus('cancelled');
    for (const t of targets) progress.targets[t.key] = 'cancelled';
    state.ended = 'cancelled';
    state.stage = 'done';
    setCurrentDetails(`cancelled: ${reason}`);
    return { postId, status: 'cancelled', targets: targets.map((t) => ({ key: t.key, ok: false, error: reason })) };
  }
}

function words(status: PostStatus): string {
  return status.replace('_', ' ');
}

/**
 * An Update's write failed for good. A refusal in words (a draft that does not fit) goes back as
 * it is; anything else (the database did not answer in time) says nothing changed, so the person
 * can simply try again.
 */
function answerFailure(what: string, err: unknown): Error {
  const cause = innermostFailure(err);
  if (cause instanceof ApplicationFailure && cause.nonRetryable) return cause;
  return ApplicationFailure.create({
    message: `Could not ${what} just now (${describeFailure(err)}); nothing changed, try again shortly`,
    type: 'Unavailable',
    nonRetryable: true,
  });
}
