import { instagramHashtags, instagramMentions } from '../../domain/platform-text.js';
import {
  graphError,
  type HttpAnswer,
  IG_NEW_CONTAINER_SUBCODES,
  IG_NOT_READY_SUBCODE,
  IG_RETRY_TWICE_SUBCODE,
  PublishError,
} from '../publish-errors.js';
import type { PlatformPublisher, PublishRun } from '../publishing.js';
import { ConnectionLost, sendBytes, type UploadSource } from '../upload-source.js';

/**
 * Instagram content publishing (platform-apis.md 3.4-3.7): containers, their status, media_publish,
 * under the live content_publishing_limit. Instagram Login (graph.instagram.com) takes media only
 * by URL; Facebook Login (graph.facebook.com) may also upload Reels through rupload.
 */
export type CarouselItem = { type: 'image'; url: string } | { type: 'video'; url: string };

export type InstagramInput =
  | { kind: 'image'; imageUrl: string; caption?: string; altText?: string }
  | { kind: 'carousel'; items: CarouselItem[]; caption?: string }
  | {
      kind: 'reel';
      /** Public URL Instagram fetches; or `source` for a resumable upload (Facebook Login only). */
      videoUrl?: string;
      source?: UploadSource;
      caption?: string;
      shareToFeed?: boolean;
      coverUrl?: string;
      thumbOffsetMs?: number;
    }
  | { kind: 'story'; imageUrl?: string; videoUrl?: string };

export interface InstagramPublisherConfig {
  /** INSTAGRAM_GRAPH_URL (Instagram Login) or FACEBOOK_GRAPH_URL (Facebook Login). */
  graphUrl: string;
  version: string;
  login: 'instagram' | 'facebook';
  /** FACEBOOK_RUPLOAD_URL, for resumable Reels with Facebook Login. */
  ruploadUrl: string;
  igUserId: string;
  /**
   * Between status checks of a container (INSTAGRAM_POLL_INTERVAL_MS). 3.4 and 3.5 ask for once a
   * minute for at most five minutes; the checks of one attempt stay inside those five minutes.
   * Absent: the publish context's interval and count.
   */
  pollIntervalMs?: number | undefined;
}

/** How long one attempt checks a container before handing back to Temporal's retries (3.4). */
const CONTAINER_CHECKS_MS = 5 * 60_000;

export function instagramPreflight(input: InstagramInput, login: 'instagram' | 'facebook'): string[] {
  const problems: string[] = [];
  const caption = 'caption' in input ? (input.caption ?? '') : '';
  if (caption.length > 2200) problems.push('caption: at most 2200 characters');
  if (instagramHashtags(caption) > 30) problems.push('caption: at most 30 hashtags');
  if (instagramMentions(caption) > 20) problems.push('caption: at most 20 @mentions');
  if (input.kind === 'carousel' && (input.items.length < 2 || input.items.length > 10))
    problems.push('carousel: 2 to 10 items');
  if (input.kind === 'reel' && !input.videoUrl && !input.source) problems.push('reel: a video is required');
  if (input.kind === 'reel' && !input.videoUrl && login === 'instagram') {
    problems.push('reel: with Instagram Login the video must be reachable by URL (uploads need Facebook Login)');
  }
  if (input.kind === 'story' && !input.imageUrl && !input.videoUrl)
    problems.push('story: an image or a video is required');
  return problems;
}

export function instagramPublisher(config: InstagramPublisherConfig): PlatformPublisher<InstagramInput> {
  const base = `${config.graphUrl}/${config.version}`;
  const name = 'instagram' as const;

  async function graph(
    run: PublishRun,
    what: string,
    method: 'GET' | 'POST',
    path: string,
    params: Record<string, string | undefined>,
    idempotent: boolean,
    /** Parameters in the URL on a POST, where the contract shows them there (3.4 step 3). */
    inQuery = false,
  ): Promise<Record<string, unknown>> {
    return run.retrying(
      () =>
        run.authed(async (token) => {
          const answer = await run.send({
            what,
            method,
            url: `${base}${path}`,
            ...(method === 'GET' || inQuery ? { query: params } : { form: params }),
            auth: 'param',
            token,
          });
          if (answer.status !== 200) throw graphError(name, answer, what);
          return (answer.body ?? {}) as Record<string, unknown>;
        }),
      { idempotent },
    );
  }

  async function checkLimit(run: PublishRun): Promise<void> {
    // 3.4 names the limit `config` in its sample answer and `rate_limit_settings` in its sample
    // request: ask for the one, then the other; quota_usage alone (the default) if neither is known.
    let body: Record<string, unknown> | undefined;
    for (const fields of ['quota_usage,config', 'quota_usage,rate_limit_settings', undefined]) {
      try {
        body = await graph(
          run,
          'publishing limit',
          'GET',
          `/${config.igUserId}/content_publishing_limit`,
          { ...(fields ? { fields } : {}), since: String(Math.floor(Date.now() / 1000) - 86_000) },
          true,
        );
        break;
      } catch (err) {
        if (!(err instanceof PublishError) || err.kind !== 'rejected') throw err;
      }
    }
    // Unreadable: media_publish still enforces the limit (2207042, a wait), and the budget counted here too.
    if (!body) return;
    type Limit = { quota_total?: number };
    const entry = (Array.isArray(body.data) ? body.data[0] : undefined) as
      | { quota_usage?: number; config?: Limit; rate_limit_settings?: Limit }
      | undefined;
    const used = Number(entry?.quota_usage ?? 0);
    const total = Number(entry?.config?.quota_total ?? entry?.rate_limit_settings?.quota_total ?? 50);
    if (used + 1 > total) {
      throw new PublishError(
        name,
        'quota',
        `Instagram: ${used} of ${total} API posts in the last 24 hours are used; this post waits until one leaves the window`,
        {
          waitUntil: new Date(Date.now() + 3600_000),
        },
      );
    }
  }

  /** Creating a container publishes nothing, so a lost answer is answered by creating another. */
  async function create(
    run: PublishRun,
    params: Record<string, string | undefined>,
  ): Promise<{ id: string; uri?: string }> {
    const body = await graph(run, 'media container', 'POST', `/${config.igUserId}/media`, params, true);
    if (typeof body.id !== 'string')
      throw new PublishError(name, 'transient', 'Instagram created a container without an id');
    return { id: body.id, ...(typeof body.uri === 'string' ? { uri: body.uri } : {}) };
  }

  /**
   * media_publish answered with an error from 3.6 that a retry overcomes: nothing was posted. Not
   * ready yet: wait for FINISHED again. A container that can no longer be published (2207008 after
   * two retries): the next attempt makes a new one.
   */
  async function afterRefusedPublish(run: PublishRun, err: PublishError): Promise<void> {
    const subcode = err.details.subcode;
    if (subcode === IG_NOT_READY_SUBCODE) {
      await run.record({ publishSent: false });
      return;
    }
    if (subcode === undefined || !IG_NEW_CONTAINER_SUBCODES.has(subcode)) return;
    const tries = Number(run.journal.builderRetries ?? 0);
    if (subcode === IG_RETRY_TWICE_SUBCODE && tries < 2) {
      await run.record({ publishSent: false, builderRetries: tries + 1 });
      return;
    }
    await run.record({ containerId: null, childIds: [], uploaded: false, publishSent: false, builderRetries: 0 });
  }

  async function containerStatus(run: PublishRun, id: string): Promise<{ code: string; text: string }> {
    const body = await graph(run, 'container status', 'GET', `/${id}`, { fields: 'status_code,status' }, true);
    return { code: String(body.status_code ?? ''), text: String(body.status ?? '') };
  }

  async function waitFinished(
    run: PublishRun,
    id: string,
    what: string,
  ): Promise<'FINISHED' | 'PUBLISHED' | 'EXPIRED'> {
    const every = config.pollIntervalMs;
    const pace = every ? { intervalMs: every, maxPolls: Math.max(1, Math.floor(CONTAINER_CHECKS_MS / every)) } : {};
    return run.poll(`Instagram ${what}`, pace, async () => {
      const s = await containerStatus(run, id);
      if (s.code === 'ERROR')
        throw new PublishError(name, 'rejected', `Instagram could not process the ${what}: ${s.text || 'ERROR'}`);
      if (s.code === 'FINISHED' || s.code === 'PUBLISHED' || s.code === 'EXPIRED') return s.code;
      return undefined;
    });
  }

  function mainParams(input: InstagramInput, children: string[]): Record<string, string | undefined> {
    switch (input.kind) {
      case 'image':
        return { image_url: input.imageUrl, caption: input.caption, alt_text: input.altText };
      case 'carousel':
        return { media_type: 'CAROUSEL', children: children.join(','), caption: input.caption };
      case 'reel':
        return {
          media_type: 'REELS',
          ...(input.videoUrl ? { video_url: input.videoUrl } : { upload_type: 'resumable' }),
          caption: input.caption,
          share_to_feed: input.shareToFeed === undefined ? undefined : String(input.shareToFeed),
          cover_url: input.coverUrl,
          thumb_offset: input.thumbOffsetMs === undefined ? undefined : String(input.thumbOffsetMs),
        };
      case 'story':
        return {
          media_type: 'STORIES',
          ...(input.imageUrl ? { image_url: input.imageUrl } : { video_url: input.videoUrl }),
        };
    }
  }

  async function rupload(run: PublishRun, source: UploadSource, uri: string): Promise<void> {
    const answer: HttpAnswer = await run.retrying(
      () =>
        run.authed(async (token) => {
          const a = await sendBytes({
            method: 'POST',
            url: uri,
            headers: {
              authorization: `OAuth ${token}`,
              offset: '0',
              file_size: String(source.size),
              'content-type': 'application/octet-stream',
            },
            source,
            start: 0,
            end: source.size - 1,
            onProgress: (s, t) => run.progress(s, t),
          }).catch((err) => {
            // Bytes sent to an unpublished container publish nothing: sending them again is safe.
            throw err instanceof ConnectionLost
              ? new PublishError(name, 'transient', `Instagram upload: ${err.message}`)
              : err;
          });
          if (a.status === 401) throw graphError(name, a, 'upload');
          const info = (a.body as { debug_info?: { retriable?: boolean; message?: string } } | null)?.debug_info;
          if (info)
            throw new PublishError(
              name,
              info.retriable ? 'transient' : 'rejected',
              `Instagram upload: ${info.message ?? 'failed'}`,
            );
          if (a.status >= 500) throw new PublishError(name, 'transient', `Instagram upload: HTTP ${a.status}`);
          return a;
        }),
      { idempotent: true },
    );
    if (answer.status !== 200)
      throw new PublishError(name, 'rejected', `Instagram upload refused: HTTP ${answer.status}`);
  }

  return {
    platform: name,
    steps(input) {
      return [
        {
          name: 'prepare',
          async run(run) {
            if (run.journal.containerId) return;
            const problems = instagramPreflight(input, config.login);
            if (problems.length)
              throw new PublishError(name, 'rejected', `Instagram would refuse this post: ${problems.join('; ')}`);
            await checkLimit(run);
            const children: string[] = Array.isArray(run.journal.childIds) ? [...run.journal.childIds] : [];
            if (input.kind === 'carousel') {
              for (const item of input.items.slice(children.length)) {
                const child = await create(
                  run,
                  item.type === 'image'
                    ? { is_carousel_item: 'true', image_url: item.url }
                    : { is_carousel_item: 'true', media_type: 'VIDEO', video_url: item.url },
                );
                children.push(child.id);
                await run.record({ childIds: [...children] });
              }
              for (const id of children) {
                const state = await waitFinished(run, id, 'carousel item');
                if (state !== 'FINISHED') {
                  await run.record({ childIds: [] });
                  throw new PublishError(
                    name,
                    'transient',
                    'an Instagram carousel item expired; the items are created again',
                  );
                }
              }
            }
            const created = await create(run, mainParams(input, children));
            await run.record({ containerId: created.id, uploadUri: created.uri ?? null, uploaded: false });
          },
        },
        {
          name: 'upload',
          async run(run) {
            if (input.kind !== 'reel' || input.videoUrl || !input.source || run.journal.uploaded) return;
            const id = String(run.journal.containerId);
            const uri =
              typeof run.journal.uploadUri === 'string'
                ? run.journal.uploadUri
                : `${config.ruploadUrl}/ig-api-upload/${config.version}/${id}`;
            await rupload(run, input.source, uri);
            await run.record({ uploaded: true });
          },
        },
        {
          name: 'poll',
          async run(run) {
            if (run.journal.publishSent) return;
            const state = await waitFinished(run, String(run.journal.containerId), 'media');
            if (state === 'EXPIRED') {
              await run.record({ containerId: null, childIds: [] });
              throw new PublishError(
                name,
                'transient',
                'the Instagram container expired before publishing; a new one is made',
              );
            }
          },
        },
        {
          name: 'commit',
          async run(run) {
            const id = String(run.journal.containerId);
            if (run.journal.publishSent && !run.journal.mediaId) {
              // The answer of media_publish was lost: the container says whether it was published.
              const s = await containerStatus(run, id);
              if (s.code === 'PUBLISHED') {
                await run.published(
                  null,
                  null,
                  'published; Instagram’s answer with the post id was lost, see the account',
                );
                return;
              }
              if (s.code !== 'FINISHED')
                throw new PublishError(
                  name,
                  'transient',
                  `Instagram container is ${s.code} after a lost publish answer`,
                );
            }
            if (!run.journal.mediaId) {
              await checkLimit(run);
              await run.record({ publishSent: true });
              const body = await graph(
                run,
                'publish',
                'POST',
                `/${config.igUserId}/media_publish`,
                { creation_id: id },
                false,
                true,
              ).catch(async (err) => {
                if (err instanceof PublishError && err.kind === 'lost') {
                  const s = await containerStatus(run, id);
                  if (s.code === 'PUBLISHED') return { id: null };
                }
                if (err instanceof PublishError) await afterRefusedPublish(run, err);
                throw err;
              });
              if (body.id === null) {
                await run.published(
                  null,
                  null,
                  'published; Instagram’s answer with the post id was lost, see the account',
                );
                return;
              }
              await run.record({ mediaId: String(body.id) });
            }
            const mediaId = String(run.journal.mediaId);
            const info = await graph(
              run,
              'permalink',
              'GET',
              `/${mediaId}`,
              { fields: 'id,permalink,media_type,media_product_type,timestamp' },
              true,
            ).catch(() => ({}) as Record<string, unknown>);
            await run.published(mediaId, typeof info.permalink === 'string' ? info.permalink : null);
          },
        },
      ];
    },
  };
}
