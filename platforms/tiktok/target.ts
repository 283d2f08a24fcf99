import { connectedPublisher, draftField, isVideo, option, publicLinks, sourceOf } from '../platform-target.js';
import type { Publisher } from '../publisher.js';
import { CreatorInfoCache, type TikTokInput, tiktokPublisher } from './publisher.js';

export interface TikTokTargetConfig {
  apiUrl: string;
  /** TIKTOK_APP_AUDITED. */
  audited: boolean;
  /** TIKTOK_INITS_PER_MINUTE. */
  initsPerMinute?: number | undefined;
}

/**
 * A video goes up by FILE_UPLOAD in TikTok's chunk plan; photos are pulled by TikTok from their
 * signed public links (PULL_FROM_URL, which needs the domain verified with TikTok).
 */
export function createTikTokTarget(config: TikTokTargetConfig): Publisher {
  // creator_info is asked at most once per few minutes per account, across posts. Inits and status
  // fetches are paced per account by the run's `pace`, shared by every worker.
  const cache = new CreatorInfoCache();
  return connectedPublisher('tiktok', async (request, target) => {
    const common = {
      mode: option<'direct' | 'inbox'>(target, 'mode') ?? 'direct',
      privacyLevel: option<string>(target, 'privacyLevel'),
      disableComment: option<boolean>(target, 'disableComment'),
      brandContent: option<boolean>(target, 'brandContent'),
      brandOrganic: option<boolean>(target, 'brandOrganic'),
      aigc: option<boolean>(target, 'aigc'),
    };
    const video = request.renditions.find(isVideo);
    const input: TikTokInput = video
      ? {
          ...common,
          kind: 'video',
          source: await sourceOf(video),
          caption: request.caption,
          disableDuet: option<boolean>(target, 'disableDuet'),
          disableStitch: option<boolean>(target, 'disableStitch'),
          coverTimestampMs: option<number>(target, 'coverTimestampMs'),
          ...(video.durationSec ? { durationSec: video.durationSec } : {}),
          ...(option<number>(target, 'chunkSize') ? { chunkSize: option<number>(target, 'chunkSize') } : {}),
        }
      : {
          ...common,
          kind: 'photo',
          // Committed (the pull init went out), a resumed run only asks TikTok: no link is needed.
          imageUrls: request.renditions.map(await publicLinks(target)),
          title: draftField(request, 'title'),
          description: request.caption,
          autoAddMusic: option<boolean>(target, 'autoAddMusic'),
        };
    return {
      publisher: tiktokPublisher({
        apiUrl: config.apiUrl,
        audited: config.audited,
        account: target.connectionId,
        cache,
        ...(config.initsPerMinute ? { initsPerMinute: config.initsPerMinute } : {}),
      }),
      input,
    };
  });
}
