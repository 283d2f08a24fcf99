import {
  type HttpAnswer,
  PublishError,
  TIKTOK_PUBLISH_ID_CODES,
  tiktokError,
  tiktokFailReason,
  waitFromHeaders,
} from '../publish-errors.js';
import {
  committedToPlatform,
  type PlatformPublisher,
  type PublishRun,
  type PublishStep,
  UNKNOWN_CHECK,
} from '../publishing.js';
import { ConnectionLost, sendBytes, type UploadSource } from '../upload-source.js';

/** TikTok's Content Posting API (platform-apis.md 1.3-1.9): video by FILE_UPLOAD, photos by PULL_FROM_URL. */

export const MIB = 1024 * 1024;
const MIN_CHUNK = 5 * MIB;
const MAX_CHUNK = 64 * MIB;
const MAX_CHUNKS = 1000;

export interface ChunkPlan {
  chunkSize: number;
  count: number;
}

/**
 * 1.3 chunk rules: under 5 MB (MiB, per TikTok's own example) the file goes whole; otherwise
 * floor(size / chunk) chunks of `chunk` bytes, the last one absorbing the trailing bytes.
 */
export function tiktokChunkPlan(size: number, preferred = 10 * MIB): ChunkPlan {
  if (!Number.isSafeInteger(size) || size <= 0) throw new RangeError('video size must be a positive whole number');
  let chunk = Math.min(Math.max(preferred, MIN_CHUNK), MAX_CHUNK);
  // Below 5 MB, or smaller than one chunk (then at most 64 MiB): one whole chunk.
  if (size < MIN_CHUNK || size < chunk) return { chunkSize: size, count: 1 };
  // More than 1000 chunks: bigger chunks (4 GiB / 1000 stays far below 64 MiB).
  if (Math.floor(size / chunk) > MAX_CHUNKS) chunk = Math.ceil(size / MAX_CHUNKS);
  return { chunkSize: chunk, count: Math.floor(size / chunk) };
}

/** Inclusive byte range of chunk `index` (0-based) under `plan`. */
export function chunkRange(plan: ChunkPlan, size: number, index: number): { start: number; end: number } {
  const start = index * plan.chunkSize;
  const end = index === plan.count - 1 ? size - 1 : start + plan.chunkSize - 1;
  return { start, end };
}

export const PRIVACY_LEVELS = [
  'PUBLIC_TO_EVERYONE',
  'MUTUAL_FOLLOW_FRIENDS',
  'FOLLOWER_OF_CREATOR',
  'SELF_ONLY',
] as const;
export type PrivacyLevel = (typeof PRIVACY_LEVELS)[number];

export interface CreatorInfo {
  username: string;
  nickname: string;
  privacyLevelOptions: string[];
  commentDisabled: boolean;
  duetDisabled: boolean;
  stitchDisabled: boolean;
  maxVideoPostDurationSec: number;
}

/** creator_info is asked at most once per `ttlMs` per account (20 req/min limit, values change rarely). */
export class CreatorInfoCache {
  private readonly entries = new Map<string, { at: number; info: CreatorInfo }>();
  constructor(
    readonly ttlMs = 5 * 60_000,
    private readonly now: () => number = Date.now,
  ) {}
  get(account: string): CreatorInfo | undefined {
    const entry = this.entries.get(account);
    return entry && this.now() - entry.at < this.ttlMs ? entry.info : undefined;
  }
  set(account: string, info: CreatorInfo): void {
    this.entries.set(account, { at: this.now(), info });
  }
}

/** TikTok allows 30 status fetches a minute per token; two fewer leave room for clock and network skew. */
const STATUS_FETCHES_PER_MINUTE = 28;

interface Common {
  /** Direct Post (scope video.publish) or the creator's inbox as a draft (video.upload). */
  mode: 'direct' | 'inbox';
  /** Required for Direct Post: the user's own choice, never defaulted. */
  privacyLevel?: string;
  disableComment?: boolean;
  /** Paid partnership for a third-party brand. */
  brandContent?: boolean;
  /** Promoting the creator's own business. */
  brandOrganic?: boolean;
  aigc?: boolean;
}

export interface TikTokVideoInput extends Common {
  kind: 'video';
  source: UploadSource;
  caption?: string;
  disableDuet?: boolean;
  disableStitch?: boolean;
  coverTimestampMs?: number;
  durationSec?: number;
  /** Preferred chunk size (tests use 5 MiB to get several chunks from a few MB). */
  chunkSize?: number;
}

export interface TikTokPhotoInput extends Common {
  kind: 'photo';
  imageUrls: string[];
  coverIndex?: number;
  title?: string;
  description?: string;
  autoAddMusic?: boolean;
}

export type TikTokInput = TikTokVideoInput | TikTokPhotoInput;

export interface TikTokPublisherConfig {
  apiUrl: string;
  /** TIKTOK_APP_AUDITED: no API reports it. */
  audited: boolean;
  /** Key of the creator_info cache and of the paced calls (the connection id). */
  account: string;
  cache: CreatorInfoCache;
  /** Video and photo inits per token per minute (TIKTOK_INITS_PER_MINUTE; TikTok allows 6). */
  initsPerMinute?: number;
}

const PRIVATE_MARKER = 'FOLLOWER_OF_CREATOR';

/**
 * What TikTok will refuse, said before anything is sent. Exported for validation at post creation.
 * `info` is creator_info, which only Direct Post asks for (1.3 step 1, scope video.publish); an
 * inbox draft (1.4, video.upload) goes without it, and the creator's own limits are checked when
 * they post the draft from the app.
 */
export function tiktokPreflight(input: TikTokInput, info: CreatorInfo | undefined, audited: boolean): string[] {
  const problems: string[] = [];
  const privacy = input.privacyLevel;
  if (input.mode === 'direct') {
    if (!privacy) problems.push('privacyLevel: choose who can see the post; TikTok requires your own choice');
    else if (info && !info.privacyLevelOptions.includes(privacy)) {
      problems.push(
        `privacyLevel: ${privacy} is not allowed for @${info.username} (allowed: ${info.privacyLevelOptions.join(', ')})`,
      );
    }
    if (!audited && privacy && privacy !== 'SELF_ONLY') {
      problems.push('privacyLevel: this TikTok app is not audited yet, so posts can only be private (SELF_ONLY)');
    }
    if (!audited && info && !info.privacyLevelOptions.includes(PRIVATE_MARKER)) {
      problems.push(
        `account: this TikTok app is not audited yet and can only post to private accounts; @${info.username} is public`,
      );
    }
    if (input.brandContent && privacy === 'SELF_ONLY') {
      problems.push('brandContent: branded content cannot be private (SELF_ONLY)');
    }
  }
  if (
    input.kind === 'video' &&
    info &&
    input.durationSec !== undefined &&
    input.durationSec > info.maxVideoPostDurationSec
  ) {
    problems.push(
      `video: ${input.durationSec} s is longer than the ${info.maxVideoPostDurationSec} s @${info.username} may post`,
    );
  }
  if (input.kind === 'video' && (input.caption?.length ?? 0) > 2200) problems.push('caption: at most 2200 characters');
  if (input.kind === 'photo') {
    if (input.imageUrls.length < 1 || input.imageUrls.length > 35) problems.push('images: 1 to 35 photos');
    if ((input.title?.length ?? 0) > 90) problems.push('title: at most 90 characters');
    if ((input.description?.length ?? 0) > 4000) problems.push('description: at most 4000 characters');
  }
  return problems;
}

/**
 * What a publish that TikTok ended as FAILED leaves in the journal: nothing, so the next attempt
 * inits anew (recorded with `uncommit`: a FAILED publish_id never posts).
 */
const START_AFRESH = {
  uploadRestarts: 0,
  publishId: null,
  uploadUrl: null,
  uploadedBytes: 0,
  uploadDone: false,
  uploadUnconfirmed: false,
  resumed: false,
  pullInitSent: false,
};

const DIRECT_POST_NOT_ALLOWED =
  'TikTok: this connection does not allow direct posting (the video.publish permission was not granted); connect the account again and allow direct posting, or send the post to the creator’s inbox (mode: inbox) instead';

export function tiktokPublisher(config: TikTokPublisherConfig): PlatformPublisher<TikTokInput> {
  const api = (path: string) => `${config.apiUrl}${path}`;

  async function envelope(
    run: PublishRun,
    what: string,
    path: string,
    body: unknown,
  ): Promise<Record<string, unknown>> {
    return run.authed(async (token) => {
      // Every Content Posting call names its JSON type, creator_info too though it has no body (1.3).
      const answer = await run.send({
        what,
        method: 'POST',
        url: api(path),
        json: body,
        headers: { 'content-type': 'application/json; charset=UTF-8' },
        auth: 'bearer',
        token,
      });
      const error = tiktokError(answer, what);
      if (error) throw error;
      const data = (answer.body as { data?: unknown }).data;
      return typeof data === 'object' && data !== null ? (data as Record<string, unknown>) : {};
    });
  }

  async function creatorInfo(run: PublishRun): Promise<CreatorInfo> {
    const cached = config.cache.get(config.account);
    if (cached) return cached;
    const data = await run
      .retrying(() => envelope(run, 'creator info', '/v2/post/publish/creator_info/query/', undefined), {
        idempotent: true,
      })
      .catch((err: unknown) => {
        // creator_info belongs to Direct Post: without video.publish TikTok refuses it (1.3 step 1).
        if (err instanceof PublishError && err.details.code === 'scope_not_authorized') {
          throw new PublishError('tiktok', 'needs_reconnect', DIRECT_POST_NOT_ALLOWED, err.details);
        }
        throw err;
      });
    const info: CreatorInfo = {
      username: String(data.creator_username ?? ''),
      nickname: String(data.creator_nickname ?? ''),
      privacyLevelOptions: Array.isArray(data.privacy_level_options) ? data.privacy_level_options.map(String) : [],
      commentDisabled: data.comment_disabled === true,
      duetDisabled: data.duet_disabled === true,
      stitchDisabled: data.stitch_disabled === true,
      maxVideoPostDurationSec: Number(data.max_video_post_duration_sec ?? 600),
    };
    config.cache.set(config.account, info);
    return info;
  }

  /** MEDIA_UPLOAD takes only the words: privacy and the switches apply to DIRECT_POST alone (1.5). */
  function draftPhotoInfo(input: TikTokPhotoInput): Record<string, unknown> {
    return { title: input.title ?? '', description: input.description ?? '' };
  }

  function postInfo(input: TikTokInput, info: CreatorInfo): Record<string, unknown> {
    const base: Record<string, unknown> = {
      privacy_level: input.privacyLevel,
      // Switches the creator disabled stay disabled, whatever the post asked.
      disable_comment: info.commentDisabled || input.disableComment === true,
      brand_content_toggle: input.brandContent === true,
      brand_organic_toggle: input.brandOrganic === true,
    };
    if (input.kind === 'photo') {
      return {
        ...base,
        title: input.title ?? '',
        description: input.description ?? '',
        auto_add_music: input.autoAddMusic === true,
      };
    }
    return {
      ...base,
      title: input.caption ?? '',
      disable_duet: info.duetDisabled || input.disableDuet === true,
      disable_stitch: info.stitchDisabled || input.disableStitch === true,
      is_aigc: input.aigc === true,
      ...(input.coverTimestampMs !== undefined ? { video_cover_timestamp_ms: input.coverTimestampMs } : {}),
    };
  }

  /** `creator` is asked for Direct Post only: the inbox init takes source_info alone (1.4). */
  async function initVideo(
    run: PublishRun,
    input: TikTokVideoInput,
    creator: () => Promise<CreatorInfo>,
  ): Promise<void> {
    const size = input.source.size;
    const plan = tiktokChunkPlan(size, input.chunkSize);
    const sourceInfo = {
      source: 'FILE_UPLOAD',
      video_size: size,
      chunk_size: plan.chunkSize,
      total_chunk_count: plan.count,
    };
    const direct = input.mode === 'direct';
    const body = direct
      ? { post_info: postInfo(input, await creator()), source_info: sourceInfo }
      : { source_info: sourceInfo };
    // An init whose answer is lost publishes nothing: no bytes reached its upload_url. Asking again is safe.
    const data = await run.retrying(
      async () => {
        await paceInit(run);
        return envelope(
          run,
          direct ? 'video init' : 'inbox video init',
          direct ? '/v2/post/publish/video/init/' : '/v2/post/publish/inbox/video/init/',
          body,
        );
      },
      { idempotent: true },
    );
    const publishId = String(data.publish_id ?? '');
    const uploadUrl = String(data.upload_url ?? '');
    if (!publishId || !uploadUrl)
      throw new PublishError('tiktok', 'transient', 'TikTok video init answered without publish_id or upload_url');
    await run.record({
      publishId,
      uploadUrl,
      chunkSize: plan.chunkSize,
      chunkCount: plan.count,
      uploadedBytes: 0,
      uploadDone: false,
      uploadUnconfirmed: false,
    });
  }

  /** Every init counts, a retried or repeated one too: TikTok counts requests, not posts. */
  async function paceInit(run: PublishRun): Promise<void> {
    await run.ctx.pace?.(`tiktok-init-call:${config.account}`, config.initsPerMinute ?? 6);
  }

  async function status(run: PublishRun): Promise<Record<string, unknown>> {
    return run.retrying(
      async () => {
        await run.ctx.pace?.(`tiktok-status:${config.account}`, STATUS_FETCHES_PER_MINUTE);
        return envelope(run, 'publish status', '/v2/post/publish/status/fetch/', { publish_id: run.journal.publishId });
      },
      { idempotent: true },
    );
  }

  /**
   * What TikTok's status says of the upload: `done` (all bytes arrived, or it moved past uploading),
   * the start of the chunk to go on from, `gone` when TikTok knows no such publish
   * (invalid_publish_id), or undefined when it does not say (no uploaded_bytes, or a refused read).
   */
  async function arrived(run: PublishRun, size: number): Promise<'done' | 'gone' | number | undefined> {
    let s: Record<string, unknown>;
    try {
      s = await status(run);
    } catch (err) {
      if (!(err instanceof PublishError)) throw err;
      if (err.details.code === 'invalid_publish_id') return 'gone';
      if (err.kind === 'rejected' || TIKTOK_PUBLISH_ID_CODES.has(err.details.code ?? '')) return undefined;
      throw err;
    }
    if (s.status !== 'PROCESSING_UPLOAD') return 'done';
    if (typeof s.uploaded_bytes !== 'number') return undefined;
    return s.uploaded_bytes >= size ? 'done' : alignDown(s.uploaded_bytes, run);
  }

  async function uploadVideo(
    run: PublishRun,
    input: TikTokVideoInput,
    creator: () => Promise<CreatorInfo>,
  ): Promise<void> {
    const size = input.source.size;
    let jumps = 0;
    while (!run.journal.uploadDone) {
      const plan = { chunkSize: Number(run.journal.chunkSize), count: Number(run.journal.chunkCount) };
      const offset = Number(run.journal.uploadedBytes ?? 0);
      if (offset >= size) {
        await run.record({ uploadDone: true });
        break;
      }
      const index = Math.round(offset / plan.chunkSize);
      const { start, end } = chunkRange(plan, size, index);
      // With the last chunk TikTok holds the whole video and posts it (or delivers the draft), even
      // if its answer is lost: from here on a refusal must not let a retry upload a second copy.
      if (end === size - 1 && !committedToPlatform(run.journal)) await run.commit();
      let answer: HttpAnswer;
      try {
        answer = await run.retrying(
          async () => {
            const a = await sendBytes({
              method: 'PUT',
              url: String(run.journal.uploadUrl),
              headers: { 'content-type': input.source.mimeType, 'content-range': `bytes ${start}-${end}/${size}` },
              source: input.source,
              start,
              end,
              onProgress: (sent, total) => run.progress(sent, total),
            }).catch((err) => {
              throw err instanceof ConnectionLost
                ? new PublishError('tiktok', 'lost', `TikTok chunk upload: ${err.message}`)
                : err;
            });
            // Throttled: the same chunk again, into the same upload, after the wait TikTok asks for.
            if (a.status === 429) {
              const retryAfterMs = waitFromHeaders(a.headers);
              throw new PublishError(
                'tiktok',
                'rate_limited',
                'TikTok chunk upload: HTTP 429, retrying this chunk',
                retryAfterMs === undefined ? { status: 429 } : { status: 429, retryAfterMs },
              );
            }
            if (a.status >= 500)
              throw new PublishError(
                'tiktok',
                'transient',
                `TikTok chunk upload: HTTP ${a.status}, retrying this chunk`,
              );
            return a;
          },
          // A chunk sent twice is answered 416 with the real progress, never stored twice.
          { idempotent: true },
        );
      } catch (err) {
        if (err instanceof PublishError && err.kind === 'lost')
          throw new PublishError('tiktok', 'transient', err.message);
        throw err;
      }
      const received = progressFrom(answer.headers.get('content-range'));
      if (answer.status === 201) {
        run.progress(size, size);
        await run.record({ uploadedBytes: size, uploadDone: true });
      } else if (answer.status === 206 || (answer.status === 416 && received !== undefined && received !== offset)) {
        // (A 416 whose progress is where this chunk starts says nothing new: asked about below.)
        const next = received ?? end + 1;
        if (answer.status === 206) jumps = 0;
        const progressed =
          answer.status === 206 && Number(run.journal.uploadRestarts ?? 0) > 0 ? { uploadRestarts: 0 } : {};
        if (next >= size) await run.record({ uploadedBytes: size, uploadDone: true, ...progressed });
        else await run.record({ uploadedBytes: next, ...progressed });
      } else if (answer.status === 403 || answer.status === 404 || answer.status === 416) {
        // An expired or unknown upload_url, or a wrong range without Content-Range: TikTok's status
        // says what arrived (uploaded_bytes) before anything is started again. A resent last chunk
        // whose 201 was lost is answered this way, and that upload is complete: a new init would
        // post the video twice.
        const at = await arrived(run, size);
        if (at === 'done') {
          await run.record({ uploadedBytes: size, uploadDone: true });
          continue;
        }
        // TikTok holds another amount than we thought: go on from there, once between accepted chunks.
        if (answer.status === 416 && typeof at === 'number' && at !== offset && jumps++ === 0) {
          await run.record({ uploadedBytes: at });
          continue;
        }
        // A new init only when this publish_id can never post: TikTok counts fewer bytes than the
        // file (its status, or this 416's own range), or the last chunk never left. Chunks go in
        // order and each is journaled before the next is sent, so nothing past the chunk in hand
        // went out. When this is the last chunk and TikTok does not count, it may have landed with
        // its answer lost: the upload counts as done, unconfirmed, and the status polls decide
        // (published, FAILED, or outcome unknown). That holds when TikTok says it knows no such
        // publish too (`gone`): after the last chunk it may be processing or posting it already.
        const incomplete = end < size - 1 || typeof at === 'number' || (received !== undefined && received < size);
        if (!incomplete) {
          await run.record({ uploadedBytes: size, uploadDone: true, uploadUnconfirmed: true });
          continue;
        }
        // Sessions that took no chunk are counted in the journal, so attempts after this one do not
        // start more without end; a slow upload that keeps making progress is never stopped by the
        // count. This publish_id can never post (see above): nothing of it is committed any more.
        const restarts = Number(run.journal.uploadRestarts ?? 0);
        if (restarts >= 2) {
          await run.uncommit();
          throw new PublishError(
            'tiktok',
            'rejected',
            `TikTok refused the upload (HTTP ${answer.status}) in three upload sessions in a row without taking a chunk; retry this target to start again`,
          );
        }
        await run.uncommit({ uploadRestarts: restarts + 1, publishId: null, uploadUrl: null, uploadedBytes: 0 });
        await initVideo(run, input, creator);
      } else if (answer.status >= 400 && answer.status < 500) {
        // Any other client error (400: malformed headers, or a Content-Length that is not the body's
        // size): TikTok did not take this chunk. The last chunk may have landed before, though (a
        // send whose answer was lost, sent again): TikTok's status decides, as above. Only when it
        // counts fewer bytes than the file is the upload incomplete and its publish_id never posts:
        // nothing of it is committed any more, and the next attempt starts a new upload (a new init)
        // instead of sending into this one again. A status TikTok will not give keeps the journal.
        if (end === size - 1) {
          const at = await arrived(run, size);
          if (at === 'done' || at === 'gone') {
            await run.record({
              uploadedBytes: size,
              uploadDone: true,
              ...(at === 'gone' ? { uploadUnconfirmed: true } : {}),
            });
            continue;
          }
          if (at === undefined) {
            throw new PublishError(
              'tiktok',
              'rejected',
              `TikTok chunk upload refused: HTTP ${answer.status}${refusalWords(answer.body)}; TikTok would not say whether the video arrived, so a retry sends the last chunk into the same upload again, never a second upload`,
              { status: answer.status },
            );
          }
        }
        await run.uncommit(START_AFRESH);
        throw new PublishError(
          'tiktok',
          'rejected',
          `TikTok chunk upload refused: HTTP ${answer.status}${refusalWords(answer.body)}; the upload did not complete, and a retry starts it again from the beginning`,
          { status: answer.status },
        );
      } else {
        throw new PublishError('tiktok', 'rejected', `TikTok chunk upload refused: HTTP ${answer.status}`, {
          status: answer.status,
        });
      }
    }
  }

  return {
    platform: 'tiktok',
    steps(input): PublishStep[] {
      let info: CreatorInfo | undefined;
      const creator = async (run: PublishRun) => {
        info ??= await creatorInfo(run);
        return info;
      };
      return [
        {
          name: 'prepare',
          async run(run) {
            if (run.journal.publishId) return;
            if (input.kind === 'photo' && run.journal.pullInitSent) {
              // A pull init went out and its publish_id never came back: TikTok offers no way to ask.
              await run.unknown(`TikTok may have received the photo post, but its id was lost; ${UNKNOWN_CHECK}`);
              return;
            }
            // creator_info is Direct Post's (1.3 step 1, video.publish); a connection that granted
            // only video.upload is refused it, and an inbox draft does not need it (1.4).
            const found = input.mode === 'direct' ? await creator(run) : undefined;
            const problems = tiktokPreflight(input, found, config.audited);
            if (problems.length > 0) {
              throw new PublishError('tiktok', 'rejected', `TikTok would refuse this post: ${problems.join('; ')}`);
            }
            if (input.kind === 'video') {
              await initVideo(run, input, () => creator(run));
              return;
            }
            // Paced before it is journaled as sent: a worker killed while waiting sent nothing. The
            // pull init is the call that publishes (or delivers the draft): committed before it goes.
            await paceInit(run);
            await run.commit({ pullInitSent: true });
            const data = await run
              .retrying(
                () =>
                  envelope(run, 'photo init', '/v2/post/publish/content/init/', {
                    post_info: found ? postInfo(input, found) : draftPhotoInfo(input),
                    source_info: {
                      source: 'PULL_FROM_URL',
                      photo_cover_index: input.coverIndex ?? 0,
                      photo_images: input.imageUrls,
                    },
                    post_mode: input.mode === 'direct' ? 'DIRECT_POST' : 'MEDIA_UPLOAD',
                    media_type: 'PHOTO',
                  }),
                { idempotent: false },
              )
              .catch(async (err) => {
                if (err instanceof PublishError && err.kind === 'lost') {
                  await run.unknown(
                    `TikTok may have received the photo post, but its answer was lost; ${UNKNOWN_CHECK}`,
                  );
                  return null;
                }
                // TikTok answered (5xx, throttled, refused): no publish_id exists, so the next
                // attempt may send the init again, as this one did between its own tries.
                if (err instanceof PublishError) await run.uncommit({ pullInitSent: false });
                throw err;
              });
            if (data === null) return;
            await run.record({ publishId: String(data.publish_id ?? ''), uploadDone: true });
          },
        },
        {
          name: 'upload',
          async run(run) {
            if (input.kind !== 'video' || run.journal.uploadDone) return;
            if (Number(run.journal.uploadedBytes ?? 0) > 0 || run.journal.resumed) {
              // Resumed: the journal may lag one chunk behind; TikTok's status says what arrived.
              // Unknown to TikTok or not said: the next chunk's answer tells (and the branch above decides).
              const at = await arrived(run, input.source.size);
              if (at === 'done') await run.record({ uploadDone: true });
              else if (typeof at === 'number') await run.record({ uploadedBytes: at });
              else if (at === 'gone' && committedToPlatform(run.journal)) {
                // The last chunk went out and TikTok no longer knows its publish_id: it may be posting
                // the whole video, so the status polls decide, with no more bytes and no new init.
                // (Without an answer either way the last chunk is sent again, into the same upload:
                // that can complete it, never post it twice.)
                await run.record({ uploadedBytes: input.source.size, uploadDone: true, uploadUnconfirmed: true });
              }
            }
            await run.record({ resumed: true });
            await uploadVideo(run, input, () => creator(run));
          },
        },
        { name: 'commit', async run() {} },
        {
          name: 'poll',
          async run(run) {
            let state = '';
            let readFailed = false;
            const done = await run
              .poll('TikTok processing', async () => {
                const s = await status(run).catch((err: unknown) => {
                  readFailed = true;
                  throw err;
                });
                state = String(s.status ?? '');
                if (state === 'FAILED') {
                  const failure = tiktokFailReason(String(s.fail_reason ?? 'internal'));
                  // A failed publish_id never posts: the retry TikTok asks for (platform-apis.md 1.7)
                  // is a new post from the start, not more polls of the dead one.
                  // Whatever the reason: after a reconnect (auth_removed) the retry must not poll it again.
                  await run.uncommit(START_AFRESH);
                  throw failure;
                }
                if (state === 'SEND_TO_USER_INBOX' && input.mode === 'inbox') return s;
                if (state === 'PUBLISH_COMPLETE') return s;
                return undefined;
              })
              .catch(async (err: unknown) => {
                if (!(err instanceof PublishError)) throw err;
                // Everything went up and TikTok no longer answers about it (no such publish, or not
                // this connection's): it may be posted, and only a person can look.
                if (TIKTOK_PUBLISH_ID_CODES.has(err.details.code ?? '')) {
                  await run.unknown(`${err.message}; the post may be on TikTok all the same; ${UNKNOWN_CHECK}`);
                  return null;
                }
                // Counted as done after the last chunk's answer was lost, and TikTok never moved past
                // uploading: whether all of it arrived cannot be known, so no second upload either.
                if (
                  !readFailed &&
                  err.kind === 'transient' &&
                  state === 'PROCESSING_UPLOAD' &&
                  run.journal.uploadUnconfirmed === true
                ) {
                  await run.unknown(
                    `TikTok did not confirm that the whole video arrived (the answer to its last part was lost) and is still not done with it; ${UNKNOWN_CHECK}`,
                  );
                  return null;
                }
                throw err;
              });
            if (done === null) return;
            const ids = Array.isArray(done.publicaly_available_post_id)
              ? done.publicaly_available_post_id.map(String)
              : [];
            const username = info?.username ?? config.cache.get(config.account)?.username;
            const postId = ids[0] ?? null;
            const url = postId && username ? `https://www.tiktok.com/@${username}/video/${postId}` : null;
            const note =
              input.mode === 'inbox'
                ? 'sent to the creator’s TikTok inbox as a draft; it is posted from the TikTok app'
                : postId
                  ? undefined
                  : 'published; TikTok shows a public link once moderation passes (private posts never get one)';
            await run.published(postId, url, note);
          },
        },
      ];
    },
  };
}

/** What a refused chunk upload's body says, as ` (words)`, or nothing when it says nothing readable. */
function refusalWords(body: unknown): string {
  let said: unknown = body;
  if (typeof body === 'object' && body !== null) {
    const error = (body as { error?: unknown }).error;
    said = typeof error === 'object' && error !== null ? (error as { message?: unknown }).message : error;
  }
  if (typeof said !== 'string') return '';
  const words = said.replace(/\s+/g, ' ').trim().slice(0, 300);
  // An HTML error page is no explanation for a person.
  return words === '' || words.startsWith('<') ? '' : ` (${words})`;
}

/** `bytes 0-{last}/{total}` -> bytes received. */
function progressFrom(header: string | null): number | undefined {
  const m = header?.match(/bytes\s+\d+-(\d+)\/\d+/);
  return m ? Number(m[1]) + 1 : undefined;
}

/** The start of the chunk holding byte `bytes`; the last chunk carries the trailing bytes, so never past it. */
function alignDown(bytes: number, run: PublishRun): number {
  const chunk = Number(run.journal.chunkSize);
  const last = Number(run.journal.chunkCount) - 1;
  return Math.min(Math.floor(bytes / chunk), last) * chunk;
}
