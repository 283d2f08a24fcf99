/**
 * What a container whose status_code is ERROR should lead to. Its `status` is free text that may
 * name a subcode (platform-apis.md 3.4: "Error: ... error code 2207042"); the 3.6 table's "retry?"
 * column, copied here as written, says what that subcode allows.
 */
const TABLE: readonly { subcodes: number[]; meaning: string; retry: string }[] = [
  { subcodes: [2207003], meaning: 'Instagram timed out downloading the media', retry: 'yes' },
  { subcodes: [2207020], meaning: 'the media expired', retry: 'new container' },
  { subcodes: [2207001], meaning: 'Instagram had a server error', retry: 'yes' },
  { subcodes: [2207032], meaning: 'Instagram could not create the media', retry: 'yes (re-create)' },
  { subcodes: [2207053], meaning: 'an unknown error while uploading the video', retry: 'new container' },
  { subcodes: [2207057], meaning: 'the thumbnail offset is outside the video', retry: 'no (fix)' },
  { subcodes: [2207051], meaning: 'Instagram suspects spam or has restricted this account’s activity', retry: 'no' },
  {
    subcodes: [2207042],
    meaning: 'the account reached its Content Publishing limit for the last 24 hours',
    retry: 'next day',
  },
  { subcodes: [2207006], meaning: 'the media was not found (permission or expired token)', retry: 'new container' },
  {
    subcodes: [2207008],
    meaning: 'the media builder does not exist or expired',
    retry: 'retry 1–2× within 30 s–2 min, then new container',
  },
  {
    subcodes: [2207050],
    meaning: 'the Instagram account is restricted or needs a checkpoint',
    retry: 'no (user action)',
  },
  { subcodes: [2207023], meaning: 'the media type is not known', retry: 'no' },
  { subcodes: [2207028], meaning: 'a carousel needs 2 to 10 items', retry: 'no' },
  { subcodes: [2207035, 2207036, 2207037], meaning: 'the product tags were not accepted', retry: 'no' },
  { subcodes: [2207040], meaning: 'the caption tags too many accounts (at most 20)', retry: 'no' },
  { subcodes: [2207026], meaning: 'the video format is not supported (use MOV or MP4)', retry: 'no' },
  { subcodes: [2207052], meaning: 'Instagram could not fetch the media from its URL', retry: 'fix URL' },
  { subcodes: [2207027], meaning: 'the media is not ready for publishing yet', retry: 'wait for FINISHED' },
  { subcodes: [2207004], meaning: 'the image is larger than 8 MiB', retry: 'no' },
  { subcodes: [2207005], meaning: 'the image format is not supported', retry: 'no' },
  { subcodes: [2207009], meaning: 'the aspect ratio is outside 4:5 to 1.91:1', retry: 'no' },
  { subcodes: [2207010], meaning: 'the caption is too long (2200 characters, 30 hashtags, 20 @tags)', retry: 'no' },
];

export type ContainerErrorAction =
  /** "yes", "yes (re-create)", "new container": an ERROR container never recovers, so a new one. */
  | 'new-container'
  /**
   * 2207008: ask again once or twice within 30 s to 2 min, then a new container. Also 2207027
   * ("wait for FINISHED"), which the table writes for media_publish: a container whose own status
   * is already ERROR (3.4: failed) gets the same short grace, not checks for as long as retries last.
   */
  | 'ask-again-then-new'
  /** "next day": a new container once the day's limit has room again. */
  | 'next-day'
  /** "no", "no (fix)", "no (user action)", "fix URL", or a subcode the table does not list. */
  | 'final';

export interface ContainerError {
  action: ContainerErrorAction;
  subcode?: number;
  /** The table's meaning, in words for a person. */
  meaning?: string;
}

function actionOf(retry: string): ContainerErrorAction {
  if (retry === 'yes' || retry.startsWith('yes ') || retry === 'new container') return 'new-container';
  if (retry.startsWith('retry') && retry.endsWith('then new container')) return 'ask-again-then-new';
  if (retry === 'next day') return 'next-day';
  if (retry === 'wait for FINISHED') return 'ask-again-then-new';
  return 'final';
}

const BY_SUBCODE = new Map(TABLE.flatMap((row) => row.subcodes.map((s) => [s, row] as const)));

/** The first number in the status text that the table lists decides; none is final, as before. */
export function containerError(statusText: string): ContainerError {
  for (const match of statusText.matchAll(/\d+/g)) {
    const row = BY_SUBCODE.get(Number(match[0]));
    if (row) return { action: actionOf(row.retry), subcode: Number(match[0]), meaning: row.meaning };
  }
  return { action: 'final' };
}

/** Between the one or two further checks 2207008 asks for: both fall inside its 30 s to 2 min. */
export const ASK_AGAIN_AFTER_MS = 30_000;
export const ASK_AGAIN_TIMES = 2;

/**
 * New containers one target may make in place of ones that went to ERROR. A subcode that allows a
 * new container says the failure was Instagram's, but one that keeps failing is not going to stop.
 */
export const MAX_CONTAINER_REMAKES = 2;
