import { connectedPublisher, draftField, isVideo, option, sourceOf } from '../platform-target.js';
import type { Publisher } from '../publisher.js';
import { type FacebookInput, facebookPublisher } from './publisher.js';

export interface FacebookTargetConfig {
  graphUrl: string;
  /** FACEBOOK_GRAPH_VIDEO_URL. */
  graphVideoUrl: string;
  version: string;
  appId: string;
}

/** A Page post: text or link, photos (fetched by Facebook from their links), a video, or a Reel. */
export function createFacebookTarget(config: FacebookTargetConfig): Publisher {
  return connectedPublisher('facebook', async (request, target) => {
    const files = request.renditions;
    const video = files.find(isVideo);
    const message = request.caption;
    let input: FacebookInput;
    if (video) {
      const reel = (option<string>(target, 'placement') ?? video.placement) === 'reel';
      input = reel
        ? { kind: 'reel', source: await sourceOf(video), description: message, title: draftField(request, 'title') }
        : { kind: 'video', source: await sourceOf(video), description: message, title: draftField(request, 'title') };
    } else if (files.length > 0) {
      input = { kind: 'photos', imageUrls: files.map((f) => target.linkOf(f)), message };
    } else {
      input = { kind: 'text', message, link: option<string>(target, 'link') };
    }
    return {
      publisher: facebookPublisher({
        graphUrl: config.graphUrl,
        graphVideoUrl: config.graphVideoUrl,
        version: config.version,
        pageId: target.accountId,
        appId: config.appId,
        userToken: target.userToken,
      }),
      input,
    };
  });
}
