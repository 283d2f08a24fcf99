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
 * Instagram content publishing (platform-apis.md 3.4-3.6) for either host: containers for images,
 * carousels, Reels and Stories, container status with asynchronous processing, media_publish under
 * the 24-hour publishing limit, content_publishing_limit, and (Facebook Login only) rupload.
 */
interface Container {
  id: string;
  account: string;
  kind: 'IMAGE' | 'VIDEO' | 'REELS' | 'STORIES' | 'CAROUSEL' | 'CAROUSEL_ITEM';
  params: Record<string, string>;
  media: Buffer[];
  status: 'IN_PROGRESS' | 'FINISHED' | 'ERROR' | 'EXPIRED' | 'PUBLISHED';
  statusText: string;
  pollsLeft: number;
  createdAt: number;
  awaitingUpload: boolean;
  mediaId: string | null;
  /** Status checks left before a container failed by `failContainers` recovers (null: it stays ERROR). */
  errorChecksLeft: number | null;
}

const VERSION = '(?:/v\\d+\\.\\d+)?';

export function createInstagramPublishing(variant: 'instagram-login' | 'facebook-login'): PublishingModule {
  const switches: Record<string, unknown> = {
    quotaTotal: 50,
    /**
     * The field content_publishing_limit names its limit with: `config` (the sample answer) or
     * `rate_limit_settings` (the sample request, platform-apis.md 3.4); asking for the other one is
     * refused as Graph refuses an unknown field.
     */
    limitField: 'config',
    processingPolls: 1,
    /** When a number: new video containers stay IN_PROGRESS for that many polls, then ERROR. */
    containerFailsAfterPolls: null,
    /** The status text of a container that fails (default: 3.6's unknown upload error, 2207053). */
    containerErrorText: null,
    /** When a number: that many of the next containers made (any kind) are ERROR from the start. */
    failContainers: null,
    /** When a number: a container failed by `failContainers` is FINISHED after that many checks. */
    failedForChecks: null,
    /** 3.5: "An Instagram account can only create 400 containers within a rolling 24 hour period". */
    containersPerDay: 400,
    username: 'emulated_ig',
  };
  const defaults = { ...switches };
  const containers = new Map<string, Container>();
  const media = new Map<string, { id: string; container: Container; at: number; productType: string }>();
  const words = {
    serverError: () => graphFail(500, 'An unknown error occurred', 1, 2207001, { is_transient: true }),
    rateLimited: () => graphFail(400, 'Application request limit reached', 4, undefined, { is_transient: true }),
  };
  const errorText = () =>
    typeof switches.containerErrorText === 'string'
      ? switches.containerErrorText
      : 'Error: Media upload has failed with error code 2207053';
  const tokenKinds = variant === 'instagram-login' ? ['short', 'long'] : ['user', 'page'];

  function usage(pub: PublishingState, account: string): number {
    const dayAgo = pub.kit.now() - 86_400_000;
    return [...media.values()].filter((m) => m.container.account === account && m.at > dayAgo).length;
  }

  async function handle(call: Call, pub: PublishingState): Promise<Answer> {
    const faulted = injected(call, pub, {
      serverError: words.serverError,
      rateLimited: (s) => ({
        ...words.rateLimited(),
        headers: {
          'x-app-usage': JSON.stringify({ call_count: 100, total_cputime: 10, total_time: 10 }),
          'retry-after': String(s),
        },
      }),
    });
    if (faulted) return faulted;
    if (!call.token) {
      pub.kit.violate(call.endpoint, 'no access token');
      return graphFail(400, 'An active access token must be used.', 190);
    }
    const checked = pub.check(call.token, tokenKinds);
    if (!checked.ok)
      return graphFail(
        401,
        `Error validating access token: Session has ${checked.why === 'expired' ? 'expired' : 'been invalidated'}`,
        190,
        checked.why === 'expired' ? 463 : checked.why === 'unknown' ? undefined : 460,
      );
    const parts = call.path.split('/').filter((p) => p !== '' && !/^v\d+\.\d+$/.test(p));
    if (call.endpoint === 'upload') return upload(call, pub, parts.at(-1) as string);
    if (call.endpoint === 'status') return status(call, pub, parts[0] as string);
    const account = parts[0] as string;
    if (call.endpoint === 'limit') {
      const known = String(switches.limitField);
      const fields = (call.query.get('fields') ?? 'quota_usage').split(',');
      const unknown = fields.find((f) => f !== 'quota_usage' && f !== known);
      if (unknown) return graphFail(400, `(#100) Tried accessing nonexisting field (${unknown})`, 100);
      const limit = { quota_total: switches.quotaTotal, quota_duration: 86400 };
      return json(200, {
        data: [{ quota_usage: usage(pub, account), ...(fields.includes(known) ? { [known]: limit } : {}) }],
      });
    }
    if (call.endpoint === 'publish') return publish(call, pub, account);
    return container(call, pub, account);
  }

  async function container(call: Call, pub: PublishingState, account: string): Promise<Answer> {
    const e = 'container';
    const p = Object.fromEntries(call.params);
    delete p.access_token;
    const bad = (message: string, code = 100, subcode?: number) => {
      pub.kit.violate(e, message);
      return graphFail(400, message, code, subcode);
    };
    const type = p.media_type ?? (p.is_carousel_item === 'true' ? 'CAROUSEL_ITEM' : 'IMAGE');
    const caption = p.caption ?? '';
    if (caption.length > 2200 || (caption.match(/#/g)?.length ?? 0) > 30 || (caption.match(/@/g)?.length ?? 0) > 20) {
      return bad('caption too long', 36004, 2207010);
    }
    const dayAgo = pub.kit.now() - 86_400_000;
    const perDay = Number(switches.containersPerDay);
    if ([...containers.values()].filter((c) => c.account === account && c.createdAt > dayAgo).length >= perDay) {
      // 3.5 gives the limit but not the error Instagram answers with; this one is the emulator's.
      return bad(`more than ${perDay} containers in 24 hours`, 9, 2207042);
    }
    const c: Container = {
      id: newId('179'),
      account,
      kind: 'IMAGE',
      params: p,
      media: [],
      status: 'IN_PROGRESS',
      statusText: 'In progress',
      pollsLeft: Number(switches.processingPolls),
      createdAt: pub.kit.now(),
      awaitingUpload: false,
      mediaId: null,
      errorChecksLeft: null,
    };
    if (p.is_carousel_item === 'true') {
      if (caption) return bad('captions are not supported on carousel items');
      if (p.media_type === 'VIDEO' && !p.video_url) return bad('video_url is required');
      if (p.media_type !== 'VIDEO' && !p.image_url) return bad('image_url is required');
      c.kind = 'CAROUSEL_ITEM';
    } else if (type === 'CAROUSEL') {
      const children = (p.children ?? '').split(',').filter((x) => x !== '');
      if (children.length < 2 || children.length > 10) return bad('a carousel needs 2 to 10 items', 100, 2207028);
      for (const id of children) {
        const child = containers.get(id);
        if (child?.kind !== 'CAROUSEL_ITEM') return bad(`child ${id} is not a carousel item container`);
        if (child.status !== 'FINISHED') return bad(`child ${id} is not FINISHED`);
        c.media.push(...child.media);
      }
      c.kind = 'CAROUSEL';
      c.status = 'FINISHED';
    } else if (type === 'REELS' || type === 'STORIES' || type === 'IMAGE') {
      c.kind = type;
      if (type === 'IMAGE' && !p.image_url) return bad('image_url is required');
      if (type === 'REELS' && !p.video_url && p.upload_type !== 'resumable') return bad('video_url is required');
      if (type === 'STORIES' && !p.video_url && !p.image_url) return bad('image_url or video_url is required');
      if (p.upload_type === 'resumable') {
        if (variant === 'instagram-login')
          return bad('resumable uploads need Facebook Login for Business; send video_url');
        c.awaitingUpload = true;
      }
    } else {
      return bad(`media_type ${type} is not supported`, 100, 2207023);
    }
    const url = p.image_url ?? p.video_url;
    if (c.kind !== 'CAROUSEL' && !c.awaitingUpload && url) {
      const bytes = await pullMedia(url);
      if (!bytes) {
        c.status = 'ERROR';
        c.statusText = 'Error: Media download has failed. The media URI doesn\u2019t meet our requirements. (2207052)';
      } else {
        c.media.push(bytes);
        if (p.image_url && !(bytes[0] === 0xff && bytes[1] === 0xd8)) {
          c.status = 'ERROR';
          c.statusText = 'Error: The image format is not supported. (2207005)';
        } else if (p.image_url) c.status = 'FINISHED';
      }
    }
    const failing = Number(switches.failContainers ?? 0);
    if (failing > 0) {
      switches.failContainers = failing - 1;
      c.status = 'ERROR';
      c.statusText = errorText();
      c.errorChecksLeft = typeof switches.failedForChecks === 'number' ? switches.failedForChecks : null;
    }
    containers.set(c.id, c);
    const host = call.header('host') ?? '127.0.0.1';
    return json(200, { id: c.id, ...(c.awaitingUpload ? { uri: `http://${host}/ig-api-upload/v26.0/${c.id}` } : {}) });
  }

  function upload(call: Call, pub: PublishingState, id: string): Answer {
    const c = containers.get(id);
    const failure = (message: string, retriable = false) =>
      json(400, {
        debug_info: {
          retriable,
          type: 'ProcessingFailedError',
          message: JSON.stringify({ success: false, error: { message } }),
        },
      });
    if (!call.header('authorization')?.startsWith('OAuth ')) {
      pub.kit.violate('upload', 'rupload needs Authorization: OAuth <token>');
      return failure('unauthorized user request');
    }
    if (!c?.awaitingUpload) return failure('no container awaiting an upload');
    const offset = Number(call.header('offset'));
    const size = Number(call.header('file_size'));
    const have = c.media[0]?.length ?? 0;
    if (offset !== have || !(size > 0)) {
      pub.kit.violate('upload', `offset ${offset} but ${have} bytes held`);
      return failure('offset invalid', true);
    }
    c.media[0] = Buffer.concat([c.media[0] ?? Buffer.alloc(0), call.body]);
    if (call.partial) return json(200, {});
    if (c.media[0].length !== size) return failure('partial request', true);
    c.awaitingUpload = false;
    return json(200, { success: true, message: 'Upload successful.' });
  }

  function status(_call: Call, pub: PublishingState, id: string): Answer {
    const m = media.get(id);
    if (m) {
      return json(200, {
        id: m.id,
        permalink: `https://www.instagram.com/${m.productType === 'REELS' ? 'reel' : 'p'}/${m.id.slice(-11)}/`,
        media_type:
          m.container.kind === 'CAROUSEL'
            ? 'CAROUSEL_ALBUM'
            : m.container.kind === 'REELS' || m.container.params.media_type === 'VIDEO'
              ? 'VIDEO'
              : 'IMAGE',
        media_product_type: m.productType,
        timestamp: new Date(m.at).toISOString(),
      });
    }
    const c = containers.get(id) as Container;
    if (c.status === 'ERROR' && c.errorChecksLeft !== null && c.errorChecksLeft-- <= 0) {
      c.status = 'FINISHED';
      c.statusText = 'Finished';
    }
    if (c.status === 'IN_PROGRESS' && !c.awaitingUpload && c.media.length > 0) {
      const failAfter = switches.containerFailsAfterPolls;
      if (typeof failAfter === 'number') {
        if (c.pollsLeft-- <= Number(switches.processingPolls) - failAfter) {
          c.status = 'ERROR';
          c.statusText = errorText();
        }
      } else if (c.pollsLeft-- <= 0) c.status = 'FINISHED';
    }
    if (c.status !== 'PUBLISHED' && pub.kit.now() - c.createdAt > 86_400_000) c.status = 'EXPIRED';
    return json(200, { id: c.id, status_code: c.status, status: c.statusText });
  }

  function publish(call: Call, pub: PublishingState, account: string): Answer {
    const e = 'publish';
    const c = containers.get(call.params.get('creation_id') ?? '');
    if (!c || c.account !== account) return graphFail(400, 'Media builder does not exist', 24, 2207008);
    if (c.status === 'PUBLISHED') {
      pub.kit.violate(e, 'a container published twice');
      return graphFail(400, 'The media has already been published', 9007, 2207027);
    }
    if (c.status !== 'FINISHED') {
      pub.kit.violate(e, `media_publish before the container is FINISHED (${c.status})`);
      return graphFail(400, 'Media ID is not available', 9007, 2207027);
    }
    if (c.kind === 'CAROUSEL_ITEM') return graphFail(400, 'carousel items are published through their carousel', 100);
    if (usage(pub, account) >= Number(switches.quotaTotal)) {
      pub.kit.violate(e, 'media_publish beyond the content publishing limit');
      return graphFail(400, 'Application request limit reached', 9, 2207042);
    }
    c.status = 'PUBLISHED';
    c.statusText = 'Published';
    const item = pub.publish(c.kind, account, c.params, c.media);
    const productType = c.kind === 'REELS' ? 'REELS' : c.kind === 'STORIES' ? 'STORY' : 'FEED';
    media.set(item.id, { id: item.id, container: c, at: pub.kit.now(), productType });
    c.mediaId = item.id;
    return json(200, { id: item.id });
  }

  return {
    switches,
    classify(method, path) {
      if (method === 'POST' && new RegExp(`^/ig-api-upload${VERSION}/\\d+$`).test(path))
        return variant === 'facebook-login' ? 'upload' : null;
      const m = new RegExp(`^${VERSION}/(\\d+)(?:/([a-z_]+))?$`).exec(path);
      if (!m) return null;
      const [, id, edge] = m;
      if (method === 'POST' && edge === 'media') return 'container';
      if (method === 'POST' && edge === 'media_publish') return 'publish';
      if (method === 'GET' && edge === 'content_publishing_limit') return 'limit';
      if (method === 'GET' && !edge && (containers.has(id as string) || media.has(id as string))) return 'status';
      return null;
    },
    handle,
    reset() {
      containers.clear();
      media.clear();
      Object.assign(switches, defaults);
    },
  };
}
