import {
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  log,
  patched,
  setHandler,
  sleep,
} from '@temporalio/workflow';
import type {
  PipelineProgress,
  PipelineResult,
  PostPipelineInput,
  PostStatus,
  TargetOutcome,
} from '../domain/pipeline.js';
import { databaseActivities, publisherFor, renderMedia } from './activity-proxies.js';
import { describeFailure } from './describe-failure.js';
import { type CancelInput, cancelUpdate } from './messages.js';

const { recordResults, recordCancellation } = databaseActivities;

/** Marks v1 runs cancelled while waiting that wrote the cancellation down (they did not before). */
const V1_RECORDS_CANCELLATION = 'v1-records-cancellation';

// The first pipeline (wait -> render -> publish -> record), kept so workflows started before
// drafting and review existed replay exactly as they ran. Change no call or its order here: the
// committed histories in tests/fixtures/histories/post-pipeline-v1-*.json prove it still matches.

export async function legacyPostPipeline(
  { postId, targets, publishAt }: PostPipelineInput,
  progress: PipelineProgress,
  setStatus: (status: PostStatus) => void,
): Promise<PipelineResult> {
  const waitMs = publishAt ? Date.parse(publishAt) - Date.now() : 0;
  // The wait is the only part that can be cancelled, by the cancel Update or from outside.
  const waiting = new CancellationScope();
  let stillWaiting = waitMs > 0;
  let cancelReason: string | undefined;
  let ended: PostStatus | undefined;
  setHandler(
    cancelUpdate,
    async ({ reason }) => {
      cancelReason = reason?.trim() || 'Cancelled on request';
      waiting.cancel();
      await condition(() => ended !== undefined);
      if (ended !== 'cancelled') {
        throw ApplicationFailure.create({
          message: `Too late to cancel: the post is ${ended}`,
          type: 'TooLate',
          nonRetryable: true,
        });
      }
      return { status: 'cancelled' as const };
    },
    {
      validator: (_input: CancelInput) => {
        if (!stillWaiting) throw new Error(`Too late to cancel: the post is ${progress.status.replace('_', ' ')}`);
      },
    },
  );
  if (waitMs > 0) {
    setStatus('scheduled');
    log.info('waiting for publish time', { postId, publishAt });
    try {
      await waiting.run(() => sleep(waitMs));
    } catch (err) {
      if (!isCancellation(err) || !patched(V1_RECORDS_CANCELLATION)) throw err;
      const reason = cancelReason ?? 'Cancelled on request';
      await CancellationScope.nonCancellable(() => recordCancellation({ postId, reason }));
      setStatus('cancelled');
      ended = 'cancelled';
      for (const t of targets) progress.targets[t.key] = 'cancelled';
      return { postId, status: 'cancelled', targets: targets.map((t) => ({ key: t.key, ok: false, error: reason })) };
    }
    stillWaiting = false;
  }

  setStatus('rendering');
  try {
    await renderMedia({ postId });
  } catch (err) {
    const renderError = describeFailure(err);
    return finish(
      targets.map((t) => ({ key: t.key, ok: false, error: renderError })),
      renderError,
    );
  }

  setStatus('publishing');
  const outcomes = await Promise.all(
    targets.map(async (target): Promise<TargetOutcome> => {
      progress.targets[target.key] = 'publishing';
      try {
        await publisherFor(target)({ postId, targetKey: target.key });
        progress.targets[target.key] = 'published';
        return { key: target.key, ok: true };
      } catch (err) {
        progress.targets[target.key] = 'failed';
        return { key: target.key, ok: false, error: describeFailure(err) };
      }
    }),
  );
  return finish(outcomes);

  async function finish(final: TargetOutcome[], renderError?: string): Promise<PipelineResult> {
    const status = await recordResults({ postId, outcomes: final, ...(renderError ? { renderError } : {}) });
    setStatus(status);
    ended = status;
    return { postId, status, targets: final };
  }
}
