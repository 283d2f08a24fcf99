import { ConflictError, UnavailableError } from '../../domain/errors.js';
import { ConnectorError, PLATFORM_NAMES } from '../../platforms/connector.js';
import { tiktokError } from '../../platforms/publish-errors.js';
import { PRIVACY_LEVELS, type PrivacyLevel } from '../../platforms/tiktok/publisher.js';
import { ownConnection } from './rows.js';
import { ConnectionUnusableError, type UseConnectionDeps, withConnection } from './use-connection.js';

export interface CreatorInfoDeps extends UseConnectionDeps {
  /** https://open.tiktokapis.com, or the emulator's URL. */
  tiktokApiUrl: string;
  fetch?: typeof fetch;
  timeoutMs?: number;
}

/** What TikTok's posting screen is built from (platform-apis.md 1.3 step 1, 1.9). */
export interface CreatorInfoView {
  connectionId: string;
  username: string;
  nickname: string;
  avatarUrl: string | null;
  privacyLevelOptions: PrivacyLevel[];
  commentDisabled: boolean;
  duetDisabled: boolean;
  stitchDisabled: boolean;
  maxVideoPostDurationSec: number;
  /**
   * False when the person switched video.publish off when connecting (1.1): only drafts to the
   * creator's inbox (1.4, video.upload) are possible, and TikTok was not asked (creator_info is
   * Direct Post's and refuses such a token).
   */
  directPostAllowed: boolean;
  /** False when the person switched video.upload off when connecting: drafts to the inbox are refused (1.4). */
  inboxAllowed: boolean;
  /** False when TikTok says this creator cannot post now (daily cap, ban, the app's user cap). */
  canPost: boolean;
  cannotPostReason: string | null;
}

// TikTok answers these with HTTP 200 on purpose: the account exists but may not post now.
const CANNOT_POST = new Set([
  'spam_risk_too_many_posts',
  'spam_risk_user_banned_from_posting',
  'reached_active_user_cap',
]);
const RETRY_AFTER_SECONDS = 60;
/** TikTok's API maximum (1.8); without creator_info the creator's own limit is unknown until they finish the draft. */
const API_MAX_VIDEO_SEC = 600;

/** Asked fresh each time (the posting screen must show the creator's current options); 20 req/min per token. */
export async function tiktokCreatorInfo(
  deps: CreatorInfoDeps,
  ownerId: string,
  connectionId: string,
): Promise<CreatorInfoView> {
  const row = await ownConnection(deps.db, ownerId, connectionId);
  if (row.platform !== 'tiktok') {
    throw new ConflictError(
      'Not a TikTok connection',
      `connectionId: ${row.displayName} is a ${PLATFORM_NAMES[row.platform]} account; creator info exists only for TikTok.`,
    );
  }
  if (row.status === 'needs_reconnect')
    throw reconnect(row.statusReason ?? 'TikTok no longer accepts this connection.');
  if (!row.scopes.includes('video.publish')) return inboxOnly(connectionId, row.displayName, row.avatarUrl);
  const inboxAllowed = row.scopes.includes('video.upload');
  try {
    const view = await withConnection(deps, connectionId, (credentials) =>
      query(deps, connectionId, row.displayName, credentials.accessToken),
    );
    return { ...view, inboxAllowed };
  } catch (err) {
    if (err instanceof ConnectionUnusableError) throw reconnect(err.message);
    if (err instanceof ConnectorError) {
      if (err.kind === 'needs_reconnect' || err.kind === 'access_expired') throw reconnect(err.message);
      if (err.kind === 'transient') {
        throw new UnavailableError(
          'TikTok unavailable',
          `${err.message} Try again shortly.`,
          err.details.retryAfterSeconds ?? RETRY_AFTER_SECONDS,
        );
      }
      throw new ConflictError('TikTok refused', err.message);
    }
    throw err;
  }
}

function reconnect(reason: string): ConflictError {
  const advice = /connect .*again/i.test(reason) ? '' : ' Connect the TikTok account again.';
  return new ConflictError('Reconnect needed', `connectionId: ${reason}${advice}`);
}

async function query(
  deps: CreatorInfoDeps,
  connectionId: string,
  displayName: string,
  token: string,
): Promise<CreatorInfoView> {
  let res: Response;
  try {
    res = await (deps.fetch ?? fetch)(`${deps.tiktokApiUrl}/v2/post/publish/creator_info/query/`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json; charset=UTF-8',
        accept: 'application/json',
      },
      redirect: 'manual',
      signal: AbortSignal.timeout(deps.timeoutMs ?? 10_000),
    });
  } catch {
    // undici's message may carry the URL; the reason in words is enough.
    throw new ConnectorError('tiktok', 'transient', 'TikTok creator info: TikTok did not answer.');
  }
  let body: unknown = null;
  try {
    body = JSON.parse(await res.text());
  } catch {
    // Not JSON: the status decides below.
  }
  const error = tiktokError({ status: res.status, headers: res.headers, body }, 'creator info');
  if (error) {
    const code = error.details.code ?? '';
    if (CANNOT_POST.has(code)) return { ...cannotPost(connectionId, displayName), cannotPostReason: error.message };
    if (error.kind === 'token_expired') throw new ConnectorError('tiktok', 'access_expired', error.message);
    if (error.kind === 'needs_reconnect') throw new ConnectorError('tiktok', 'needs_reconnect', error.message);
    if (error.kind === 'rate_limited' || error.kind === 'transient') {
      const wait = error.retryAfterMs === undefined ? undefined : Math.ceil(error.retryAfterMs / 1000);
      throw new ConnectorError('tiktok', 'transient', error.message, { retryAfterSeconds: wait });
    }
    throw new ConnectorError('tiktok', 'rejected', error.message);
  }
  const data = (body as { data?: Record<string, unknown> }).data ?? {};
  const options = Array.isArray(data.privacy_level_options) ? data.privacy_level_options.map(String) : [];
  return {
    connectionId,
    username: String(data.creator_username ?? ''),
    nickname: String(data.creator_nickname ?? ''),
    avatarUrl: typeof data.creator_avatar_url === 'string' ? data.creator_avatar_url : null,
    // Only the levels a post can name; an unknown future level is left out rather than offered.
    privacyLevelOptions: options.filter((o): o is PrivacyLevel => (PRIVACY_LEVELS as readonly string[]).includes(o)),
    commentDisabled: data.comment_disabled === true,
    duetDisabled: data.duet_disabled === true,
    stitchDisabled: data.stitch_disabled === true,
    maxVideoPostDurationSec: Number(data.max_video_post_duration_sec ?? API_MAX_VIDEO_SEC),
    directPostAllowed: true,
    inboxAllowed: true,
    canPost: true,
    cannotPostReason: null,
  };
}

/** The creator may not post now: nothing to choose, the stored name still shown. */
function cannotPost(connectionId: string, displayName: string): CreatorInfoView {
  return {
    connectionId,
    username: '',
    nickname: displayName,
    avatarUrl: null,
    privacyLevelOptions: [],
    commentDisabled: true,
    duetDisabled: true,
    stitchDisabled: true,
    maxVideoPostDurationSec: 0,
    directPostAllowed: true,
    inboxAllowed: true,
    canPost: false,
    cannotPostReason: null,
  };
}

/**
 * Drafts to the inbox only: privacy and interactions are chosen in the TikTok app when the creator
 * finishes the draft, so none are offered here and none are said to be turned off.
 */
function inboxOnly(connectionId: string, displayName: string, avatarUrl: string | null): CreatorInfoView {
  return {
    connectionId,
    username: '',
    nickname: displayName,
    avatarUrl,
    privacyLevelOptions: [],
    commentDisabled: false,
    duetDisabled: false,
    stitchDisabled: false,
    maxVideoPostDurationSec: API_MAX_VIDEO_SEC,
    directPostAllowed: false,
    inboxAllowed: true,
    canPost: true,
    cannotPostReason: null,
  };
}
