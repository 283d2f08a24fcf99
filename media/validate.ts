import {
  defaultPlacement,
  type MediaPlatform,
  missingMediaInWords,
  PLATFORM_RULES,
  type Placement,
  type PlacementRules,
  placementRules,
} from '../domain/media-rules.js';
import { checkMedia, type FitMode, type MediaProblem } from './check.js';
import type { ImageFacts, MediaFacts } from './probe.js';

// A post's media against each of its targets, before anything is created: which placement every
// file takes, and every problem per target and file, each fixable by the render step or not.
// The same answer serves the 422 of post creation and the dry run for composers.

export interface TargetMediaRequest {
  key: string;
  platform: MediaPlatform;
  /** The user's choice; absent: chosen from the files (see placementOf). */
  placement?: Placement;
  fit?: FitMode;
}

export interface MediaFile {
  mediaId: string;
  facts: MediaFacts;
}

export interface FileReport {
  mediaId: string;
  placement: Placement;
  problems: MediaProblem[];
}

export interface TargetReport {
  key: string;
  platform: MediaPlatform;
  /** Problems of the target's media as a whole (count, mixing, missing video). */
  problems: MediaProblem[];
  files: FileReport[];
  /** Nothing refused: the render step can make every file acceptable. */
  ok: boolean;
}

export interface ValidateOptions {
  /**
   * The image the pipeline will make for a post that has no media (a brief's AI image), checked as
   * the file it will be. It has no media id yet, so its problems are the target's.
   */
  promisedImage?: ImageFacts | undefined;
}

export interface MediaValidation {
  ok: boolean;
  targets: TargetReport[];
}

const SHORTS_MAX_SECONDS = 180;

/** The placement a post's file takes on a platform when the user named none. */
export function placementOf(platform: MediaPlatform, file: MediaFacts, all: readonly MediaFacts[]): Placement {
  const rules = PLATFORM_RULES[platform];
  const visual = all.filter((f) => f.kind === 'video' || rules.defaultPlacement.image !== 'thumbnail');
  if (visual.length > 1 && rules.placements.carousel_item) {
    const item = rules.placements.carousel_item;
    if (file.kind === 'image' ? item.image : item.video) return 'carousel_item';
  }
  // YouTube files a square or vertical video of at most 3 minutes as a Short; its rules apply.
  if (
    platform === 'youtube' &&
    file.kind === 'video' &&
    file.width <= file.height &&
    file.durationSec <= SHORTS_MAX_SECONDS
  ) {
    return 'short';
  }
  return defaultPlacement(platform, file.kind);
}

function problem(code: MediaProblem['code'], message: string, fix: string): MediaProblem {
  return { code, message, fixable: false, fix };
}

export function validateMedia(
  targets: readonly TargetMediaRequest[],
  files: readonly MediaFile[],
  options: ValidateOptions = {},
): MediaValidation {
  const promised = files.length === 0 && options.promisedImage ? options.promisedImage : undefined;
  const reports = targets.map((target) =>
    promised ? validatePromisedImage(target, promised) : validateTarget(target, files),
  );
  return { ok: reports.every((r) => r.ok), targets: reports };
}

/** A target's report for the image still to be made, its file's problems told as the target's. */
function validatePromisedImage(target: TargetMediaRequest, image: ImageFacts): TargetReport {
  const report = validateTarget(target, [{ mediaId: '', facts: image }]);
  const problems = [
    ...report.problems,
    ...report.files.flatMap((f) =>
      f.problems.map((p) => ({
        ...p,
        message: `The image the AI will make (${image.width}x${image.height}): ${p.message}`,
      })),
    ),
  ];
  return { ...report, problems, files: [] };
}

function validateTarget(target: TargetMediaRequest, files: readonly MediaFile[]): TargetReport {
  const platform = PLATFORM_RULES[target.platform];
  const name = platform.label;
  const problems: MediaProblem[] = [];
  const report = (fileReports: FileReport[]): TargetReport => ({
    key: target.key,
    platform: target.platform,
    problems,
    files: fileReports,
    ok: problems.every((p) => p.fixable) && fileReports.every((f) => f.problems.every((p) => p.fixable)),
  });

  if (target.placement && !platform.placements[target.placement]) {
    const offered = Object.keys(platform.placements).join(', ');
    problems.push(
      problem(
        'placement_not_available',
        `${name} has no placement "${target.placement}".`,
        `Choose one of ${offered}, or none.`,
      ),
    );
    return report([]);
  }

  const all = files.map((f) => f.facts);
  const fileReports = files.map(({ mediaId, facts }): FileReport => {
    let placement = target.placement ?? placementOf(target.platform, facts, all);
    // A named placement applies to the files it takes; YouTube images stay thumbnails.
    const named = placementRules(target.platform, placement);
    if (target.placement && !(facts.kind === 'image' ? named?.image : named?.video)) {
      const fallback = defaultPlacement(target.platform, facts.kind);
      if (fallback === 'thumbnail') placement = fallback;
    }
    const rules = placementRules(target.platform, placement) as PlacementRules;
    return { mediaId, placement, problems: checkMedia(facts, rules, { platformLabel: name, fit: target.fit }) };
  });

  const videos = fileReports.filter((_, i) => all[i]?.kind === 'video');
  const images = fileReports.filter((_, i) => all[i]?.kind === 'image');
  const thumbnails = fileReports.filter((f) => f.placement === 'thumbnail');
  const items = fileReports.filter((f) => f.placement !== 'thumbnail');
  const inCarousel = items.length > 0 && items.every((f) => f.placement === 'carousel_item');

  const lacking =
    platform.requires === 'video' ? videos.length === 0 : platform.requires === 'media' && files.length === 0;
  if (lacking) {
    const fix = platform.requires === 'video' ? 'Add a video.' : 'Add media.';
    problems.push(problem('no_media', missingMediaInWords(target.platform)!, fix));
  }
  if (target.platform !== 'generic') {
    if (!inCarousel && videos.length > 1) {
      problems.push(
        problem(
          'too_many_items',
          `${name} takes one video per post; this post has ${videos.length}.`,
          'Keep one video, or make a post per video.',
        ),
      );
    }
    if (!inCarousel && videos.length > 0 && images.length - thumbnails.length > 0) {
      problems.push(
        problem(
          'mixed_media_not_accepted',
          `${name} posts carry either a video or images, not both.`,
          'Remove the images or the video, or make two posts.',
        ),
      );
    }
    if (thumbnails.length > 1) {
      problems.push(
        problem(
          'too_many_items',
          `${name} takes one thumbnail; this post has ${thumbnails.length} images.`,
          'Keep one image.',
        ),
      );
    }
    const placement = items[0]?.placement;
    const range = placement ? platform.placements[placement]?.items : undefined;
    if (range?.max !== undefined && items.length > range.max) {
      problems.push(
        problem(
          'too_many_items',
          `${name} takes at most ${range.max} items in one post; this post has ${items.length}.`,
          `Remove ${items.length - range.max}.`,
        ),
      );
    }
    if (inCarousel && range?.min !== undefined && items.length < range.min) {
      problems.push(
        problem(
          'too_few_items',
          `${name} needs at least ${range.min} items for a carousel; this post has ${items.length}.`,
          'Add items, or choose another placement.',
        ),
      );
    }
  }
  return report(fileReports);
}
