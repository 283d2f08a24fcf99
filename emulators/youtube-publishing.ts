import { type Answer, json } from './oauth-kit.js';
import { type Call, injected, newId, type PublishingModule, type PublishingState } from './publishing-kit.js';

/**
 * YouTube's resumable videos.insert (platform-apis.md 2.2-2.6): session start, chunked PUTs in
 * multiples of 256 KiB answered 308 + Range, status queries `bytes *\/total`, sessions that expire
 * (404), processing states read with videos.list, thumbnails.set, and the daily quota that ends at
 * midnight Pacific time (the newer model: a bucket of videos.insert calls, units for the rest).
 */
const QUANTUM = 256 * 1024;

interface Session {
  id: string;
  account: string;
  total: number;
  type: string;
  metadata: Record<string, unknown>;
  received: Buffer[];
  receivedBytes: number;
  videoId: string | null;
  expired: boolean;
}

interface Video {
  id: string;
  resource: Record<string, unknown>;
  pollsLeft: number;
  itemId: string;
}

export function createYouTubePublishing(): PublishingModule {
  const switches: Record<string, unknown> = {
    insertsPerDay: 100,
    unitsPerDay: 10_000,
    processingPolls: 1,
    /**
     * `failed` or `rejected` makes the upload end that way; `deleted` as if the owner deleted it;
     * `terminated` or `processingFailed` leave it uploaded with processing ended that way.
     */
    processingOutcome: null,
    /** The sessions that exist when the next upload request arrives expire (404); new ones live. */
    sessionsExpired: false,
    channelId: 'UCemulatorChannel000000001',
    /** An API project YouTube has not audited: every upload is kept private (2.3). */
    unverifiedProject: false,
  };
  const defaults = { ...switches };
  const sessions = new Map<string, Session>();
  const videos = new Map<string, Video>();
  const usage = new Map<string, { inserts: number; units: number }>();

  const error = (status: number, reason: string, message: string, domain = 'youtube.api'): Answer =>
    json(status, { error: { code: status, message, errors: [{ message, domain, reason }] } });
  const words = {
    serverError: () => error(503, 'backendError', 'Backend Error'),
    rateLimited: (s: number) =>
      json(
        429,
        { error: { code: 429, message: 'Rate limit', errors: [{ reason: 'rateLimitExceeded' }] } },
        { 'retry-after': String(s) },
      ),
  };

  function spend(pub: PublishingState, endpoint: string, units: number, insert = false): Answer | undefined {
    const day = pacificDay(pub.kit.now());
    const used = usage.get(day) ?? { inserts: 0, units: 0 };
    const over = insert
      ? used.inserts + 1 > Number(switches.insertsPerDay)
      : used.units + units > Number(switches.unitsPerDay);
    if (over) {
      pub.kit.violate(endpoint, 'request beyond the daily quota (it resets at midnight Pacific time)');
      return error(
        403,
        'quotaExceeded',
        'The request cannot be completed because you have exceeded your quota.',
        'youtube.quota',
      );
    }
    if (insert) used.inserts++;
    else used.units += units;
    usage.set(day, used);
    return undefined;
  }

  function handle(call: Call, pub: PublishingState): Answer {
    const faulted = injected(call, pub, words);
    if (faulted) return faulted;
    if (!call.header('authorization')?.startsWith('Bearer ')) {
      pub.kit.violate(call.endpoint, 'no Authorization: Bearer');
      return error(401, 'authError', 'Invalid Credentials');
    }
    const checked = pub.check(call.token, ['access']);
    if (!checked.ok) return error(401, 'authError', 'Invalid Credentials');
    const account = String(switches.channelId);
    if (call.endpoint === 'insert') return insert(call, pub, account);
    if (call.endpoint === 'upload') return upload(call, pub);
    if (call.endpoint === 'thumbnail') return thumbnail(call, pub);
    return list(call, pub);
  }

  function insert(call: Call, pub: PublishingState, account: string): Answer {
    const e = 'insert';
    const bad = (reason: string, message: string) => {
      pub.kit.violate(e, message);
      return error(400, reason, message, 'youtube.video');
    };
    if (call.query.get('uploadType') !== 'resumable') return bad('badRequest', 'uploadType must be resumable');
    const total = Number(call.header('x-upload-content-length'));
    const type = call.header('x-upload-content-type') ?? '';
    if (!(total > 0)) return bad('badRequest', 'X-Upload-Content-Length missing');
    if (!/^video\/|^application\/octet-stream$/.test(type))
      return bad('badRequest', `X-Upload-Content-Type ${type} is not video/*`);
    const body = call.json ?? {};
    // videos.insert sets only the parts `part` names (2.2): a body part it leaves out is dropped.
    const parts = (call.query.get('part') ?? '').split(',');
    const unnamed = Object.keys(body).filter((k) => !parts.includes(k));
    if (unnamed.length > 0) return bad('badRequest', `part does not name ${unnamed.join(', ')}`);
    const snippet = (body.snippet ?? {}) as Record<string, unknown>;
    const status = (body.status ?? {}) as Record<string, unknown>;
    const title = String(snippet.title ?? '');
    if (!title || title.length > 100 || /[<>]/.test(title)) return bad('invalidTitle', 'invalid title');
    if (Buffer.byteLength(String(snippet.description ?? '')) > 5000 || /[<>]/.test(String(snippet.description ?? ''))) {
      return bad('invalidDescription', 'invalid description');
    }
    const tags = Array.isArray(snippet.tags) ? snippet.tags.map(String) : [];
    // 2.3: 500 characters in all, a tag with a space counted with its quotes; no separators named.
    if (tags.reduce((n, t) => n + t.length + (t.includes(' ') ? 2 : 0), 0) > 500) {
      return bad('invalidTags', 'tags longer than 500 characters');
    }
    if (status.publishAt !== undefined && status.privacyStatus !== 'private') {
      return bad('invalidPublishAt', 'invalid scheduled publishing time: publishAt needs privacyStatus private');
    }
    if (!['public', 'private', 'unlisted', undefined].includes(status.privacyStatus as string))
      return bad('invalidVideoMetadata', 'privacyStatus');
    const spent = spend(pub, e, 0, true);
    if (spent) return spent;
    const id = newId('up');
    sessions.set(id, {
      id,
      account,
      total,
      type,
      metadata: body,
      received: [],
      receivedBytes: 0,
      videoId: null,
      expired: false,
    });
    const host = call.header('host') ?? '127.0.0.1';
    return {
      status: 200,
      headers: {
        location: `http://${host}/upload/youtube/v3/videos?uploadType=resumable&upload_id=${id}&part=${call.query.get('part')}`,
      },
    };
  }

  function upload(call: Call, pub: PublishingState): Answer {
    const e = 'upload';
    if (switches.sessionsExpired === true) {
      for (const s of sessions.values()) s.expired = true;
      switches.sessionsExpired = false;
    }
    const session = sessions.get(call.query.get('upload_id') ?? '');
    if (!session || session.expired) return error(404, 'notFound', 'Upload session not found or expired');
    const range = session.receivedBytes > 0 ? { range: `bytes=0-${session.receivedBytes - 1}` } : undefined;
    const video = session.videoId ? videos.get(session.videoId) : undefined;
    const cr = call.header('content-range') ?? '';
    const query = cr.match(/^bytes \*\/(\d+)$/);
    if (query) {
      if (Number(query[1]) !== session.total) pub.kit.violate(e, 'status query with a different total');
      if (video) return json(201, video.resource);
      return { status: 308, headers: range };
    }
    const m = cr.match(/^bytes (\d+)-(\d+)\/(\d+)$/);
    let first = 0;
    let last = session.total - 1;
    if (m) [first, last] = [Number(m[1]), Number(m[2])];
    else if (cr !== '') {
      pub.kit.violate(e, `malformed Content-Range ${cr}`);
      return error(400, 'badRequest', 'bad Content-Range');
    }
    if (m && Number(m[3]) !== session.total)
      pub.kit.violate(e, 'Content-Range total differs from X-Upload-Content-Length');
    if (video) {
      pub.kit.violate(e, 'bytes sent to a session that is already complete');
      return json(201, video.resource);
    }
    if (first !== session.receivedBytes) {
      pub.kit.violate(e, `chunk starts at ${first}, the session holds ${session.receivedBytes} bytes`);
      return { status: 308, headers: range };
    }
    const final = last === session.total - 1;
    if (!final && (last - first + 1) % QUANTUM !== 0) {
      pub.kit.violate(e, 'a chunk that is not the last is not a multiple of 256 KiB');
      return error(400, 'badRequest', 'chunk size must be a multiple of 262144');
    }
    let body = call.body;
    if (call.partial || body.length !== last - first + 1) {
      // What arrived before the connection died, in whole 256 KiB units.
      body = body.subarray(0, Math.floor(body.length / QUANTUM) * QUANTUM);
      if (!call.partial) pub.kit.violate(e, 'Content-Length differs from the range');
    }
    session.received.push(body);
    session.receivedBytes += body.length;
    if (session.receivedBytes < session.total) {
      return { status: 308, headers: { range: `bytes=0-${session.receivedBytes - 1}` } };
    }
    const videoId = newId('v').slice(0, 12);
    session.videoId = videoId;
    const md = session.metadata as { snippet?: Record<string, unknown>; status?: Record<string, unknown> };
    const item = pub.publish('video', session.account, md, [Buffer.concat(session.received)], videoId);
    const resource = {
      kind: 'youtube#video',
      etag: newId('etag'),
      id: videoId,
      snippet: { ...md.snippet, publishedAt: new Date(pub.kit.now()).toISOString(), channelId: session.account },
      status: {
        uploadStatus: 'uploaded',
        ...md.status,
        privacyStatus: switches.unverifiedProject === true ? 'private' : (md.status?.privacyStatus ?? 'public'),
      },
    };
    videos.set(videoId, { id: videoId, resource, pollsLeft: Number(switches.processingPolls), itemId: item.id });
    return json(201, resource);
  }

  function list(call: Call, pub: PublishingState): Answer {
    const spent = spend(pub, 'list', 1);
    if (spent) return spent;
    const items = (call.query.get('id') ?? '')
      .split(',')
      .map((id) => videos.get(id))
      .filter((v): v is Video => v !== undefined)
      .map((v) => {
        const done = v.pollsLeft-- <= 0;
        const outcome = switches.processingOutcome;
        const processingEnded = outcome === 'terminated' || outcome === 'processingFailed';
        const uploadStatus = !done
          ? 'uploaded'
          : outcome === 'failed' || outcome === 'rejected' || outcome === 'deleted'
            ? outcome
            : processingEnded
              ? 'uploaded'
              : 'processed';
        return {
          id: v.id,
          status: {
            ...(v.resource.status as object),
            uploadStatus,
            ...(uploadStatus === 'failed' ? { failureReason: 'codec' } : {}),
            ...(uploadStatus === 'rejected' ? { rejectionReason: 'duplicate' } : {}),
          },
          processingDetails: {
            processingStatus: !done
              ? 'processing'
              : uploadStatus === 'processed'
                ? 'succeeded'
                : outcome === 'terminated' || outcome === 'deleted'
                  ? 'terminated'
                  : 'failed',
            ...(done && outcome === 'processingFailed' ? { processingFailureReason: 'transcodeFailed' } : {}),
          },
        };
      });
    return json(200, { kind: 'youtube#videoListResponse', items });
  }

  function thumbnail(call: Call, pub: PublishingState): Answer {
    const e = 'thumbnail';
    const video = videos.get(call.query.get('videoId') ?? '');
    if (!video) return error(404, 'videoNotFound', 'video not found');
    const type = call.header('content-type') ?? '';
    if (!/^(image\/jpeg|image\/png|application\/octet-stream)/.test(type)) {
      pub.kit.violate(e, `thumbnail content type ${type}`);
      return error(400, 'invalidImage', 'unsupported image type');
    }
    if (call.body.length === 0) return error(400, 'mediaBodyRequired', 'no image');
    if (call.body.length > 2 * 1024 * 1024) return error(400, 'invalidImage', 'thumbnail larger than 2 MB');
    const spent = spend(pub, e, 50);
    if (spent) return spent;
    const item = pub.published.find((p) => p.id === video.itemId);
    if (item) item.media[1] = call.body;
    const url = { url: `https://i.ytimg.example/vi/${video.id}/default.jpg`, width: 120, height: 90 };
    return json(200, {
      kind: 'youtube#thumbnailSetResponse',
      etag: newId('etag'),
      items: [{ default: url, medium: url, high: url }],
    });
  }

  return {
    switches,
    classify(method, path) {
      if (method === 'POST' && path === '/upload/youtube/v3/videos') return 'insert';
      if (method === 'PUT' && path === '/upload/youtube/v3/videos') return 'upload';
      if (method === 'POST' && path === '/upload/youtube/v3/thumbnails/set') return 'thumbnail';
      if (method === 'GET' && path === '/youtube/v3/videos') return 'list';
      return null;
    },
    handle,
    reset() {
      sessions.clear();
      videos.clear();
      usage.clear();
      Object.assign(switches, defaults);
    },
  };
}

/** The quota day: a date in America/Los_Angeles (DST included). */
function pacificDay(ms: number): string {
  return new Intl.DateTimeFormat('en-CA', { timeZone: 'America/Los_Angeles' }).format(new Date(ms));
}
