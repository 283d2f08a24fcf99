import { connectedPublisher, isVideo, option, publicLinks, sourceOf } from '../platform-target.js';
import type { Publisher } from '../publisher.js';
import { instagramShape } from './container-plan.js';
import { type InstagramInput, instagramPublisher } from './publisher.js';

export interface InstagramTargetConfig {
  /** INSTAGRAM_GRAPH_URL (Instagram Login). */
  instagramGraphUrl: string;
  /** FACEBOOK_GRAPH_URL (an Instagram account reached through a Facebook Page). */
  facebookGraphUrl: string;
  ruploadUrl: string;
  version: string;
  pollIntervalMs?: number | undefined;
}

/**
 * Instagram fetches every picture and video itself from its signed public link; a Reel through
 * Facebook Login goes up by the resumable upload instead when the caller prefers it.
 */
export function createInstagramTarget(config: InstagramTargetConfig): Publisher {
  return connectedPublisher('instagram', async (request, target) => {
    const files = request.renditions;
    const placement = option<string>(target, 'placement') ?? files[0]?.placement;
    const caption = request.caption;
    const first = files[0];
    let input: InstagramInput;
    if (!first) throw new Error('an Instagram target needs a picture or a video');
    // The same shape the account's container budget was reserved for (quota-budget.ts).
    const shape = instagramShape(files.length, placement);
    // Committed (media_publish went out), a resumed run only asks the container: no link is needed.
    const linkOf = await publicLinks(target);
    if (shape === 'story') {
      input = isVideo(first) ? { kind: 'story', videoUrl: linkOf(first) } : { kind: 'story', imageUrl: linkOf(first) };
    } else if (shape === 'carousel') {
      input = {
        kind: 'carousel',
        items: files.map((f) => ({ type: isVideo(f) ? 'video' : 'image', url: linkOf(f) }) as const),
        caption,
      };
    } else if (isVideo(first)) {
      const upload = target.via === 'facebook' && option<boolean>(target, 'resumableUpload') === true;
      input = {
        kind: 'reel',
        ...(upload ? { source: await sourceOf(first) } : { videoUrl: linkOf(first) }),
        caption,
        shareToFeed: option<boolean>(target, 'shareToFeed') ?? true,
      };
    } else {
      input = { kind: 'image', imageUrl: linkOf(first), caption, altText: option<string>(target, 'altText') };
    }
    const login = target.via === 'facebook' ? 'facebook' : 'instagram';
    return {
      publisher: instagramPublisher({
        graphUrl: login === 'facebook' ? config.facebookGraphUrl : config.instagramGraphUrl,
        version: config.version,
        login,
        ruploadUrl: config.ruploadUrl,
        pollIntervalMs: config.pollIntervalMs,
        igUserId: target.accountId,
      }),
      input,
    };
  });
}
