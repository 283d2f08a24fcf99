import { cutText } from '../../domain/cut-text.js';
import { connectedPublisher, draftField, draftTags, isVideo, option, sourceOf } from '../platform-target.js';
import type { Publisher } from '../publisher.js';
import { type YouTubeInput, youtubePublisher } from './publisher.js';

/** A resumable upload of the post's video; a picture beside it becomes the custom thumbnail. */
export function createYouTubeTarget(config: { apiUrl: string }): Publisher {
  return connectedPublisher('youtube', async (request, target) => {
    const video = request.renditions.find(isVideo);
    if (!video) throw new Error('a YouTube target needs a video');
    const thumbnail = request.renditions.find((file) => !isVideo(file));
    const title = draftField(request, 'title') ?? titleFromCaption(request.caption);
    const input: YouTubeInput = {
      source: await sourceOf(video),
      title,
      description: draftField(request, 'description') ?? (draftField(request, 'title') ? undefined : request.caption),
      tags: option<string[]>(target, 'tags') ?? draftTags(request),
      categoryId: option<string>(target, 'categoryId'),
      // On YouTube's clock: private until publishAt, when YouTube makes it public by itself.
      ...(request.scheduledFor && request.scheduledFor.getTime() > Date.now()
        ? { publishAt: request.scheduledFor }
        : { privacy: option<'public' | 'private' | 'unlisted'>(target, 'privacy') }),
      madeForKids: option<boolean>(target, 'madeForKids'),
      containsSyntheticMedia: option<boolean>(target, 'containsSyntheticMedia'),
      notifySubscribers: option<boolean>(target, 'notifySubscribers'),
      ...(thumbnail ? { thumbnail: await sourceOf(thumbnail) } : {}),
      ...(option<number>(target, 'chunkSize') ? { chunkSize: option<number>(target, 'chunkSize') } : {}),
    };
    return { publisher: youtubePublisher({ apiUrl: config.apiUrl }), input };
  });
}

/** The caption's first line, cut to YouTube's 100 characters (2.3) without splitting a character. */
export function titleFromCaption(caption: string): string {
  return cutText(caption.split('\n')[0] ?? '', 100);
}
