import { randomBytes } from 'node:crypto';
import { type Answer, json } from './oauth-kit.js';
import {
  type Call,
  graphFail,
  injected,
  newId,
  type PublishingModule,
  type PublishingState,
  pullMedia,
} from './publishing-kit.js';

/**
 * Facebook Page publishing (platform-apis.md 4.2-4.8): feed posts, photos by URL (published or not,
 * for attached_media), the Resumable Upload API with file handles and /videos on graph-video,
 * Reels by start / rupload / finish with the status object (bytes_transfered, sic), and the 30
 * Reels per Page per 24 h window. The graph-video and rupload hosts are this same server in tests.
 */
interface Reel {
  id: string;
  page: string;
  received: Buffer;
  size: number | null;
  finished: boolean;
  pollsLeft: number;
  params: Record<string, string>;
  startedAt: number;
  kind: 'reel' | 'video';
  /** The video_status a Reel ended in instead of being published (the `reelFails` switch). */
  failedAs?: string;
}

const V = '/v\\d+\\.\\d+';

export function createFacebookPublishing(): PublishingModule {
  const switches: Record<string, unknown> = {
    reelsPerDay: 30,
    processingPolls: 1,
    /** Processing succeeds, then publishing fails (publishing_phase error). */
    publishingFails: false,
    uploadAnswersWithoutHandle: false,
    /**
     * A Reel's status as the field table spells it (platform-apis.md section 5): finished phases
     * say `completed` instead of the examples' `complete`, and publishing_phase has no publish_status.
     */
    fieldTableStatus: false,
    /** The next finished Reel is not published: its status says this instead ('upload_failed' or 'expired'). */
    reelFails: null,
    /** A processed Page video says `ready` while its publishing phase still reads in_progress (4.4: ready is done). */
    videoReadyBeforePublishing: false,
    /** Usage header sent with every answer (X-Business-Use-Case-Usage), e.g. to announce a wait. */
    regainAccessMinutes: 0,
    /**
     * An endpoint name ('feed', 'upload_file', ...) whose every answer is Graph's "Malformed access
     * token <the token sent>" (code 190): Graph echoes the token it could not read.
     */
    echoToken: null,
    /** Words the next Reel finish is refused with (code 100); the Reel stays unfinished, as Facebook leaves it. */
    refuseFinish: null,
  };
  const defaults = { ...switches };
  const photos = new Map<string, { id: string; page: string; bytes: Buffer; published: boolean; used: boolean }>();
  const sessions = new Map<
    string,
    { id: string; length: number; type: string; bytes: Buffer; handle: string | null }
  >();
  const videos = new Map<string, Reel>();
  const handles = new Map<string, string>();

  const words = {
    serverError: () =>
      graphFail(500, 'An unexpected error has occurred. Please retry your request later.', 2, undefined, {
        is_transient: true,
      }),
    rateLimited: (s: number) => ({
      ...graphFail(400, '(#32) Page request limit reached', 32),
      headers: {
        'x-business-use-case-usage': JSON.stringify({
          page: [
            {
              type: 'pages',
              call_count: 100,
              total_cputime: 20,
              total_time: 20,
              estimated_time_to_regain_access: s / 60,
            },
          ],
        }),
      },
    }),
  };

  async function handle(call: Call, pub: PublishingState): Promise<Answer> {
    const faulted = injected(call, pub, words);
    if (faulted) return faulted;
    if (switches.echoToken === call.endpoint && call.token)
      return graphFail(400, `Malformed access token ${call.token}`, 190);
    if (!call.token) {
      pub.kit.violate(call.endpoint, 'no access token');
      return graphFail(400, 'An active access token must be used to query information about the current user.', 2500);
    }
    if (call.query.get('access_token') && call.header('authorization'))
      pub.kit.violate(call.endpoint, 'access token sent twice');
    const needsUser =
      call.endpoint === 'session_start' || call.endpoint === 'upload_file' || call.endpoint === 'upload_status';
    const checked = pub.check(call.token, needsUser ? ['user'] : ['page']);
    if (!checked.ok) {
      const other = pub.check(call.token, needsUser ? ['page'] : ['user']);
      if (other.ok) {
        pub.kit.violate(
          call.endpoint,
          needsUser ? 'a Page token where a User token is required' : 'a User token where a Page token is required',
        );
        return graphFail(400, '(#200) Requires a different access token', 200);
      }
      return graphFail(
        401,
        `Error validating access token: Session has ${checked.why === 'expired' ? 'expired' : 'been invalidated'}`,
        190,
        checked.why === 'expired' ? 463 : checked.why === 'unknown' ? undefined : 460,
      );
    }
    if (needsUser && call.endpoint !== 'session_start' && !/^OAuth /.test(call.header('authorization') ?? '')) {
      pub.kit.violate(call.endpoint, 'the upload API needs the token in the Authorization: OAuth header');
      return graphFail(400, 'access token must be in the header', 190);
    }
    const parts = call.path.split('/').filter((p) => p !== '' && !/^v\d+\.\d+$/.test(p));
    const answer = await route(call, pub, parts);
    const minutes = Number(switches.regainAccessMinutes);
    if (minutes > 0) {
      answer.headers = {
        ...(answer.headers ?? {}),
        'x-business-use-case-usage': JSON.stringify({
          [parts[0] as string]: [{ type: 'pages', call_count: 95, estimated_time_to_regain_access: minutes }],
        }),
      };
    }
    return answer;
  }

  async function route(call: Call, pub: PublishingState, parts: string[]): Promise<Answer> {
    const p = Object.fromEntries(call.params);
    delete p.access_token;
    const e = call.endpoint;
    const bad = (message: string, code = 100) => {
      pub.kit.violate(e, message);
      return graphFail(400, message, code);
    };
    const page = parts[0] as string;
    switch (e) {
      case 'feed': {
        if (!p.message && !p.link && !p.attached_media)
          return bad('(#100) a post needs message, link or attached_media');
        const media: Buffer[] = [];
        if (p.attached_media) {
          let list: { media_fbid?: string }[] = [];
          try {
            list = JSON.parse(p.attached_media);
          } catch {
            return bad('attached_media is not JSON');
          }
          for (const entry of list) {
            const photo = photos.get(String(entry.media_fbid));
            if (!photo || photo.published || photo.used)
              return bad(`media_fbid ${entry.media_fbid} is not an unpublished photo of this Page`);
            photo.used = true;
            media.push(photo.bytes);
          }
        }
        const item = pub.publish('feed', page, p, media, `${page}_${newId()}`);
        return json(200, { id: item.id });
      }
      case 'photos': {
        if (!p.url) return bad('this emulator takes photos by url');
        const bytes = await pullMedia(p.url);
        if (!bytes) return graphFail(400, 'Unable to fetch the photo from the URL', 100, 2061006);
        const id = newId();
        const published = p.published !== 'false';
        photos.set(id, { id, page, bytes, published, used: false });
        if (!published) return json(200, { id });
        const item = pub.publish('photo', page, p, [bytes], `${page}_${newId()}`);
        return json(200, { id, post_id: item.id });
      }
      case 'session_start': {
        const length = Number(p.file_length);
        if (!(length > 0) || !p.file_type) return bad('file_length and file_type are required');
        const id = newId();
        sessions.set(id, { id, length, type: p.file_type, bytes: Buffer.alloc(0), handle: null });
        return json(200, { id: `upload:${id}` });
      }
      case 'upload_file':
      case 'upload_status': {
        const s = sessions.get((parts[0] as string).slice('upload:'.length));
        if (!s) return graphFail(400, 'Invalid upload session', 100);
        if (e === 'upload_status') return json(200, { id: `upload:${s.id}`, file_offset: s.bytes.length });
        const offset = Number(call.header('file_offset'));
        if (offset !== s.bytes.length) {
          pub.kit.violate(e, `file_offset ${offset} but ${s.bytes.length} bytes held`);
          return graphFail(400, 'file_offset does not match the bytes received', 100);
        }
        s.bytes = Buffer.concat([s.bytes, call.body]);
        if (call.partial) return json(200, {});
        if (s.bytes.length !== s.length) return json(200, { id: `upload:${s.id}`, file_offset: s.bytes.length });
        s.handle = `2:${randomBytes(12).toString('base64url')}`;
        handles.set(s.handle, s.id);
        // A Facebook that took the bytes but answered without the handle (the publisher must not loop).
        if (switches.uploadAnswersWithoutHandle) return json(200, {});
        return json(200, { h: s.handle });
      }
      case 'video_publish': {
        const handle = p.fbuploader_video_file_chunk;
        const s = handle ? sessions.get(handles.get(handle) ?? '') : undefined;
        if (!s) return bad('fbuploader_video_file_chunk is not a file handle');
        if (!call.header('host')) return bad('no host');
        const id = newId();
        handles.delete(handle as string);
        videos.set(id, {
          id,
          page,
          received: s.bytes,
          size: s.length,
          finished: true,
          pollsLeft: Number(switches.processingPolls),
          params: p,
          startedAt: pub.kit.now(),
          kind: 'video',
        });
        pub.publish('video', page, p, [s.bytes], id);
        return json(200, { id });
      }
      case 'reels': {
        if (p.upload_phase === 'start') {
          const dayAgo = pub.kit.now() - 86_400_000;
          const recent = [...videos.values()].filter(
            (v) => v.kind === 'reel' && v.page === page && v.startedAt > dayAgo,
          ).length;
          if (recent >= Number(switches.reelsPerDay)) {
            pub.kit.violate(e, 'a Reel started beyond 30 per Page per 24 hours');
            return graphFail(400, 'The Page reached its limit of API-published Reels for 24 hours', 4);
          }
          const id = newId();
          videos.set(id, {
            id,
            page,
            received: Buffer.alloc(0),
            size: null,
            finished: false,
            pollsLeft: Number(switches.processingPolls),
            params: {},
            startedAt: pub.kit.now(),
            kind: 'reel',
          });
          const host = call.header('host') ?? '127.0.0.1';
          return json(200, { video_id: id, upload_url: `http://${host}/video-upload/v26.0/${id}` });
        }
        if (p.upload_phase === 'finish') {
          const v = videos.get(p.video_id ?? '');
          if (v?.kind !== 'reel') return bad('video_id is not a Reel of this Page');
          if (v.finished) {
            pub.kit.violate(e, 'finish sent twice for one Reel');
            return json(200, { success: true });
          }
          if (v.size === null || v.received.length !== v.size) return bad('finish before the upload completed');
          if (!['DRAFT', 'SCHEDULED', 'PUBLISHED'].includes(p.video_state ?? ''))
            return bad('video_state must be DRAFT, SCHEDULED or PUBLISHED');
          if (typeof switches.refuseFinish === 'string') {
            const refusal = switches.refuseFinish;
            switches.refuseFinish = null;
            return graphFail(400, refusal, 100);
          }
          v.finished = true;
          v.params = p;
          if (typeof switches.reelFails === 'string') {
            v.failedAs = switches.reelFails;
            switches.reelFails = null;
            return json(200, { success: true });
          }
          pub.publish('reel', page, p, [v.received], v.id);
          return json(200, { success: true });
        }
        return bad('(#100) Missing parameter: upload_phase');
      }
      case 'upload_reel': {
        const v = videos.get(parts.at(-1) as string);
        const fail = (type: string, message: string) =>
          json(400, { debug_info: { retriable: type !== 'PartialRequestError', type, message } });
        if (!/^OAuth /.test(call.header('authorization') ?? '')) {
          pub.kit.violate(e, 'rupload needs Authorization: OAuth <token>');
          return fail('ProcessingFailedError', 'unauthorized user request');
        }
        if (!v) return fail('ProcessingFailedError', 'no such video');
        const offset = Number(call.header('offset'));
        const size = Number(call.header('file_size'));
        if (!(size > 0)) return fail('PartialRequestError', 'file_size is required');
        if (offset !== v.received.length) {
          pub.kit.violate(e, `offset ${offset} but bytes_transfered is ${v.received.length}`);
          return fail('OffsetInvalidError', 'Offset is invalid');
        }
        v.size = size;
        v.received = Buffer.concat([v.received, call.body]);
        if (call.partial) return json(200, {});
        if (v.received.length !== size && offset + call.body.length !== Number(call.header('content-length')))
          return fail('PartialRequestError', 'length mismatch');
        return json(200, { success: true });
      }
      case 'video_status': {
        const v = videos.get(page) as Reel;
        const uploaded = v.size !== null && v.received.length === v.size;
        const done = v.finished && v.pollsLeft-- <= 0;
        const table = switches.fieldTableStatus === true;
        const complete = table ? 'completed' : 'complete';
        if (v.failedAs) {
          return json(200, {
            id: v.id,
            status: {
              video_status: v.failedAs,
              uploading_phase: { status: v.failedAs === 'upload_failed' ? 'error' : complete },
              processing_phase: { status: 'not_started' },
              publishing_phase: { status: 'not_started' },
            },
          });
        }
        return json(200, {
          id: v.id,
          status: {
            video_status: !uploaded ? 'uploading' : done ? 'ready' : v.finished ? 'processing' : 'upload_complete',
            uploading_phase: {
              status: uploaded ? complete : v.received.length ? 'in_progress' : 'not_started',
              bytes_transfered: v.received.length,
              source_file_size: v.size ?? 0,
            },
            processing_phase: { status: done ? complete : v.finished ? 'in_progress' : 'not_started' },
            publishing_phase:
              done && switches.publishingFails
                ? { status: 'error', publish_status: 'error' }
                : done && v.kind === 'video' && switches.videoReadyBeforePublishing === true
                  ? { status: 'in_progress' }
                  : {
                      status: done ? complete : 'not_started',
                      ...(table ? {} : { publish_status: done ? 'published' : v.finished ? 'scheduled' : 'draft' }),
                      ...(done ? { publish_time: Math.floor(pub.kit.now() / 1000) } : {}),
                    },
          },
        });
      }
    }
    return bad(`unknown endpoint ${e}`);
  }

  return {
    switches,
    classify(method, path) {
      if (method === 'POST' && new RegExp(`^/video-upload${V}/\\d+$`).test(path)) return 'upload_reel';
      const upload = new RegExp(`^${V}/upload:\\d+$`).test(path);
      if (upload) return method === 'POST' ? 'upload_file' : method === 'GET' ? 'upload_status' : null;
      const m = new RegExp(`^${V}/(\\d+)(?:/([a-z_]+))?$`).exec(path);
      if (!m) return null;
      const [, id, edge] = m;
      if (method === 'POST' && edge === 'feed') return 'feed';
      if (method === 'POST' && edge === 'photos') return 'photos';
      if (method === 'POST' && edge === 'uploads') return 'session_start';
      if (method === 'POST' && edge === 'videos') return 'video_publish';
      if (method === 'POST' && edge === 'video_reels') return 'reels';
      if (method === 'GET' && !edge && videos.has(id as string)) return 'video_status';
      return null;
    },
    handle,
    reset() {
      photos.clear();
      sessions.clear();
      videos.clear();
      handles.clear();
      Object.assign(switches, defaults);
    },
  };
}
