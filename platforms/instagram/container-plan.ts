/**
 * How many containers a post makes on its Instagram account (3.4, 3.5: at most 400 a rolling 24
 * hours), known before publishing so the account's budget can hold them up front.
 */

export type InstagramShape = 'story' | 'carousel' | 'single';

/** A story takes the first file only; several files otherwise are a carousel. */
export function instagramShape(files: number, placement: string | null | undefined): InstagramShape {
  if (placement === 'story') return 'story';
  return files > 1 ? 'carousel' : 'single';
}

/** One per carousel item plus the carousel itself; one for anything else. */
export function plannedContainers(files: number, placement: string | null | undefined): number {
  return instagramShape(files, placement) === 'carousel' ? files + 1 : 1;
}

/**
 * The journal's count of containers made again beyond the plan (one that went to ERROR, one that
 * expired, a carousel's items made again after one of them expired, a carousel made again after
 * media_publish refused it): the budget holds these too.
 */
export const EXTRA_CONTAINERS = 'extraContainers';
