import { graphError, type HttpAnswer, PublishError } from '../publish-errors.js';
import { committedToPlatform, type PlatformPublisher, type PublishRun, UNKNOWN_CHECK } from '../publishing.js';
import { ConnectionLost, sendBytes, type UploadSource } from '../upload-source.js';

/**
 * Facebook Page publishing (platform-apis.md 4.2-4.8): text/link posts, one photo by URL or several
 * as unpublished photos attached to one feed post, videos through the Resumable Upload API and a
 * file handle, Reels through start / rupload / finish. Feed and photo posts cannot be asked about
 * afterwards: a lost answer there ends as "outcome unknown", never a second post.
 */
export type FacebookInput =
  | { kind: 'text'; message?: string; link?: string }
  | { kind: 'photos'; imageUrls: string[]; message?: string }
  | { kind: 'video'; source: UploadSource; title?: string; description?: string }
  | { kind: 'reel'; source: UploadSource; description?: string; title?: string };

export interface FacebookPublisherConfig {
  graphUrl: string;
  /** FACEBOOK_GRAPH_VIDEO_URL. */
  graphVideoUrl: string;
  version: string;
  pageId: string;
  appId: string;
  /** The Resumable Upload API takes the person's User token, not the Page token. */
  userToken(): Promise<string>;
}

export function facebookPreflight(input: FacebookInput): string[] {
  if (input.kind === 'text' && !input.message?.trim() && !input.link)
    return ['message: a text post needs a message or a link'];
  if (input.kind === 'photos' && input.imageUrls.length === 0) return ['images: at least one photo'];
  return [];
}

/** A finished phase, in either spelling the contract shows. */
const PHASE_DONE = new Set(['complete', 'completed']);
/** Tries of a Reel upload that Facebook answers ProcessingFailedError before a new session (4.6). */
const REEL_UPLOAD_RETRIES = 2;
/** New sessions one Reel target may start after its first (each start counts against the Page's day). */
const REEL_RESTARTS = 2;

export function facebookPublisher(config: FacebookPublisherConfig): PlatformPublisher<FacebookInput> {
  const name = 'facebook' as const;
  const graph = `${config.graphUrl}/${config.version}`;
  const lostToUnknown = async (run: PublishRun, what: string, err: unknown): Promise<null> => {
    if (err instanceof PublishError && err.kind === 'lost') {
      await run.unknown(`Facebook may have published the ${what}, but its answer was lost; ${UNKNOWN_CHECK}`);
      return null;
    }
    // Facebook answered (5xx, throttled, token refused...): nothing went out, so the announcement
    // is withdrawn and the next attempt may send it, as this one already did between its own tries.
    if (err instanceof PublishError) await run.uncommit({ postSent: false });
    throw err;
  };

  async function call(
    run: PublishRun,
    what: string,
    method: 'GET' | 'POST',
    url: string,
    params: Record<string, string | undefined>,
    /**
     * `inQuery`: parameters in the URL even on a POST, where the contract shows them there (4.4 B,
     * 4.6 step 4). `answered`: told every HTTP status, the ones of tries retried here included.
     */
    options: { idempotent: boolean; user?: boolean; inQuery?: boolean; answered?: (status: number) => void },
  ): Promise<Record<string, unknown>> {
    return run.retrying(
      () =>
        run.authed(async (pageToken) => {
          const user = options.user ? await config.userToken() : undefined;
          const answer = await run.send({
            what,
            method,
            url,
            ...(method === 'GET' || options.inQuery ? { query: params } : { form: params }),
            auth: 'param',
            token: user ?? pageToken,
          });
          options.answered?.(answer.status);
          if (answer.status !== 200) throw graphError(name, answer, what);
          return (answer.body ?? {}) as Record<string, unknown>;
        }),
      { idempotent: options.idempotent },
    );
  }

  /**
   * The video's status object. Once the video may be published (COMMITTED), a read Facebook refuses
   * (4.8 code 100, say) is no refusal of the video: the run ends "outcome unknown" with the link to
   * look at, and this answers null.
   */
  async function status(
    run: PublishRun,
    videoId: string,
    reel: boolean,
  ): Promise<Record<string, Record<string, unknown>> | null> {
    try {
      const body = await call(
        run,
        'video status',
        'GET',
        `${graph}/${videoId}`,
        { fields: 'status' },
        { idempotent: true },
      );
      return (body.status ?? {}) as Record<string, Record<string, unknown>>;
    } catch (err) {
      if (!(err instanceof PublishError) || err.kind !== 'rejected' || !committedToPlatform(run.journal)) throw err;
      const what = reel ? 'Reel' : 'video';
      await run.unknown(
        `Facebook has the ${what} (${linkOf(videoId, reel)}) but its status could not be read: ${err.message}; ${UNKNOWN_CHECK}`,
      );
      return null;
    }
  }

  const linkOf = (videoId: string, reel: boolean) =>
    reel ? `https://www.facebook.com/reel/${videoId}` : `https://www.facebook.com/${config.pageId}/videos/${videoId}`;

  /** Streams bytes from `offset` to an upload URL; the platform's answer, or a transient error after a lost connection. */
  async function pushBytes(
    run: PublishRun,
    source: UploadSource,
    url: string,
    headers: (token: string) => Record<string, string>,
    offset: number,
    user: boolean,
  ): Promise<HttpAnswer> {
    return run.authed(async (pageToken) => {
      const token = user ? await config.userToken() : pageToken;
      const answer = await sendBytes({
        method: 'POST',
        url,
        headers: { 'content-type': 'application/octet-stream', ...headers(token) },
        source,
        start: offset,
        end: source.size - 1,
        onProgress: (s, t) => run.progress(s, t),
        secrets: run.secrets(),
      }).catch((err) => {
        throw err instanceof ConnectionLost
          ? new PublishError(name, 'transient', `Facebook upload: ${err.message}`)
          : err;
      });
      if (
        answer.status === 401 ||
        (answer.status === 400 && (answer.body as { error?: { code?: number } })?.error?.code === 190)
      ) {
        throw graphError(name, answer, 'upload');
      }
      return answer;
    });
  }

  async function feedLike(
    run: PublishRun,
    what: string,
    path: string,
    params: Record<string, string | undefined>,
  ): Promise<void> {
    if (run.journal.postId) {
      // Killed after the id was stored but before the outcome was: it is published.
      const postId = String(run.journal.postId);
      await run.published(postId, `https://www.facebook.com/${postId}`);
      return;
    }
    if (run.journal.postSent && !run.journal.postId) {
      await run.unknown(`Facebook may have published the ${what}, but its answer was lost; ${UNKNOWN_CHECK}`);
      return;
    }
    await run.commit({ postSent: true });
    const body = await call(run, what, 'POST', `${graph}/${config.pageId}/${path}`, params, {
      idempotent: false,
    }).catch((err) => lostToUnknown(run, what, err));
    if (!body) return;
    const postId = String(body.post_id ?? body.id ?? '');
    await run.record({ postId });
    await run.published(postId, `https://www.facebook.com/${postId}`);
  }

  async function uploadVideo(run: PublishRun, source: UploadSource): Promise<void> {
    if (!run.journal.uploadSession) {
      const started = await call(
        run,
        'upload session',
        'POST',
        `${graph}/${config.appId}/uploads`,
        { file_name: 'video.mp4', file_length: String(source.size), file_type: source.mimeType },
        { idempotent: true, user: true, inQuery: true },
      );
      await run.record({ uploadSession: String(started.id), fileHandle: null });
    }
    const sessionUrl = `${graph}/${String(run.journal.uploadSession)}`;
    for (let attempt = 0; !run.journal.fileHandle; attempt++) {
      const asked = await run.retrying(
        () =>
          run.authed(async () => {
            const a = await run.send({
              what: 'upload offset',
              method: 'GET',
              url: sessionUrl,
              auth: 'oauth',
              token: await config.userToken(),
            });
            if (a.status !== 200) throw graphError(name, a, 'upload offset');
            return a.body as Record<string, unknown>;
          }),
        { idempotent: true },
      );
      const offset = Number(asked.file_offset ?? 0);
      try {
        const answer = await pushBytes(
          run,
          source,
          sessionUrl,
          (t) => ({ authorization: `OAuth ${t}`, file_offset: String(offset) }),
          offset,
          true,
        );
        if (answer.status !== 200) throw graphError(name, answer, 'video upload');
        const handle = (answer.body as { h?: unknown })?.h;
        // Without the handle the loop would send the whole file again and again.
        if (typeof handle !== 'string' || handle === '') {
          throw new PublishError(
            name,
            'transient',
            'Facebook took the video upload but answered without its file handle',
          );
        }
        await run.record({ fileHandle: handle });
      } catch (err) {
        if (!(err instanceof PublishError) || err.kind !== 'transient' || attempt >= 5) throw err;
        await run.sleep(Math.min(2 ** attempt * 250, 8000));
      }
    }
  }

  async function uploadReel(run: PublishRun, source: UploadSource): Promise<void> {
    let processingFailures = 0;
    for (let attempt = 0; !run.journal.uploaded; attempt++) {
      // Resume from what Facebook says it holds (bytes_transfered), never from our own count.
      const s = await status(run, String(run.journal.videoId), true);
      if (!s) return;
      const offset = Number(s.uploading_phase?.bytes_transfered ?? 0);
      if (offset >= source.size) {
        await run.record({ uploaded: true });
        break;
      }
      try {
        const answer = await pushBytes(
          run,
          source,
          String(run.journal.uploadUrl),
          (t) => ({ authorization: `OAuth ${t}`, offset: String(offset), file_size: String(source.size) }),
          offset,
          false,
        );
        const info = (answer.body as { debug_info?: { retriable?: boolean; type?: string; message?: string } })
          ?.debug_info;
        if (info) {
          const said = info.message ?? info.type;
          // 4.6: ProcessingFailedError is retried whatever `retriable` says, then the Reel starts
          // over from step 1 with a new session; a Reel without all its bytes publishes nothing.
          if (info.type === 'ProcessingFailedError' && ++processingFailures > REEL_UPLOAD_RETRIES) {
            await startReelAgain(run, `Facebook upload failed ${processingFailures} times (${said})`);
          }
          if (info.type === 'OffsetInvalidError' || info.type === 'ProcessingFailedError' || info.retriable)
            throw new PublishError(name, 'transient', `Facebook upload: ${said}`);
          throw new PublishError(name, 'rejected', `Facebook upload: ${said}`);
        }
        if (answer.status !== 200) throw graphError(name, answer, 'Reel upload');
        await run.record({ uploaded: true });
      } catch (err) {
        const restarting = processingFailures > REEL_UPLOAD_RETRIES;
        if (restarting || !(err instanceof PublishError) || err.kind !== 'transient' || attempt >= 5) throw err;
        await run.sleep(Math.min(2 ** attempt * 250, 8000));
      }
    }
  }

  /**
   * Ends this attempt so the next one starts the Reel from step 1 (4.6), at most twice per target:
   * each start counts against the Page's 30 Reels a day, so a Reel Facebook keeps failing ends in
   * words instead. Counted in the journal, which outlives attempts.
   */
  async function startReelAgain(run: PublishRun, why: string): Promise<never> {
    const restarts = Number(run.journal.reelRestarts ?? 0);
    if (restarts >= REEL_RESTARTS) {
      // The Reel failed or expired on Facebook: nothing of it can publish, so a retry starts anew.
      await run.uncommit();
      throw new PublishError(
        name,
        'rejected',
        `The Reel upload kept failing, in ${restarts + 1} upload sessions (last: ${why}); retry this target to try again`,
      );
    }
    await run.uncommit({
      reelRestarts: restarts + 1,
      videoId: null,
      uploadUrl: null,
      uploaded: false,
      finishSent: false,
    });
    throw new PublishError(name, 'transient', `${why}; the Reel is uploaded again in a new session`);
  }

  /**
   * Facebook's verdict that nothing of this video publishes (4.4, 4.6), which ends the commitment.
   * A Reel whose upload failed or expired ("retry upload", "re-upload") starts again from step 1
   * instead of failing the post; a Page video's (its bytes went through another API) fails in words.
   */
  async function endIfFailed(
    run: PublishRun,
    s: Record<string, Record<string, unknown>>,
    reel: boolean,
  ): Promise<void> {
    const video = String((s as unknown as { video_status?: string }).video_status ?? '');
    const publishing = s.publishing_phase ?? {};
    const processing = s.processing_phase ?? {};
    if (video === 'error' || processing.status === 'error') {
      const message = (processing.error as { message?: string } | undefined)?.message;
      await run.uncommit();
      throw new PublishError(name, 'rejected', `Facebook could not process the video${message ? `: ${message}` : ''}`);
    }
    if (video === 'expired' || video === 'upload_failed') {
      const what = video === 'expired' ? 'expired' : 'failed';
      if (reel) await startReelAgain(run, `Facebook says the Reel upload ${what}`);
      await run.uncommit();
      throw new PublishError(name, 'rejected', `Facebook says the upload ${what}; upload it again`);
    }
    // Processed is not published: after the finish call publishing goes on by itself (4.6).
    if (publishing.status === 'error' || publishing.publish_status === 'error') {
      await run.uncommit();
      throw new PublishError(name, 'rejected', 'Facebook processed the video but could not publish it');
    }
  }

  /** Whether a Reel's status shows a finish took: only a phase that says it began counts, a status without one proves nothing. */
  function finishTaken(s: Record<string, Record<string, unknown>>): boolean {
    const publishing = s.publishing_phase ?? {};
    const began = (phase: unknown) => typeof phase === 'string' && phase !== 'not_started';
    return (
      began(s.processing_phase?.status) ||
      began(publishing.status) ||
      ['published', 'scheduled'].includes(String(publishing.publish_status))
    );
  }

  /**
   * Whether an earlier finish, whose answer never said it was refused, took. Also true when the
   * status could not be read (the run then ends "outcome unknown"), so the caller sends nothing.
   */
  async function earlierFinishTook(run: PublishRun, videoId: string): Promise<boolean> {
    const s = await status(run, videoId, true);
    if (!s) return true;
    await endIfFailed(run, s, true);
    return finishTaken(s);
  }

  /** Waits until the video is done: a Page video when ready (4.4), a Reel when published (4.6). */
  async function waitProcessed(run: PublishRun, videoId: string, reel: boolean): Promise<void> {
    await run.poll('Facebook video processing', async () => {
      const s = await status(run, videoId, reel);
      if (!s) return true;
      await endIfFailed(run, s, reel);
      const video = String((s as unknown as { video_status?: string }).video_status ?? '');
      const publishing = s.publishing_phase ?? {};
      // A Page video is done when its video_status is ready (4.4), whatever its phases say.
      if (!reel && video === 'ready') return true;
      // The examples spell a finished phase `complete`, the field table `completed` (platform-apis.md 5).
      if (publishing.publish_status === 'published' || PHASE_DONE.has(String(publishing.status))) return true;
      // A status without a publishing phase says no more than that processing is done.
      if (video === 'ready' && s.publishing_phase === undefined) return true;
      return undefined;
    });
  }

  return {
    platform: name,
    steps(input) {
      return [
        {
          name: 'prepare',
          async run(run) {
            // A resumed run that may have published already only asks Facebook from here on: rules
            // changed since (a new release) must not turn that post into a refusal.
            const problems = committedToPlatform(run.journal) ? [] : facebookPreflight(input);
            if (problems.length)
              throw new PublishError(name, 'rejected', `Facebook would refuse this post: ${problems.join('; ')}`);
            if (input.kind === 'reel' && !run.journal.videoId) {
              // A started Reel without bytes publishes nothing; a lost start is simply started again.
              const started = await call(
                run,
                'Reel start',
                'POST',
                `${graph}/${config.pageId}/video_reels`,
                { upload_phase: 'start' },
                { idempotent: true },
              );
              await run.record({
                videoId: String(started.video_id),
                uploadUrl: String(started.upload_url),
                uploaded: false,
              });
            }
            // Committed, every photo is up already: a resumed run sends no link (its target may have none to give).
            if (input.kind === 'photos' && input.imageUrls.length > 1 && !committedToPlatform(run.journal)) {
              const ids: string[] = Array.isArray(run.journal.photoIds) ? [...run.journal.photoIds] : [];
              for (const url of input.imageUrls.slice(ids.length)) {
                // Unpublished photos appear nowhere: one lost to a dropped answer is harmless.
                const photo = await call(
                  run,
                  'photo upload',
                  'POST',
                  `${graph}/${config.pageId}/photos`,
                  { url, published: 'false' },
                  { idempotent: true },
                );
                ids.push(String(photo.id));
                await run.record({ photoIds: [...ids] });
              }
            }
          },
        },
        {
          name: 'upload',
          async run(run) {
            if (input.kind === 'video' && !run.journal.fileHandle && !run.journal.videoId)
              await uploadVideo(run, input.source);
            if (input.kind === 'reel' && !run.journal.uploaded) await uploadReel(run, input.source);
          },
        },
        {
          name: 'commit',
          async run(run) {
            if (input.kind === 'text')
              return feedLike(run, 'post', 'feed', { message: input.message, link: input.link });
            if (input.kind === 'photos' && input.imageUrls.length === 1) {
              return feedLike(run, 'photo', 'photos', { url: input.imageUrls[0], caption: input.message });
            }
            if (input.kind === 'photos') {
              const media = JSON.stringify((run.journal.photoIds as string[]).map((id) => ({ media_fbid: id })));
              return feedLike(run, 'photo post', 'feed', { message: input.message, attached_media: media });
            }
            if (input.kind === 'video') {
              if (run.journal.videoId) return;
              if (run.journal.postSent) {
                await run.unknown(`Facebook may have published the video, but its id was lost; ${UNKNOWN_CHECK}`);
                return;
              }
              await run.commit({ postSent: true });
              const body = await call(
                run,
                'video publish',
                'POST',
                `${config.graphVideoUrl}/${config.version}/${config.pageId}/videos`,
                {
                  title: input.title,
                  description: input.description,
                  fbuploader_video_file_chunk: String(run.journal.fileHandle),
                },
                { idempotent: false },
              ).catch((err) => lostToUnknown(run, 'video', err));
              if (body) await run.record({ videoId: String(body.id) });
              return;
            }
            const videoId = String(run.journal.videoId);
            for (let attempt = 0; attempt < 3; attempt++) {
              // A finish sent before without a refusal for answer (lost, or a 5xx): it may have taken.
              let inDoubt = run.journal.finishSent === true;
              if (inDoubt && (await earlierFinishTook(run, videoId))) return;
              await run.commit({ finishSent: true });
              const answered = await call(
                run,
                'Reel publish',
                'POST',
                `${graph}/${config.pageId}/video_reels`,
                {
                  upload_phase: 'finish',
                  video_id: videoId,
                  video_state: 'PUBLISHED',
                  description: input.description,
                  title: input.title,
                },
                {
                  idempotent: false,
                  inQuery: true,
                  answered: (status) => {
                    if (status >= 500) inDoubt = true;
                  },
                },
              )
                .then((body) => {
                  // A finish that took answers { "success": true } (4.6 step 4); `false` is Facebook
                  // saying it did not, a refusal like a 4xx, not a Reel to wait for.
                  if (body.success === false) {
                    throw new PublishError(
                      name,
                      'rejected',
                      'Facebook Reel publish: Facebook answered the finish with { "success": false }, so the Reel was not published',
                      { status: 200 },
                    );
                  }
                  return body;
                })
                .catch(async (err: unknown) => {
                  if (err instanceof PublishError && err.kind === 'lost') return null;
                  // A 5xx may come after Facebook acted on it: the retry asks the status first.
                  if (!(err instanceof PublishError) || (err.details.status ?? 0) >= 500) throw err;
                  // Refused: this finish published nothing, though one in doubt before it may have
                  // (the refusal may even be because it did).
                  if (inDoubt && (await earlierFinishTook(run, videoId))) return {};
                  // Facebook's word that this Reel does not publish: a retry starts afresh.
                  await run.uncommit({ finishSent: false });
                  throw err;
                });
              if (answered) return;
            }
            throw new PublishError(name, 'transient', 'Facebook never confirmed the Reel publish');
          },
        },
        {
          name: 'poll',
          async run(run) {
            const videoId = String(run.journal.videoId);
            await waitProcessed(run, videoId, input.kind === 'reel');
            if (run.result) return;
            await run.published(videoId, linkOf(videoId, input.kind === 'reel'));
          },
        },
      ];
    },
  };
}
