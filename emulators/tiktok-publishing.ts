import { randomBytes } from 'node:crypto';
import { type Answer, json } from './oauth-kit.js';
import { type Call, injected, newId, type PublishingModule, type PublishingState } from './publishing-kit.js';

/**
 * TikTok's Content Posting endpoints (platform-apis.md 1.2-1.6): creator_info, video init (Direct
 * Post and inbox), photo init by pull, chunked PUT uploads under the 1.3 chunk rules, status with
 * asynchronous processing, per-token per-minute limits, the daily post cap, and an unaudited app.
 */
const MIB = 1024 * 1024;
const PUBLIC_OPTIONS = ['PUBLIC_TO_EVERYONE', 'MUTUAL_FOLLOW_FRIENDS', 'SELF_ONLY'];
const PRIVATE_OPTIONS = ['FOLLOWER_OF_CREATOR', 'MUTUAL_FOLLOW_FRIENDS', 'SELF_ONLY'];
const LIMITS: Record<string, number> = { creator_info: 20, init: 6, status: 30 };
/** Stands for an int64 in the status answer until the JSON text is written. */
const INT64_MARK = 'int64:';

interface Publish {
  id: string;
  account: string;
  token: string;
  kind: 'video' | 'photo';
  mode: 'direct' | 'inbox';
  params: Record<string, unknown>;
  size: number;
  chunkSize: number;
  count: number;
  received: Buffer[];
  receivedBytes: number;
  uploadId: string;
  urlExpiresAt: number;
  /** The whole video arrived and a chunk sent again is refused with a 400 (`loseLastChunkAnswer: 'refuse'`). */
  refuseResend?: boolean;
  state: 'PROCESSING_UPLOAD' | 'PROCESSING_DOWNLOAD' | 'PUBLISH_COMPLETE' | 'SEND_TO_USER_INBOX' | 'FAILED';
  pollsLeft: number;
  failReason: string | null;
  postId: string | null;
  images: Buffer[];
}

export function createTikTokPublishing(): PublishingModule {
  const switches: Record<string, unknown> = {
    audited: true,
    privateAccount: false,
    commentDisabled: false,
    duetDisabled: false,
    stitchDisabled: true,
    maxVideoPostDurationSec: 300,
    /** Status answers that still say processing before the final state ("slow processing"). */
    processingPolls: 1,
    /** When set, processing ends FAILED with this fail_reason. */
    failReason: null,
    dailyPostCap: 15,
    /**
     * The last chunk is stored, then its answer is lost (the connection is cut); `expire` also ends
     * the upload_url's hour; `refuse` answers the chunk sent again with a 400 instead of a 416.
     */
    loseLastChunkAnswer: false as boolean | 'expire' | 'refuse',
    /** 416 answers leave out Content-Range, so they do not say what arrived. */
    rangeless416: false,
    /** Status answers leave out uploaded_bytes (the field is documented, but a client must not need it). */
    statusWithoutProgress: false,
    pendingShareCap: 5,
    username: 'emulated.creator',
  };
  const defaults = { ...switches };
  const publishes = new Map<string, Publish>();
  const calls: { token: string; endpoint: string; at: number }[] = [];

  const ok = (data: unknown, status = 200, headers?: Record<string, string>): Answer =>
    json(status, { data, error: { code: 'ok', message: '', log_id: logId() } }, headers);
  const fail = (status: number, code: string, message: string, headers?: Record<string, string>): Answer =>
    json(status, { data: {}, error: { code, message, log_id: logId() } }, headers);
  const words = {
    serverError: () => fail(500, 'internal_error', 'TikTok server or network error. Try again later.'),
    rateLimited: (s: number) => fail(429, 'rate_limit_exceeded', 'Rate limit exceeded', { 'retry-after': String(s) }),
  };

  function handle(call: Call, pub: PublishingState): Answer {
    if (call.endpoint === 'upload') return upload(call, pub);
    const faulted = injected(call, pub, words);
    if (faulted) return faulted;
    if (!call.header('authorization')?.startsWith('Bearer ')) {
      pub.kit.violate(call.endpoint, 'access token not sent as Authorization: Bearer');
      return fail(401, 'access_token_invalid', 'The access token is invalid or not found in the request.');
    }
    if (!call.header('content-type')?.startsWith('application/json'))
      pub.kit.violate(call.endpoint, 'Content-Type: application/json; charset=UTF-8 not sent');
    const checked = pub.check(call.token, ['access']);
    if (!checked.ok)
      return fail(401, 'access_token_invalid', 'The access token is invalid or not found in the request.');
    const account = String((checked.record.data.openId as string | undefined) ?? 'tt-open-0001');
    const needs = scopesFor(call);
    const granted = checked.record.data.scopes;
    // Tokens minted for tests without a consent (no scope list) may call everything.
    if (Array.isArray(granted) && !needs.some((scope) => granted.includes(scope))) {
      return fail(401, 'scope_not_authorized', `The user did not authorize the scope required (${needs.join(' or ')})`);
    }
    const limit = LIMITS[call.endpoint];
    if (limit) {
      const now = pub.kit.now();
      const recent = calls.filter((c) => c.token === call.token && c.endpoint === call.endpoint && now - c.at < 60_000);
      if (recent.length >= limit) {
        pub.kit.violate(call.endpoint, `more than ${limit} requests in a minute for one token`);
        return fail(429, 'rate_limit_exceeded', 'Rate limit exceeded', { 'retry-after': '60' });
      }
      calls.push({ token: call.token as string, endpoint: call.endpoint, at: now });
    }
    if (call.endpoint === 'creator_info') {
      const priv = switches.privateAccount === true;
      return ok({
        creator_avatar_url: 'https://p16.tiktokcdn.example/avatar.jpeg',
        creator_username: switches.username,
        creator_nickname: 'Emulated Creator',
        privacy_level_options: priv ? PRIVATE_OPTIONS : PUBLIC_OPTIONS,
        comment_disabled: switches.commentDisabled,
        duet_disabled: priv || switches.duetDisabled === true,
        stitch_disabled: priv || switches.stitchDisabled === true,
        max_video_post_duration_sec: switches.maxVideoPostDurationSec,
      });
    }
    if (call.endpoint === 'status') {
      const id = call.json?.publish_id;
      const p = typeof id === 'string' ? publishes.get(id) : undefined;
      if (!p) return fail(400, 'invalid_publish_id', 'publish_id is invalid');
      if (p.account !== account)
        return fail(400, 'token_not_authorized_for_specified_publish_id', 'not your publish_id');
      advance(p, pub);
      const answer = ok({
        status: p.state,
        ...(p.failReason ? { fail_reason: p.failReason } : {}),
        publicaly_available_post_id: p.postId ? [INT64_MARK + p.postId] : [],
        ...(p.kind === 'video'
          ? switches.statusWithoutProgress === true
            ? {}
            : { uploaded_bytes: p.receivedBytes }
          : { downloaded_bytes: p.images.reduce((n, b) => n + b.length, 0) }),
      });
      // Post ids are int64 numbers in JSON (1.3), 19 digits long: more than a double holds.
      const text = JSON.stringify(answer.body).replace(new RegExp(`"${INT64_MARK}(\\d+)"`, 'g'), '$1');
      return { ...answer, body: Buffer.from(text) };
    }
    return init(call, pub, account);
  }

  function advance(p: Publish, pub: PublishingState): void {
    if (p.state === 'PROCESSING_UPLOAD' && p.receivedBytes < p.size) return;
    if (
      p.state === 'PROCESSING_DOWNLOAD' &&
      p.images.length < ((p.params.source_info as { photo_images: string[] }).photo_images ?? []).length
    )
      return;
    if (p.state !== 'PROCESSING_UPLOAD' && p.state !== 'PROCESSING_DOWNLOAD') return;
    if (p.pollsLeft-- > 0) return;
    if (typeof switches.failReason === 'string') {
      p.state = 'FAILED';
      p.failReason = switches.failReason;
      return;
    }
    p.state = p.mode === 'inbox' ? 'SEND_TO_USER_INBOX' : 'PUBLISH_COMPLETE';
    const item = pub.publish(
      p.kind,
      p.account,
      { publishId: p.id, mode: p.mode, ...p.params },
      p.kind === 'video' ? [Buffer.concat(p.received)] : p.images,
      // TikTok's ids look like 7234567890123456789.
      `7${String(Math.floor(Math.random() * 10 ** 9)).padStart(9, '0')}${String(Math.floor(Math.random() * 10 ** 9)).padStart(9, '0')}`,
    );
    if (p.mode === 'direct' && (p.params.post_info as Record<string, unknown>)?.privacy_level === 'PUBLIC_TO_EVERYONE')
      p.postId = item.id;
  }

  function init(call: Call, pub: PublishingState, account: string): Answer {
    const body = call.json ?? {};
    const path = call.path;
    const kind = path.includes('/content/') ? 'photo' : 'video';
    const inbox = path.includes('/inbox/') || body.post_mode === 'MEDIA_UPLOAD';
    const info = (body.post_info ?? {}) as Record<string, unknown>;
    const source = (body.source_info ?? {}) as Record<string, unknown>;
    const e = call.endpoint;
    const bad = (problem: string) => {
      pub.kit.violate(e, problem);
      return fail(400, 'invalid_param', problem);
    };
    const priv = switches.privateAccount === true;
    const options = priv ? PRIVATE_OPTIONS : PUBLIC_OPTIONS;
    if (!inbox || kind === 'photo') {
      if (!inbox) {
        if (!options.includes(String(info.privacy_level))) {
          pub.kit.violate(e, `privacy_level ${String(info.privacy_level)} not in the creator's options`);
          return fail(403, 'privacy_level_option_mismatch', 'privacy_level is missing or not in privacy_level_options');
        }
        if (switches.audited !== true && (!priv || info.privacy_level !== 'SELF_ONLY')) {
          pub.kit.violate(e, 'unaudited app posted other than SELF_ONLY to a private account');
          return fail(
            403,
            'unaudited_client_can_only_post_to_private_accounts',
            `Unaudited clients can only post to private accounts (${path})`,
          );
        }
        if (switches.commentDisabled === true && info.disable_comment !== true)
          pub.kit.violate(e, 'comments enabled although the creator disabled them');
        if (kind === 'video' && (priv || switches.duetDisabled) && info.disable_duet !== true)
          pub.kit.violate(e, 'duet enabled although disabled for the creator');
        if (kind === 'video' && (priv || switches.stitchDisabled) && info.disable_stitch !== true)
          pub.kit.violate(e, 'stitch enabled although disabled for the creator');
        if (info.brand_content_toggle === true && info.privacy_level === 'SELF_ONLY')
          return bad('branded content cannot be SELF_ONLY');
        const dayAgo = pub.kit.now() - 86_400_000;
        const today = pub.published.filter(
          (p) => p.account === account && p.params.mode === 'direct' && Date.parse(p.at) > dayAgo,
        ).length;
        if (today >= Number(switches.dailyPostCap))
          return fail(403, 'spam_risk_too_many_posts', 'The daily post cap from the API is reached for this creator');
      }
    }
    if (inbox) {
      // 1.4: at most 5 pending shares within any 24 hours; the emulated creator never acts on one.
      const dayAgo = pub.kit.now() - 86_400_000;
      const pending = pub.published.filter(
        (p) => p.account === account && p.params.mode === 'inbox' && Date.parse(p.at) > dayAgo,
      ).length;
      if (pending >= Number(switches.pendingShareCap)) {
        pub.kit.violate(e, 'more than 5 pending inbox shares in 24 hours');
        return fail(
          403,
          'spam_risk_too_many_pending_share',
          'There may be at most 5 pending shares within any 24-hour period',
        );
      }
    }
    const publishId = `${kind === 'photo' ? 'p' : 'v'}_${inbox ? 'inbox' : 'pub'}_${kind === 'photo' ? 'url' : 'file'}~v2.${newId()}`;
    const base: Publish = {
      id: publishId,
      account,
      token: call.token as string,
      kind,
      mode: inbox ? 'inbox' : 'direct',
      params: { post_info: inbox && kind === 'video' ? undefined : info, source_info: source },
      size: 0,
      chunkSize: 0,
      count: 0,
      received: [],
      receivedBytes: 0,
      uploadId: '',
      urlExpiresAt: pub.kit.now() + 3600_000,
      state: 'PROCESSING_UPLOAD',
      pollsLeft: Number(switches.processingPolls),
      failReason: null,
      postId: null,
      images: [],
    };
    if (kind === 'photo') {
      if (source.source !== 'PULL_FROM_URL') return bad('photo posts take only PULL_FROM_URL');
      if (body.media_type !== 'PHOTO') return bad('media_type must be PHOTO');
      if (body.post_mode !== 'DIRECT_POST' && body.post_mode !== 'MEDIA_UPLOAD')
        return bad('post_mode must be DIRECT_POST or MEDIA_UPLOAD');
      const images = source.photo_images;
      if (!Array.isArray(images) || images.length < 1 || images.length > 35)
        return bad('photo_images must hold 1 to 35 URLs');
      if (typeof source.photo_cover_index !== 'number') return bad('photo_cover_index is required');
      if (String(info.title ?? '').length > 90) return bad('title longer than 90 runes');
      base.state = 'PROCESSING_DOWNLOAD';
      base.params = { post_info: info, source_info: source };
      publishes.set(publishId, base);
      void pull(base, images.map(String));
      return ok({ publish_id: publishId });
    }
    if (!inbox && String(info.title ?? '').length > 2200) return bad('title longer than 2200 runes');
    if (source.source !== 'FILE_UPLOAD') return bad('this emulator takes FILE_UPLOAD for videos');
    const size = Number(source.video_size);
    const chunk = Number(source.chunk_size);
    const count = Number(source.total_chunk_count);
    if (!(size > 0) || !(chunk > 0) || !(count > 0))
      return bad('video_size, chunk_size and total_chunk_count are required');
    if (count !== Math.floor(size / chunk))
      return bad(`total_chunk_count ${count} is not floor(video_size / chunk_size)`);
    if (size < 5 * MIB && (chunk !== size || count !== 1)) return bad('videos under 5 MB must be sent whole');
    if (size >= 5 * MIB && count > 1 && (chunk < 5 * MIB || chunk > 64 * MIB)) return bad('chunk_size must be 5-64 MB');
    if (size > 64 * MIB && count === 1) return bad('videos over 64 MB must be chunked');
    if (count > 1000) return bad('at most 1000 chunks');
    if (size - chunk * (count - 1) > 128 * MIB) return bad('the final chunk may hold at most 128 MB');
    base.size = size;
    base.chunkSize = chunk;
    base.count = count;
    base.uploadId = newId();
    publishes.set(publishId, base);
    const host = call.header('host') ?? '127.0.0.1';
    return ok({
      publish_id: publishId,
      upload_url: `http://${host}/upload/video/?upload_id=${base.uploadId}&upload_token=${randomBytes(6).toString('hex')}`,
    });
  }

  async function pull(p: Publish, urls: string[]): Promise<void> {
    for (const url of urls) {
      try {
        const res = await fetch(url, { redirect: 'manual' });
        if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
        p.images.push(Buffer.from(await res.arrayBuffer()));
      } catch {
        p.state = 'FAILED';
        p.failReason = 'photo_pull_failed';
        return;
      }
    }
  }

  function upload(call: Call, pub: PublishingState): Answer {
    const e = 'upload';
    const p = [...publishes.values()].find((x) => x.uploadId === call.query.get('upload_id'));
    if (!p) return fail(404, 'invalid_params', 'No upload task for this URL');
    if (call.header('authorization'))
      pub.kit.violate(e, 'Authorization header sent on the upload PUT, which takes none');
    const faulted = injected(call, pub, {
      serverError: () => json(502, { error: 'bad gateway' }),
      rateLimited: (s) => json(429, { error: 'slow down' }, { 'retry-after': String(s) }),
    });
    if (faulted) return faulted;
    if (pub.kit.now() > p.urlExpiresAt) return json(403, { error: 'upload_url expired' });
    const m = call.header('content-range')?.match(/^bytes (\d+)-(\d+)\/(\d+)$/);
    const progress: Record<string, string> =
      switches.rangeless416 === true ? {} : { 'content-range': `bytes 0-${p.receivedBytes - 1}/${p.size}` };
    if (!m) {
      pub.kit.violate(e, 'Content-Range missing or malformed');
      return json(400, { error: 'Content-Range required' });
    }
    const [first, last, total] = [Number(m[1]), Number(m[2]), Number(m[3])];
    const index = Math.round(first / p.chunkSize);
    const expectedEnd = index === p.count - 1 ? p.size - 1 : first + p.chunkSize - 1;
    if (total !== p.size || first % p.chunkSize !== 0 || index >= p.count || last !== expectedEnd) {
      pub.kit.violate(e, `range ${first}-${last}/${total} is not a chunk of the announced plan`);
      return json(416, {}, progress);
    }
    if (call.partial) return json(400, {}); // connection dropped: the chunk is incomplete and discarded
    if (Number(call.header('content-length')) !== call.body.length || call.body.length !== last - first + 1) {
      pub.kit.violate(e, 'Content-Length differs from the body or the range');
      return json(400, { error: 'Content-Length does not match' });
    }
    if (p.refuseResend && p.receivedBytes === p.size) return json(400, { error: 'the upload is complete' });
    if (first !== p.receivedBytes) return json(416, {}, progress); // a resent chunk: progress says where we are
    p.received.push(call.body);
    p.receivedBytes += call.body.length;
    const after = { 'content-range': `bytes 0-${p.receivedBytes - 1}/${p.size}` };
    if (p.receivedBytes === p.size && switches.loseLastChunkAnswer) {
      if (switches.loseLastChunkAnswer === 'expire') p.urlExpiresAt = 0;
      if (switches.loseLastChunkAnswer === 'refuse') p.refuseResend = true;
      switches.loseLastChunkAnswer = false;
      return { status: 201, hangUp: true };
    }
    return p.receivedBytes === p.size ? json(201, {}, after) : json(206, {}, after);
  }

  return {
    switches,
    classify(method, path) {
      if (method === 'PUT' && path === '/upload/video/') return 'upload';
      if (method !== 'POST') return null;
      if (path === '/v2/post/publish/creator_info/query/') return 'creator_info';
      if (path === '/v2/post/publish/status/fetch/') return 'status';
      if (
        [
          '/v2/post/publish/video/init/',
          '/v2/post/publish/inbox/video/init/',
          '/v2/post/publish/content/init/',
        ].includes(path)
      )
        return 'init';
      return null;
    },
    handle,
    reset() {
      publishes.clear();
      calls.length = 0;
      Object.assign(switches, defaults);
    },
  };
}

/**
 * Any one of these scopes lets the call through: creator_info and Direct Post need video.publish
 * (1.3, 1.5 DIRECT_POST), the inbox inits video.upload (1.4, 1.5 MEDIA_UPLOAD), status either (1.3 step 4).
 */
function scopesFor(call: Call): string[] {
  if (call.endpoint === 'creator_info') return ['video.publish'];
  if (call.endpoint === 'status') return ['video.upload', 'video.publish'];
  const inbox = call.path.includes('/inbox/') || call.json?.post_mode === 'MEDIA_UPLOAD';
  return [inbox ? 'video.upload' : 'video.publish'];
}

function logId(): string {
  return randomBytes(12).toString('hex').toUpperCase();
}
