import { connectedPublisher, draftField, isVideo, option, publicLinks, sourceOf } from '../platform-target.js';
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
      // A resumed post that may be on the Page already (committed) only reads the verdict and sends
      // no link (see facebookPublisher), so it must not need one: PUBLIC_URL may be gone or changed since.
      const linkOf = await publicLinks(target);
      input = { kind: 'photos', imageUrls: files.map(linkOf), message };
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
