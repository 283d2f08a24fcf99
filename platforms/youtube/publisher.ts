import { youtubeTagsLength } from '../../domain/platform-text.js';
import { nextQuotaDayStart } from '../../domain/quotas.js';
import { googleError, type HttpAnswer, PublishError } from '../publish-errors.js';
import { committedToPlatform, type PlatformPublisher, type PublishRun, UNKNOWN_CHECK } from '../publishing.js';
import { ConnectionLost, sendBytes, type UploadSource } from '../upload-source.js';

/** YouTube Data API v3 resumable upload (platform-apis.md 2.2-2.6). */

export const YOUTUBE_CHUNK_QUANTUM = 256 * 1024;

export interface YouTubeInput {
  source: UploadSource;
  title: string;
  description?: string;
  tags?: string[];
  /** Default "22" (People & Blogs). */
  categoryId?: string;
  privacy?: 'public' | 'private' | 'unlisted';
  /** Scheduled publishing by YouTube's own clock: the video stays private until then. */
  publishAt?: Date;
  madeForKids?: boolean;
  containsSyntheticMedia?: boolean;
  notifySubscribers?: boolean;
  thumbnail?: UploadSource;
  /** Bytes per PUT, rounded down to a multiple of 256 KiB (default 8 MiB). */
  chunkSize?: number;
}

export interface YouTubePublisherConfig {
  apiUrl: string;
}

/** What YouTube would refuse (2.3), said before anything is sent. */
export function youtubePreflight(input: YouTubeInput): string[] {
  const problems: string[] = [];
  if (input.title.trim() === '' || [...input.title].length > 100) problems.push('title: 1 to 100 characters');
  if (/[<>]/.test(input.title)) problems.push('title: < and > are not allowed');
  const description = input.description ?? '';
  if (new TextEncoder().encode(description).length > 5000) problems.push('description: at most 5000 bytes');
  if (/[<>]/.test(description)) problems.push('description: < and > are not allowed');
  if (youtubeTagsLength(input.tags ?? []) > 500) problems.push('tags: at most 500 characters in total');
  if (input.publishAt && input.privacy && input.privacy !== 'private') {
    problems.push('publishAt: a scheduled video stays private until then; leave privacy unset or private');
  }
  return problems;
}

export function youtubePublisher(config: YouTubePublisherConfig): PlatformPublisher<YouTubeInput> {
  const quotaReset = () => nextQuotaDayStart(new Date());
  const fail = (answer: HttpAnswer, what: string) => googleError(answer, what, quotaReset());

  async function startSession(run: PublishRun, input: YouTubeInput): Promise<void> {
    const status: Record<string, unknown> = {
      privacyStatus: input.publishAt ? 'private' : (input.privacy ?? 'public'),
      selfDeclaredMadeForKids: input.madeForKids === true,
      ...(input.publishAt ? { publishAt: input.publishAt.toISOString() } : {}),
      ...(input.containsSyntheticMedia !== undefined ? { containsSyntheticMedia: input.containsSyntheticMedia } : {}),
    };
    const body = {
      snippet: {
        title: input.title,
        description: input.description ?? '',
        tags: input.tags ?? [],
        categoryId: input.categoryId ?? '22',
      },
      status,
    };
    // A session without bytes publishes nothing: starting another after a lost answer is safe.
    const location = await run.retrying(
      () =>
        run.authed(async (token) => {
          const answer = await run.send({
            what: 'upload session',
            method: 'POST',
            url: `${config.apiUrl}/upload/youtube/v3/videos`,
            query: {
              uploadType: 'resumable',
              // The parts of platform-apis.md 2.2's session request, word for word.
              part: 'snippet,status,contentDetails',
              ...(input.notifySubscribers === false ? { notifySubscribers: 'false' } : {}),
            },
            headers: {
              'x-upload-content-length': String(input.source.size),
              'x-upload-content-type': input.source.mimeType,
            },
            json: body,
            auth: 'bearer',
            token,
          });
          const where = answer.headers.get('location');
          if (answer.status !== 200 || !where) throw fail(answer, 'upload session');
          return where;
        }),
      { idempotent: true },
    );
    // A new session holds no byte, and the one it replaces expired with nothing published under it.
    await run.uncommit({ sessionUri: location, uploadedBytes: 0, videoId: null });
  }

  /** PUT of bytes [start, end] (or a status query when start > end); network loss is a ConnectionLost. */
  async function put(run: PublishRun, input: YouTubeInput, start: number, end: number): Promise<HttpAnswer> {
    const total = input.source.size;
    return run.authed(async (token) => {
      const answer = await sendBytes({
        method: 'PUT',
        url: String(run.journal.sessionUri),
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': input.source.mimeType,
          'content-range': start > end ? `bytes */${total}` : `bytes ${start}-${end}/${total}`,
        },
        source: input.source,
        start,
        end,
        onProgress: (sent, all) => run.progress(sent, all),
        secrets: run.secrets(),
      });
      if (answer.status === 401) throw fail(answer, 'upload');
      return answer;
    });
  }

  /** Where the session stands: bytes received, the finished video, or gone. */
  async function ask(run: PublishRun, input: YouTubeInput): Promise<HttpAnswer> {
    return run.retrying(
      async () => {
        const answer = await put(run, input, 1, 0).catch((err) => {
          if (err instanceof ConnectionLost)
            throw new PublishError('youtube', 'transient', `YouTube upload status: ${err.message}`);
          throw err;
        });
        if ([500, 502, 503, 504].includes(answer.status)) throw fail(answer, 'upload status');
        return answer;
      },
      { idempotent: true },
    );
  }

  /** `asked`: the answer is to a status query, not to bytes sent. */
  async function settle(
    run: PublishRun,
    answer: HttpAnswer,
    input: YouTubeInput,
    asked: boolean,
  ): Promise<'done' | 'more' | 'expired' | 'unknown'> {
    if (answer.status === 200 || answer.status === 201) {
      const id = (answer.body as { id?: unknown } | null)?.id;
      if (typeof id !== 'string')
        throw new PublishError('youtube', 'transient', 'YouTube finished the upload without a video id');
      await run.commit({ videoId: id, uploadedBytes: input.source.size });
      return 'done';
    }
    if (answer.status === 308) {
      // No Range header: nothing was received.
      const m = answer.headers.get('range')?.match(/bytes=0-(\d+)/);
      await run.record({ uploadedBytes: m ? Number(m[1]) + 1 : 0 });
      return 'more';
    }
    if (answer.status === 404) return 'expired';
    const err = fail(answer, 'upload');
    if (err.kind === 'rejected' && committedToPlatform(run.journal)) {
      // After the last bytes went out, a status query YouTube refuses says nothing of whether they
      // made a video (2.2 step 4.2: a finished upload answers 201): not a refusal of the video.
      if (asked) {
        await run.unknown(
          `YouTube may have the video, but the upload's status could not be read: ${err.message}; ${UNKNOWN_CHECK}`,
        );
        return 'unknown';
      }
      // Refused as an answer to the last bytes themselves (2.2 step 4, permanent): no video was made.
      await run.uncommit();
    }
    throw err;
  }

  async function upload(run: PublishRun, input: YouTubeInput): Promise<void> {
    const total = input.source.size;
    const chunk = Math.max(
      YOUTUBE_CHUNK_QUANTUM,
      Math.floor((input.chunkSize ?? 8 * 1024 * 1024) / YOUTUBE_CHUNK_QUANTUM) * YOUTUBE_CHUNK_QUANTUM,
    );
    let restarts = 0;
    let mustAsk = Boolean(run.journal.sessionUri) && run.journal.uploadStarted === true;
    if (!run.journal.sessionUri) await startSession(run, input);
    await run.record({ uploadStarted: true });
    let transient = 0;
    while (!run.journal.videoId) {
      let answer: HttpAnswer;
      const asked = mustAsk;
      if (mustAsk) {
        answer = await ask(run, input);
        mustAsk = false;
      } else {
        const start = Number(run.journal.uploadedBytes ?? 0);
        const end = Math.min(start + chunk, total) - 1;
        // The last byte makes the video (2.2 step 4): from here on it may exist even if no answer comes.
        if (end === total - 1 && !committedToPlatform(run.journal)) await run.commit();
        try {
          answer = await put(run, input, start, end);
        } catch (err) {
          if (!(err instanceof ConnectionLost)) throw err;
          // The server may have kept part of it: ask before sending anything again.
          if (++transient > 8) throw new PublishError('youtube', 'transient', `YouTube upload: ${err.message}`);
          await run.sleep(Math.min(2 ** transient * 250, 8000));
          mustAsk = true;
          continue;
        }
        if ([500, 502, 503, 504].includes(answer.status)) {
          if (++transient > 8) throw fail(answer, 'upload');
          await run.sleep(Math.min(2 ** transient * 250, 8000));
          mustAsk = true;
          continue;
        }
        if (answer.status === 429 || answer.status === 403) {
          // Any other 403 (quota, forbidden) is settled below like every refusal of bytes.
          const err = fail(answer, 'upload');
          if (err.kind === 'rate_limited') {
            await run.sleep(err.retryAfterMs ?? 60_000);
            mustAsk = true;
            continue;
          }
        }
      }
      const state = await settle(run, answer, input, asked);
      if (state === 'unknown') return;
      if (state === 'expired') {
        // 404: the session URI lived out its lifetime; nothing was published under it.
        if (++restarts > 2)
          throw new PublishError('youtube', 'session_expired', 'YouTube upload sessions keep expiring');
        await run.record({ sessionUri: null, uploadedBytes: 0 });
        await startSession(run, input);
      }
    }
  }

  return {
    platform: 'youtube',
    steps(input) {
      return [
        {
          name: 'prepare',
          async run(run) {
            // A resumed run that may have published already only asks YouTube from here on: rules
            // changed since (a new release) must not turn that video into a refusal.
            if (committedToPlatform(run.journal)) return;
            const problems = youtubePreflight(input);
            if (problems.length > 0)
              throw new PublishError('youtube', 'rejected', `YouTube would refuse this video: ${problems.join('; ')}`);
          },
        },
        {
          name: 'upload',
          async run(run) {
            if (!run.journal.videoId) await upload(run, input);
          },
        },
        {
          name: 'commit',
          async run(run) {
            if (!input.thumbnail || run.journal.thumbnail) return;
            const thumb = input.thumbnail;
            let outcome: string;
            try {
              const answer = await run.retrying(
                () =>
                  run.authed(async (token) => {
                    const a = await sendBytes({
                      method: 'POST',
                      url: `${config.apiUrl}/upload/youtube/v3/thumbnails/set?videoId=${encodeURIComponent(String(run.journal.videoId))}&uploadType=media`,
                      headers: { authorization: `Bearer ${token}`, 'content-type': thumb.mimeType },
                      source: thumb,
                      start: 0,
                      end: thumb.size - 1,
                      secrets: run.secrets(),
                    }).catch((err) => {
                      throw err instanceof ConnectionLost ? new PublishError('youtube', 'lost', err.message) : err;
                    });
                    if (a.status >= 400) {
                      const e = fail(a, 'thumbnail');
                      // uploadRateLimitExceeded is the 24-hour thumbnail limit (2.4): waiting minutes cannot lift it.
                      if (e.kind !== 'rejected' && e.details.code !== 'uploadRateLimitExceeded') throw e;
                    }
                    return a;
                  }),
                // Setting the same thumbnail twice changes nothing.
                { idempotent: true },
              );
              outcome = answer.status < 400 ? 'set' : fail(answer, 'thumbnail').message;
            } catch (err) {
              if (!(err instanceof PublishError)) throw err;
              outcome = err.message;
            }
            // The video is live by now: a thumbnail refused (unverified channel, bad image), out of
            // quota or of its 24-hour limit (2.4), or unreachable is a note on the published
            // video, never the post's failure or a wait for tomorrow's quota.
            await run.record({ thumbnail: outcome });
          },
        },
        {
          name: 'poll',
          async run(run) {
            const id = String(run.journal.videoId);
            const url = `https://www.youtube.com/watch?v=${id}`;
            const status = await run
              .poll('YouTube processing', () =>
                run.retrying(
                  () =>
                    run.authed(async (token) => {
                      const a = await run.send({
                        what: 'video status',
                        method: 'GET',
                        url: `${config.apiUrl}/youtube/v3/videos`,
                        query: { part: 'status,processingDetails', id },
                        auth: 'bearer',
                        token,
                      });
                      if (a.status !== 200) throw fail(a, 'video status');
                      const item = ((a.body as { items?: Record<string, unknown>[] })?.items ?? [])[0];
                      const s = (item?.status ?? {}) as Record<string, unknown>;
                      const p = (item?.processingDetails ?? {}) as Record<string, unknown>;
                      // Every end state of 2.3: processed, failed, rejected or deleted uploads, and
                      // processing that failed or was terminated.
                      if (['failed', 'rejected', 'deleted'].includes(String(s.uploadStatus))) return s;
                      if (p.processingStatus === 'failed' || p.processingStatus === 'terminated') {
                        return {
                          ...s,
                          processingStatus: p.processingStatus,
                          processingFailureReason: p.processingFailureReason,
                        };
                      }
                      if (s.uploadStatus === 'processed' || p.processingStatus === 'succeeded') return s;
                      return undefined;
                    }),
                  { idempotent: true },
                ),
              )
              .catch(async (err: unknown) => {
                // 2.6's "any other 4xx" is a refused read here, not a refused video: the video exists
                // (201 named it) and may be live, so a person looks instead of a retry uploading it again.
                if (!(err instanceof PublishError) || err.kind !== 'rejected') throw err;
                await run.unknown(
                  `YouTube has the video (${url}) but its status could not be read: ${err.message}; ${UNKNOWN_CHECK}`,
                );
                return null;
              });
            if (status === null) return;
            const dead =
              ['failed', 'rejected', 'deleted'].includes(String(status.uploadStatus)) ||
              status.processingStatus === 'failed' ||
              status.processingStatus === 'terminated';
            // YouTube's verdict: this video never plays, so a retry may upload it again.
            if (dead) await run.uncommit();
            if (status.uploadStatus === 'failed') {
              throw new PublishError(
                'youtube',
                'rejected',
                `YouTube could not process the video (${String(status.failureReason)})`,
              );
            }
            if (status.uploadStatus === 'rejected') {
              throw new PublishError(
                'youtube',
                'rejected',
                `YouTube rejected the video (${String(status.rejectionReason)})`,
              );
            }
            if (status.uploadStatus === 'deleted') {
              throw new PublishError('youtube', 'rejected', 'The video was deleted on YouTube before it was processed');
            }
            if (status.processingStatus === 'failed' || status.processingStatus === 'terminated') {
              const reason = status.processingFailureReason ?? status.processingStatus;
              throw new PublishError('youtube', 'rejected', `YouTube could not process the video (${String(reason)})`);
            }
            // 2.3: uploads from an unverified API project are kept private until it passes YouTube's audit.
            const keptPrivate = !input.publishAt && input.privacy !== 'private' && status.privacyStatus === 'private';
            const notes = [
              input.publishAt
                ? `private until ${input.publishAt.toISOString()}, when YouTube publishes it by its own clock`
                : '',
              keptPrivate
                ? `YouTube keeps this video private (asked: ${input.privacy ?? 'public'}); uploads from an API project YouTube has not audited stay private`
                : '',
              typeof run.journal.thumbnail === 'string' && run.journal.thumbnail !== 'set'
                ? `thumbnail not set: ${run.journal.thumbnail}`
                : '',
            ].filter((n) => n !== '');
            await run.published(id, url, notes.length ? notes.join('; ') : undefined);
          },
        },
      ];
    },
  };
}
