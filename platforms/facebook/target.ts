import { connectedPublisher, draftField, isVideo, option, sourceOf } from '../platform-target.js';
import type { Publisher } from '../publisher.js';
import { committedToPlatform } from '../publishing.js';
import { type FacebookInput, facebookPublisher } from './publisher.js';

export interface FacebookTargetConfig {
  graphUrl: string;
  /** FACEBOOK_GRAPH_VIDEO_URL. */
  graphVideoUrl: string;
  version: string;
  appId: string;
}

/** In place of a photo's link on a committed resume, which never sends it (see facebookPublisher). */
const SENT_ALREADY = '';

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
      // The journal first: a resumed post that may be on the Page already (committed) only reads the
      // verdict and sends no link, so it must not need one; PUBLIC_URL may be gone or changed since.
      const resumed = committedToPlatform(await target.context.journal.get());
      input = { kind: 'photos', imageUrls: files.map((f) => (resumed ? SENT_ALREADY : target.linkOf(f))), message };
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
