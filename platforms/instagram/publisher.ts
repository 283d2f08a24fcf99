import { instagramHashtags, instagramMentions } from '../../domain/platform-text.js';
import {
  graphError,
  type HttpAnswer,
  IG_NEW_CONTAINER_SUBCODES,
  IG_RETRY_TWICE_SUBCODE,
  PublishError,
} from '../publish-errors.js';
import { committedToPlatform, type Journal, type PlatformPublisher, type PublishRun } from '../publishing.js';
import { ConnectionLost, sendBytes, type UploadSource } from '../upload-source.js';
import {
  ASK_AGAIN_AFTER_MS,
  ASK_AGAIN_TIMES,
  type ContainerError,
  containerError,
  MAX_CONTAINER_REMAKES,
} from './container-errors.js';
import { EXTRA_CONTAINERS } from './container-plan.js';

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

/** A publish that took, with the answer that carries the media id lost. */
const ID_LOST = 'published; Instagram’s answer with the post id was lost, see the account';

/** A container that went to ERROR, with what 3.6 says its subcode allows. */
interface Failed {
  failed: ContainerError;
  text: string;
}

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
    /** Told every HTTP status, the ones of tries retried here included. */
    answered?: (status: number) => void,
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
          answered?.(answer.status);
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
   * media_publish was refused: nothing was posted, so nothing of this journal is committed any more.
   * Most refusals (not ready yet, 2207027, say): the next attempt, if there is one, waits for
   * FINISHED and sends it again. A container that can no longer be published (2207008 after two
   * retries): the next attempt makes a new one.
   */
  async function afterRefusedPublish(run: PublishRun, err: PublishError): Promise<void> {
    const subcode = err.details.subcode;
    const tries = Number(run.journal.builderRetries ?? 0);
    if (subcode === undefined || !IG_NEW_CONTAINER_SUBCODES.has(subcode)) {
      await run.uncommit({ publishSent: false });
      return;
    }
    if (subcode === IG_RETRY_TWICE_SUBCODE && tries < 2) {
      await run.uncommit({ publishSent: false, builderRetries: tries + 1 });
      return;
    }
    // The items are made again with the carousel: each counts against the account's containers.
    const items = Array.isArray(run.journal.childIds) ? run.journal.childIds.length : 0;
    await run.uncommit({
      containerId: null,
      childIds: [],
      uploaded: false,
      publishSent: false,
      builderRetries: 0,
      [EXTRA_CONTAINERS]: extraContainers(run) + items + 1,
    });
  }

  function extraContainers(run: PublishRun): number {
    return Number(run.journal[EXTRA_CONTAINERS] ?? 0);
  }

  async function containerStatus(run: PublishRun, id: string): Promise<{ code: string; text: string }> {
    const body = await graph(run, 'container status', 'GET', `/${id}`, { fields: 'status_code,status' }, true);
    return { code: String(body.status_code ?? ''), text: String(body.status ?? '') };
  }

  /**
   * Where a container stands after a media_publish that no refusal answered (lost, or a 5xx): only
   * the container can say whether it took. A refused read cannot say, so the journal stays
   * committed and a retry asks again; ERROR or EXPIRED is Instagram's word that it never publishes.
   */
  async function sentContainer(run: PublishRun, id: string): Promise<string> {
    // A journal written before the commitment was recorded may hold a send all the same.
    if (!committedToPlatform(run.journal)) await run.commit();
    let code: string;
    try {
      code = (await containerStatus(run, id)).code;
    } catch (err) {
      if (!(err instanceof PublishError) || err.kind !== 'rejected') throw err;
      throw new PublishError(
        name,
        'rejected',
        `Instagram may have published this post (media_publish was sent and not refused), but the container’s status could not be read: ${err.message}; a retry asks Instagram again`,
        err.details,
      );
    }
    if (code === 'ERROR' || code === 'EXPIRED') await run.uncommit({ publishSent: false });
    return code;
  }

  async function waitFinished(
    run: PublishRun,
    id: string,
    what: string,
  ): Promise<'FINISHED' | 'PUBLISHED' | 'EXPIRED' | Failed> {
    const every = config.pollIntervalMs;
    const pace = every ? { intervalMs: every, maxPolls: Math.max(1, Math.floor(CONTAINER_CHECKS_MS / every)) } : {};
    return run.poll<'FINISHED' | 'PUBLISHED' | 'EXPIRED' | Failed>(`Instagram ${what}`, pace, async () => {
      let s = await containerStatus(run, id);
      // 2207008 asks for the same call again once or twice before the container is given up.
      for (let asked = 0; asked < ASK_AGAIN_TIMES && isAskAgain(s); asked++) {
        await run.sleep(ASK_AGAIN_AFTER_MS);
        s = await containerStatus(run, id);
      }
      if (s.code === 'ERROR') {
        const failed = containerError(s.text);
        return { failed, text: s.text };
      }
      if (s.code === 'FINISHED' || s.code === 'PUBLISHED' || s.code === 'EXPIRED') return s.code;
      return undefined;
    });
  }

  const isAskAgain = (s: { code: string; text: string }) =>
    s.code === 'ERROR' && containerError(s.text).action === 'ask-again-then-new';

  /**
   * A container in ERROR is never published. Where 3.6 allows it, the next attempt makes a new one:
   * `forget` drops the dead container from the journal in the same write that counts the new one,
   * so a crash or a retried attempt finds the count already taken and cannot make a second.
   */
  async function afterContainerError(
    run: PublishRun,
    { failed, text }: Failed,
    what: string,
    forget: Journal,
  ): Promise<never> {
    const said = text || 'ERROR';
    const reason = failed.meaning ? `${failed.meaning} (${failed.subcode}); Instagram said “${said}”` : said;
    const words = `Instagram could not process the ${what}: ${reason}`;
    const details = failed.subcode === undefined ? {} : { subcode: failed.subcode };
    if (failed.action === 'final') throw new PublishError(name, 'rejected', words, details);
    const remakes = Number(run.journal.containerRemakes ?? 0);
    if (remakes >= MAX_CONTAINER_REMAKES) {
      throw new PublishError(
        name,
        'rejected',
        `${words}; ${remakes} new containers failed as well, so this target stops here`,
        details,
      );
    }
    await run.record({ ...forget, containerRemakes: remakes + 1, [EXTRA_CONTAINERS]: extraContainers(run) + 1 });
    if (failed.action === 'next-day') {
      const waitUntil = new Date(Date.now() + 24 * 3600_000);
      throw new PublishError(
        name,
        'quota',
        `${words}; a new container is made after ${waitUntil.toISOString()}, when the day's limit has room`,
        { ...details, waitUntil },
      );
    }
    throw new PublishError(
      name,
      'transient',
      `${words}; a new container is made (${remakes + 1} of at most ${MAX_CONTAINER_REMAKES})`,
      { ...details, notAsIs: true },
    );
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
            // An empty id is an item whose container went to ERROR: it is made again in its place.
            const children: string[] = Array.isArray(run.journal.childIds) ? [...run.journal.childIds] : [];
            if (input.kind === 'carousel') {
              for (const [i, item] of input.items.entries()) {
                if (children[i]) continue;
                const child = await create(
                  run,
                  item.type === 'image'
                    ? { is_carousel_item: 'true', image_url: item.url }
                    : { is_carousel_item: 'true', media_type: 'VIDEO', video_url: item.url },
                );
                children[i] = child.id;
                await run.record({ childIds: [...children] });
              }
              for (const [i, id] of children.entries()) {
                const state = await waitFinished(run, id, 'carousel item');
                if (typeof state === 'object') {
                  await afterContainerError(run, state, 'carousel item', {
                    childIds: children.map((c, j) => (j === i ? '' : c)),
                  });
                }
                if (state !== 'FINISHED') {
                  // Every item is made again, each one more container against the account's budget.
                  await run.record({ childIds: [], [EXTRA_CONTAINERS]: extraContainers(run) + children.length });
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
            if (run.journal.mediaId) return;
            const id = String(run.journal.containerId);
            if (run.journal.publishSent) {
              const code = await sentContainer(run, id);
              if (code === 'PUBLISHED') {
                await run.published(null, null, ID_LOST);
                return;
              }
              // Not published: commit sends it again, for this container only (one publishes once).
              if (code === 'FINISHED') return;
              if (code !== 'ERROR' && code !== 'EXPIRED')
                throw new PublishError(
                  name,
                  'transient',
                  `Instagram container is ${code} after media_publish was sent`,
                );
              // Never to be published: replaced below, as one that failed before publishing.
            }
            const state = await waitFinished(run, id, 'media');
            if (typeof state === 'object') {
              // The carousel's items stay: prepare checks them again before the new carousel.
              await afterContainerError(run, state, 'media', { containerId: null, uploadUri: null, uploaded: false });
            }
            if (state === 'EXPIRED') {
              // Made again with its items, each one more container against the account's budget.
              const items = Array.isArray(run.journal.childIds) ? run.journal.childIds.length : 0;
              await run.record({
                containerId: null,
                childIds: [],
                [EXTRA_CONTAINERS]: extraContainers(run) + items + 1,
              });
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
            if (!run.journal.mediaId) {
              await checkLimit(run);
              // Sent before without a refusal for answer (poll found the container FINISHED): it
              // may still be taking, and a refusal now may even be because it did.
              let inDoubt = run.journal.publishSent === true;
              await run.commit({ publishSent: true });
              const body = await graph(
                run,
                'publish',
                'POST',
                `/${config.igUserId}/media_publish`,
                { creation_id: id },
                false,
                true,
                (status) => {
                  if (status >= 500) inDoubt = true;
                },
              ).catch(async (err: unknown) => {
                if (!(err instanceof PublishError)) throw err;
                // Lost or a 5xx: this send may have taken. Refused (or never reached Instagram): it
                // posted nothing, though a send in doubt before it may have.
                const refused = err.kind !== 'lost' && (err.details.status ?? 0) < 500;
                if ((!refused || inDoubt) && (await sentContainer(run, id)) === 'PUBLISHED') return { id: null };
                // A refusal ends the commitment; after a lost answer or a 5xx it stays, and the next
                // attempt asks the container first.
                if (refused) await afterRefusedPublish(run, err);
                throw err;
              });
              if (body.id === null) {
                await run.published(null, null, ID_LOST);
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
