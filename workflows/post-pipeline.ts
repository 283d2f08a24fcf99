import {
  ActivityFailure,
  ApplicationFailure,
  defineQuery,
  log,
  proxyActivities,
  setHandler,
  sleep,
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
import { publishRetry } from '../domain/targets.js';

export const progressQuery = defineQuery<PipelineProgress>('progress');

const { renderMedia } = proxyActivities<Activities>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '1 minute',
  // About 20 minutes of tries: long enough to ride out a database restart.
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 25 },
});

// Recording the outcome only touches the database and is idempotent: it retries until it lands,
// so a post never stays "publishing" because the database was briefly away.
const { recordResults } = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '5 minutes' },
});

function publisherFor(target: PipelineTarget) {
  return proxyActivities<Activities>({
    startToCloseTimeout: '30 minutes',
    // A worker that dies mid-upload is noticed in a minute, not after the whole timeout.
    heartbeatTimeout: '1 minute',
    retry: { backoffCoefficient: 2, ...publishRetry[target.type] },
  }).publishTarget;
}

/** One post: wait for its time, render its media per target, publish to every target, record. */
export async function postPipeline({ postId, targets, publishAt }: PostPipelineInput): Promise<PipelineResult> {
  const progress: PipelineProgress = {
    postId,
    status: 'queued',
    targets: Object.fromEntries(targets.map((t) => [t.key, 'pending'])),
  };
  setHandler(progressQuery, () => progress);
  // Started without search attributes only where the server has none to offer.
  const indexed = workflowInfo().typedSearchAttributes.get(PostIdAttribute) !== undefined;
  const setStatus = (status: PostStatus) => {
    progress.status = status;
    if (indexed) upsertSearchAttributes([{ key: PostStatusAttribute, value: status }]);
  };

  const waitMs = publishAt ? Date.parse(publishAt) - Date.now() : 0;
  if (waitMs > 0) {
    setStatus('scheduled');
    log.info('waiting for publish time', { postId, publishAt });
    await sleep(waitMs);
  }

  setStatus('rendering');
  try {
    await renderMedia({ postId });
  } catch (err) {
    const renderError = describeFailure(err);
    const outcomes = targets.map((t) => ({ key: t.key, ok: false, error: renderError }));
    return finish(outcomes, renderError);
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

  async function finish(outcomes: TargetOutcome[], renderError?: string): Promise<PipelineResult> {
    const status = await recordResults({ postId, outcomes, ...(renderError ? { renderError } : {}) });
    setStatus(status);
    return { postId, status, targets: outcomes };
  }
}

/** The innermost message: what actually went wrong, not "activity task failed". */
function describeFailure(err: unknown): string {
  let current: unknown = err;
  while (current instanceof ActivityFailure && current.cause) current = current.cause;
  if (current instanceof ApplicationFailure || current instanceof Error) return current.message;
  return String(current);
}
