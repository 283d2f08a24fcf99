import type { DraftFormat } from '../domain/drafts.js';
import type { Platform } from './connector.js';
import type {
  ConnectedTarget,
  MediaRules,
  Publisher,
  PublishReceipt,
  PublishRequest,
  RenditionFile,
} from './publisher.js';
import { OutcomeUnknownError } from './publisher.js';
import { committedToPlatform, type PlatformPublisher, publish } from './publishing.js';
import { fileSource, type UploadSource } from './upload-source.js';

/**
 * The shared half of a connected platform's Publisher: turn the stored post into the platform's
 * input, run the publishing core over the target's journal, and answer with the receipt (or the
 * "outcome unknown" state) the activity records.
 */

/** The placement rules bound each rendition's size; these only keep a sane ceiling. */
const PLATFORM_RENDITION_RULES: MediaRules = { maxWidth: 8192, maxHeight: 8192, format: 'jpeg', quality: 90 };

export const isVideo = (file: RenditionFile) => file.mimeType.startsWith('video/');
export const sourceOf = (file: RenditionFile): Promise<UploadSource> => fileSource(file.path, file.mimeType);

/** The draft's field as text, when it has one. */
export function draftField(request: PublishRequest, field: string): string | undefined {
  const value = request.draft?.[field];
  return typeof value === 'string' ? value : undefined;
}

export function draftTags(request: PublishRequest): string[] | undefined {
  const value = request.draft?.tags;
  return Array.isArray(value) ? value.filter((t): t is string => typeof t === 'string') : undefined;
}

/** In place of a link a committed resume cannot make: it never sends one (see `publicLinks`). */
const SENT_ALREADY = '';

/**
 * Each rendition's public link, for a platform that fetches media by URL. The journal is read
 * first: a resumed post the platform may hold already (committed) only asks for its verdict and
 * sends no link, so a link that can no longer be made (PUBLIC_URL gone or changed since) must not
 * refuse it: it stands as an empty string. A link that can be made is made, as on any run. Should
 * the platform's verdict end the commitment and a publisher send again in the same attempt, the
 * platform refuses the empty URL, and the next attempt (no longer committed) fails for the link.
 */
export async function publicLinks(target: ConnectedTarget): Promise<(file: RenditionFile) => string> {
  const committed = committedToPlatform(await target.context.journal.get());
  return (file) => {
    try {
      return target.linkOf(file);
    } catch (err) {
      if (committed) return SENT_ALREADY;
      throw err;
    }
  };
}

export function option<T>(target: ConnectedTarget, name: string): T | undefined {
  return target.options[name] as T | undefined;
}

export function connectedPublisher<Input>(
  type: Platform,
  build: (
    request: PublishRequest,
    target: ConnectedTarget,
  ) => Promise<{ publisher: PlatformPublisher<Input>; input: Input }>,
): Publisher {
  return {
    type,
    mediaRules: (_format: DraftFormat) => PLATFORM_RENDITION_RULES,
    async publish(request: PublishRequest): Promise<PublishReceipt> {
      const target = request.connected;
      if (!target) throw new Error(`a ${type} target needs its connected account`);
      const { publisher, input } = await build(request, target);
      const result = await publish(publisher, input, target.context);
      if (result.status === 'unknown') throw new OutcomeUnknownError(result.reason);
      return {
        location: result.url ?? '',
        platform: type,
        platformPostId: result.postId,
        url: result.url,
        ...(request.scheduledFor ? { scheduledFor: request.scheduledFor.toISOString(), clock: type } : {}),
        ...(result.note ? { note: result.note } : {}),
      };
    },
  };
}
