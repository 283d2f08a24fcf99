import type { Platform } from './connector.js';

/**
 * Publishing failures in the words of the platform contracts (platform-apis.md 1.7, 2.6, 3.6, 4.8).
 * The kind decides what happens next, the message is the platform's own reason for a person.
 */
export type PublishErrorKind =
  /** The access token expired or was invalidated: refresh through the connection, retry once. */
  | 'token_expired'
  /** The grant is gone (revoked, scope missing, refresh refused): the user must connect again. */
  | 'needs_reconnect'
  /** Throttled: wait `retryAfterMs`, then retry. */
  | 'rate_limited'
  /** Server or network trouble with a clear "not done": retry with backoff. */
  | 'transient'
  /** A budget is used up; nothing may be sent before `waitUntil`. */
  | 'quota'
  /** The upload session (YouTube session URI, TikTok upload_url, Facebook upload) is gone: start a new one. */
  | 'session_expired'
  /** Spam, policy, invalid media, unaudited app, bad parameters: retrying cannot help. */
  | 'rejected'
  /** The request left but no answer came back: whether it took effect is unknown. */
  | 'lost';

export class PublishError extends Error {
  override name = 'PublishError';
  constructor(
    readonly platform: Platform,
    readonly kind: PublishErrorKind,
    message: string,
    readonly details: {
      status?: number;
      code?: string;
      subcode?: number;
      retryAfterMs?: number;
      waitUntil?: Date;
      /** Transient, but sending the same request again cannot help: the next attempt changes it first. */
      notAsIs?: boolean;
    } = {},
  ) {
    super(message);
  }
  get retryAfterMs(): number | undefined {
    return this.details.retryAfterMs;
  }
}

export interface HttpAnswer {
  status: number;
  headers: Headers;
  body: unknown;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined =>
  typeof v === 'string' && v !== '' ? v : typeof v === 'number' ? String(v) : undefined;

/** Retry-After (seconds or an HTTP date), or Meta's usage headers' estimated_time_to_regain_access (minutes). */
export function waitFromHeaders(headers: Headers, now = Date.now()): number | undefined {
  const after = headers.get('retry-after');
  if (after !== null && after.trim() !== '') {
    const seconds = Number(after);
    if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
    const date = Date.parse(after);
    if (Number.isFinite(date)) return Math.max(0, date - now);
  }
  let minutes: number | undefined;
  for (const name of ['x-business-use-case-usage', 'x-ad-account-usage', 'x-app-usage']) {
    const raw = headers.get(name);
    if (!raw) continue;
    try {
      const visit = (v: unknown): void => {
        if (Array.isArray(v)) v.forEach(visit);
        else if (isRecord(v)) {
          const m = Number(v.estimated_time_to_regain_access);
          if (Number.isFinite(m) && m > 0) minutes = Math.max(minutes ?? 0, m);
          Object.values(v).forEach(visit);
        }
      };
      visit(JSON.parse(raw));
    } catch {
      // A header that is not JSON says nothing about waiting.
    }
  }
  return minutes === undefined ? undefined : minutes * 60_000;
}

const DEFAULT_RATE_WAIT_MS = 60_000;

// ---------------------------------------------------------------------------------------------- TikTok

const TIKTOK_REJECTED = new Set([
  'spam_risk_too_many_posts',
  'spam_risk_user_banned_from_posting',
  'spam_risk_too_many_pending_share',
  'spam_risk_text',
  'spam_risk',
  'reached_active_user_cap',
  'unaudited_client_can_only_post_to_private_accounts',
  'privacy_level_option_mismatch',
  'url_ownership_unverified',
  'invalid_param',
  'invalid_params',
  'invalid_file_upload',
  'app_version_check_failed',
  'file_format_check_failed',
  'duration_check_failed',
  'frame_rate_check_failed',
  'picture_size_check_failed',
  'publish_cancelled',
]);

/**
 * A status read TikTok answers with "no such publish" or "not this token's publish" (1.3 step 4).
 * Only status/fetch and cancel name a publish_id, so by then an init went out and bytes may have
 * arrived: the post may exist. Not a refusal (that would let a retry start a second copy) and not
 * worth asking again as it is; the publisher decides from what its journal knows.
 */
export const TIKTOK_PUBLISH_ID_CODES: ReadonlySet<string> = new Set([
  'invalid_publish_id',
  'token_not_authorized_for_specified_publish_id',
]);

const TIKTOK_WORDS: Record<string, string> = {
  spam_risk_too_many_posts: 'the daily post limit for this creator has been reached (shared by every app)',
  spam_risk_user_banned_from_posting: 'this account is banned from posting',
  spam_risk_too_many_pending_share: 'there are already 5 drafts waiting in the creator inbox',
  reached_active_user_cap: "the app's daily quota of publishing users is reached",
  unaudited_client_can_only_post_to_private_accounts:
    'this app is not audited by TikTok yet, so it can only post privately (SELF_ONLY) to private accounts',
  privacy_level_option_mismatch: "the privacy level is not one the creator's account allows",
  url_ownership_unverified: 'the media URL is not on a domain verified for this app',
  file_format_check_failed: 'TikTok could not read the file format',
  duration_check_failed: 'the video is too long or too short for this account',
  frame_rate_check_failed: 'the frame rate is outside 23-60 FPS',
  picture_size_check_failed: 'the picture size is outside what TikTok accepts',
  auth_removed: 'the creator removed this app’s access',
  video_pull_failed: 'TikTok could not download the video',
  photo_pull_failed: 'TikTok could not download the photos',
  internal: 'TikTok had an internal error while processing',
  invalid_publish_id: 'TikTok does not know this upload',
  token_not_authorized_for_specified_publish_id: 'this TikTok connection may not ask about this upload',
  http_401: 'the access token was not accepted',
};

/** A TikTok /v2 envelope answer (or a status fail_reason) as an error; null when it says ok. */
export function tiktokError(answer: HttpAnswer, what: string): PublishError | null {
  const error = isRecord(answer.body) && isRecord(answer.body.error) ? answer.body.error : {};
  const code = str(error.code) ?? (answer.status >= 400 ? `http_${answer.status}` : 'ok');
  if (code === 'ok' && answer.status < 400) return null;
  const message = str(error.message);
  const words = `TikTok ${what}: ${TIKTOK_WORDS[code] ?? message ?? code} (${code})`;
  const details = { status: answer.status, code };
  // A 401 without TikTok's envelope (a gateway, an empty or HTML body) is read as the documented
  // 401, access_token_invalid: refresh and retry once (1.2, 1.7); a refreshed token refused too
  // ends as needs_reconnect.
  if (code === 'access_token_invalid' || (answer.status === 401 && code === 'http_401')) {
    return new PublishError('tiktok', 'token_expired', words, details);
  }
  if (code === 'scope_not_authorized' || code === 'scope_permission_missed' || code === 'auth_removed') {
    return new PublishError('tiktok', 'needs_reconnect', words, details);
  }
  if (code === 'spam_risk_too_many_posts') {
    // spam_risk_* is "do not retry" (platform-apis.md 1.7): the cap is shared with every other app,
    // and only the person can tell when to try again.
    return new PublishError('tiktok', 'rejected', `${words}; retry this target tomorrow`, details);
  }
  if (code === 'rate_limit_exceeded' || answer.status === 429) {
    const retryAfterMs = waitFromHeaders(answer.headers) ?? DEFAULT_RATE_WAIT_MS;
    return new PublishError('tiktok', 'rate_limited', words, { ...details, retryAfterMs });
  }
  if (TIKTOK_REJECTED.has(code)) return new PublishError('tiktok', 'rejected', words, details);
  if (TIKTOK_PUBLISH_ID_CODES.has(code)) {
    return new PublishError('tiktok', 'transient', words, { ...details, notAsIs: true });
  }
  if (answer.status >= 500 || code === 'internal_error') return new PublishError('tiktok', 'transient', words, details);
  return new PublishError('tiktok', 'rejected', words, details);
}

/** A FAILED status's fail_reason: retryable ones are transient, the rest are final. */
export function tiktokFailReason(reason: string): PublishError {
  const words = `TikTok could not publish: ${TIKTOK_WORDS[reason] ?? reason} (${reason})`;
  if (reason === 'internal' || reason === 'video_pull_failed' || reason === 'photo_pull_failed') {
    return new PublishError('tiktok', 'transient', words, { code: reason });
  }
  if (reason === 'auth_removed') return new PublishError('tiktok', 'needs_reconnect', words, { code: reason });
  return new PublishError('tiktok', 'rejected', words, { code: reason });
}

// --------------------------------------------------------------------------------------------- YouTube

const GOOGLE_RATE = new Set(['rateLimitExceeded', 'userRateLimitExceeded', 'uploadRateLimitExceeded']);
const GOOGLE_RECONNECT = new Set(['youtubeSignupRequired', 'insufficientPermissions', 'forbidden']);

export function googleError(answer: HttpAnswer, what: string, nextPacificMidnight?: Date): PublishError {
  const error = isRecord(answer.body) && isRecord(answer.body.error) ? answer.body.error : {};
  const first = Array.isArray(error.errors) && isRecord(error.errors[0]) ? error.errors[0] : {};
  const reason = str(first.reason) ?? `http_${answer.status}`;
  const message = str(error.message) ?? str(first.message) ?? `HTTP ${answer.status}`;
  const words = `YouTube ${what}: ${message} (${reason})`;
  const details = { status: answer.status, code: reason };
  if (answer.status === 401) {
    return new PublishError(
      'youtube',
      reason === 'youtubeSignupRequired' ? 'needs_reconnect' : 'token_expired',
      words,
      details,
    );
  }
  if (reason === 'quotaExceeded') {
    return new PublishError('youtube', 'quota', `${words}; the quota resets at midnight Pacific time`, {
      ...details,
      waitUntil: nextPacificMidnight,
    });
  }
  if (reason === 'uploadLimitExceeded') {
    return new PublishError('youtube', 'quota', `${words}; YouTube says to try again in 24 hours`, {
      ...details,
      waitUntil: new Date(Date.now() + 24 * 3600_000),
    });
  }
  if (GOOGLE_RATE.has(reason) || answer.status === 429) {
    return new PublishError('youtube', 'rate_limited', words, {
      ...details,
      retryAfterMs: waitFromHeaders(answer.headers) ?? DEFAULT_RATE_WAIT_MS,
    });
  }
  if ([500, 502, 503, 504].includes(answer.status)) return new PublishError('youtube', 'transient', words, details);
  if (answer.status === 403 && GOOGLE_RECONNECT.has(reason) && what.includes('connect')) {
    return new PublishError('youtube', 'needs_reconnect', words, details);
  }
  return new PublishError('youtube', 'rejected', words, details);
}

// ------------------------------------------------------------------------------- Facebook / Instagram

const GRAPH_RATE_CODES = new Set([4, 17, 32, 341, 613, 80001, 80002]);
const GRAPH_TRANSIENT_CODES = new Set([1, 2]);
/** 2207008: retried twice as it is before the container is given up (3.6). */
export const IG_RETRY_TWICE_SUBCODE = 2207008;
/**
 * Instagram subcodes after which the container cannot be published (3.6: "new container"; 2207008
 * after one or two retries): the publisher makes a new one, nothing was posted.
 */
export const IG_NEW_CONTAINER_SUBCODES = new Set([2207006, IG_RETRY_TWICE_SUBCODE, 2207020, 2207053]);
/** 2207027: the container is not ready yet, "wait for FINISHED". */
export const IG_NOT_READY_SUBCODE = 2207027;
const IG_RETRY_SUBCODES = new Set([2207001, 2207003, 2207032, IG_NOT_READY_SUBCODE, ...IG_NEW_CONTAINER_SUBCODES]);
/**
 * Instagram subcodes 3.6 marks "no", "fix" or "user action": final whatever their code's general
 * class says (2207051 comes with code 4, a rate code; 2207057 with code 1, a transient one).
 */
const IG_FINAL_SUBCODES = new Set([
  2207004, 2207005, 2207009, 2207010, 2207023, 2207026, 2207028, 2207035, 2207036, 2207037, 2207040, 2207050, 2207051,
  2207052, 2207057,
]);
/** 368: temporarily blocked for policy violations, "wait and retry" (4.8). */
const GRAPH_BLOCKED_CODE = 368;
const IG_WORDS: Record<number, string> = {
  2207003: 'Instagram timed out downloading the media',
  2207020: 'the media container expired',
  2207042: 'the account reached its Content Publishing limit for the last 24 hours',
  2207051: 'Instagram suspects spam or has restricted this account’s activity',
  2207050: 'the Instagram account is restricted or needs a checkpoint',
  2207026: 'the video format is not supported (use MOV or MP4)',
  2207052: 'Instagram could not fetch the media from its URL',
  2207027: 'the media is not ready for publishing yet',
  2207004: 'the image is larger than 8 MiB',
  2207005: 'the image format is not supported',
  2207009: 'the aspect ratio is outside 4:5 to 1.91:1',
  2207010: 'the caption is too long (2200 characters, 30 hashtags, 20 @tags)',
  2207028: 'a carousel needs 2 to 10 items',
  2207023: 'the media type is not known',
  2207040: 'the caption tags too many accounts (at most 20)',
  2207057: 'the thumbnail offset is outside the video',
};

/** A Graph error body (Facebook or Instagram) classified per 4.8 and 3.6. */
export function graphError(platform: 'facebook' | 'instagram', answer: HttpAnswer, what: string): PublishError {
  const error = isRecord(answer.body) && isRecord(answer.body.error) ? answer.body.error : {};
  const code = Number(error.code);
  const subcode = Number(error.error_subcode);
  const name = platform === 'facebook' ? 'Facebook' : 'Instagram';
  const message = str(error.error_user_msg) ?? IG_WORDS[subcode] ?? str(error.message) ?? `HTTP ${answer.status}`;
  const words = `${name} ${what}: ${message}${Number.isFinite(code) ? ` (code ${code}${Number.isFinite(subcode) ? `/${subcode}` : ''})` : ''}`;
  const details = {
    status: answer.status,
    code: Number.isFinite(code) ? String(code) : undefined,
    ...(Number.isFinite(subcode) ? { subcode } : {}),
  };
  if (code === 190 || code === 102 || (str(error.type) === 'OAuthException' && answer.status === 401)) {
    // 458/459/460/464 need the person; 463/467 and no subcode are a token to renew.
    const person = [458, 459, 460, 464].includes(subcode);
    return new PublishError(platform, person ? 'needs_reconnect' : 'token_expired', words, details);
  }
  if (code === 10 || (code >= 200 && code <= 299) || code === 3) {
    return new PublishError(platform, 'needs_reconnect', words, details);
  }
  if (subcode === 2207042) {
    return new PublishError(platform, 'quota', words, { ...details, waitUntil: new Date(Date.now() + 24 * 3600_000) });
  }
  if (IG_FINAL_SUBCODES.has(subcode)) return new PublishError(platform, 'rejected', words, details);
  if (GRAPH_RATE_CODES.has(code) || code === GRAPH_BLOCKED_CODE || answer.status === 429) {
    return new PublishError(platform, 'rate_limited', words, {
      ...details,
      retryAfterMs: waitFromHeaders(answer.headers) ?? DEFAULT_RATE_WAIT_MS,
    });
  }
  if (
    GRAPH_TRANSIENT_CODES.has(code) ||
    IG_RETRY_SUBCODES.has(subcode) ||
    error.is_transient === true ||
    answer.status >= 500
  ) {
    const notAsIs = subcode === IG_NOT_READY_SUBCODE || IG_NEW_CONTAINER_SUBCODES.has(subcode);
    return new PublishError(platform, 'transient', words, notAsIs ? { ...details, notAsIs } : details);
  }
  return new PublishError(platform, 'rejected', words, details);
}
