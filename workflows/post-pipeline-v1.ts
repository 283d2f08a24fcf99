import { log, sleep } from '@temporalio/workflow';
import type {
  PipelineProgress,
  PipelineResult,
  PostPipelineInput,
  PostStatus,
  TargetOutcome,
} from '../domain/pipeline.js';
import { databaseActivities, publisherFor, renderMedia } from './activity-proxies.js';
import { describeFailure } from './describe-failure.js';

const { recordResults } = databaseActivities;

// The first pipeline (wait -> render -> publish -> record), kept so workflows started before
// drafting and review existed replay exactly as they ran. Change no call or its order here: the
// committed histories in tests/fixtures/histories/post-pipeline-v1-*.json prove it still matches.

export async function legacyPostPipeline(
  { postId, targets, publishAt }: PostPipelineInput,
  progress: PipelineProgress,
  setStatus: (status: PostStatus) => void,
): Promise<PipelineResult> {
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
    return { postId, status, targets: final };
  }
}
