import { and, eq, inArray } from 'drizzle-orm';
import type { Database } from '../../db/client.js';
import { media } from '../../db/schema.js';
import { AI_IMAGE_SIZE } from '../../domain/drafts.js';
import { type FieldError, ValidationError } from '../../domain/errors.js';
import type { MediaPlatform, Placement } from '../../domain/media-rules.js';
import type { FitMode } from '../../media/check.js';
import type { ImageFacts, MediaFacts } from '../../media/probe.js';
import { type MediaValidation, type ValidateOptions, validateMedia } from '../../media/validate.js';

/** How a post's target names its media wishes (the local export's `platform`, `placement`, `fit`). */
export interface MediaTarget {
  type: string;
  key?: string | undefined;
  platform: MediaPlatform;
  placement?: Placement | undefined;
  fit?: 'attention' | 'centre' | 'pad' | undefined;
}

/** The crop strategy a post names, in the checker's terms (video crops are centred). */
export const checkerFit = (fit: MediaTarget['fit']): FitMode =>
  fit === 'attention' || fit === 'centre' ? 'crop' : 'blur';

/** A post's media refused for one of its targets: the 422's field errors, with the whole report beside them. */
export class MediaRefusedError extends ValidationError {
  override name = 'MediaRefusedError';
  constructor(
    errors: FieldError[],
    readonly validation: MediaValidation,
  ) {
    super(errors);
    this.details = { targets: validation.targets };
  }
}

type MediaRow = typeof media.$inferSelect;

/** What a media row is; rows from before facts were recorded are images known by their size. */
export function factsOfRow(row: MediaRow): MediaFacts {
  if (row.facts) return row.facts as unknown as MediaFacts;
  const facts: ImageFacts = {
    kind: 'image',
    bytes: row.sizeBytes,
    format: row.mimeType.replace(/^image\//, ''),
    width: row.width ?? 0,
    height: row.height ?? 0,
    orientation: 1,
    hasIccProfile: false,
    hasExif: false,
  };
  return facts;
}

/** What of a post decides its media: its own files, and whether its brief asks for an image. */
export interface PostMediaWishes {
  mediaIds: readonly string[];
  brief?: { generateImage?: boolean | undefined } | null | undefined;
}

/**
 * What a post whose brief asks for an image (`generateImage`) will have when it has no media of its
 * own: the AI's image, made when drafting (activities/generate-drafts.ts adds it only then). Without
 * an AI endpoint there is no image, and no promise.
 */
export function promisedMedia(post: PostMediaWishes, aiImages: boolean): ValidateOptions {
  if (!aiImages || post.brief?.generateImage !== true || post.mediaIds.length > 0) return {};
  return {
    promisedImage: {
      kind: 'image',
      // PNG, as image endpoints answer; the render step makes each platform's JPEG from it.
      format: 'png',
      bytes: AI_IMAGE_SIZE.width * AI_IMAGE_SIZE.height * 2,
      ...AI_IMAGE_SIZE,
      orientation: 1,
      hasIccProfile: false,
      hasExif: false,
    },
  };
}

/** The owner's rows among `ids`, in one read; another user's media is simply not among them. */
export async function ownMedia(db: Database, ownerId: string, ids: readonly string[]): Promise<MediaRow[]> {
  if (ids.length === 0) return [];
  return db
    .select()
    .from(media)
    .where(and(inArray(media.id, [...new Set(ids)]), eq(media.ownerId, ownerId)));
}

/**
 * Every target's media checked against its platform's rules, per target and file, with whether
 * the render step will fix each problem. Media not among `rows` (not the owner's) is left to the
 * caller to refuse.
 */
export function mediaReport(
  rows: readonly MediaRow[],
  mediaIds: readonly string[],
  targets: readonly MediaTarget[],
  options: ValidateOptions = {},
): MediaValidation {
  const files = mediaIds.flatMap((id) => {
    const row = rows.find((r) => r.id === id);
    return row ? [{ mediaId: id, facts: factsOfRow(row) }] : [];
  });
  return validateMedia(
    targets.map((t) => ({
      key: t.key ?? t.type,
      platform: t.platform,
      placement: t.placement,
      fit: checkerFit(t.fit),
    })),
    files,
    options,
  );
}

/** mediaReport for a post's media, read from the database. */
export async function checkPostMedia(
  db: Database,
  ownerId: string,
  mediaIds: readonly string[],
  targets: readonly MediaTarget[],
  options: ValidateOptions = {},
): Promise<MediaValidation> {
  return mediaReport(await ownMedia(db, ownerId, mediaIds), mediaIds, targets, options);
}

/** The field errors of a validation: one per refused problem, naming the target or the file. */
export function fieldErrorsOf(validation: MediaValidation, mediaIds: readonly string[]): FieldError[] {
  return validation.targets.flatMap((target, t) => [
    ...target.problems
      .filter((p) => !p.fixable)
      .map((p) => ({ field: `targets[${t}]`, message: `${p.message} ${p.fix}` })),
    ...target.files.flatMap((file) =>
      file.problems
        .filter((p) => !p.fixable)
        .map((p) => ({
          field: `mediaIds[${mediaIds.indexOf(file.mediaId)}]`,
          message: `for targets[${t}] (${target.key}): ${p.message} ${p.fix}`,
        })),
    ),
  ]);
}

/** Refuses (422) a post whose media some target cannot take even after the render step's fixes. */
export function assertPublishableMedia(
  rows: readonly MediaRow[],
  mediaIds: readonly string[],
  targets: readonly MediaTarget[],
  options: ValidateOptions = {},
): void {
  const validation = mediaReport(rows, mediaIds, targets, options);
  if (!validation.ok) throw new MediaRefusedError(fieldErrorsOf(validation, mediaIds), validation);
}

/**
 * The field errors of a post's media report, as creation refuses it: when the post asked for a
 * picture that cannot be made (no AI endpoint), `brief.generateImage` says so beside them.
 */
export function postMediaErrors(validation: MediaValidation, post: PostMediaWishes, aiImages: boolean): FieldError[] {
  const errors = fieldErrorsOf(validation, post.mediaIds);
  const wanted = post.brief?.generateImage === true && post.mediaIds.length === 0;
  if (errors.length > 0 && wanted && !aiImages) {
    errors.push({
      field: 'brief.generateImage',
      message:
        'no image will be made: no AI endpoint is configured (OPENAI_API_KEY or OPENAI_BASE_URL), and drafts are written offline',
    });
  }
  return errors;
}

/** assertPublishableMedia for a post as asked, its brief's image counted when one will be made. */
export function assertPostMediaPossible(
  rows: readonly MediaRow[],
  post: PostMediaWishes & { targets: readonly MediaTarget[] },
  aiImages: boolean,
): void {
  const validation = mediaReport(rows, post.mediaIds, post.targets, promisedMedia(post, aiImages));
  if (!validation.ok) throw new MediaRefusedError(postMediaErrors(validation, post, aiImages), validation);
}
