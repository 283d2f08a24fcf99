import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { aiDraftSchemaFor, draftFromCaption, draftSchemas } from '../ai/draft-schemas.js';
import { createOfflineGenerator } from '../ai/offline-generator.js';
import { type FacebookEmulator, startFacebookEmulator } from '../emulators/facebook.js';
import { type GoogleEmulator, startGoogleEmulator } from '../emulators/google.js';
import { type InstagramEmulator, startInstagramEmulator } from '../emulators/instagram.js';
import { callControl } from '../emulators/oauth-kit.js';
import { startTikTokEmulator, type TikTokEmulator } from '../emulators/tiktok.js';
import { type FacebookInput, facebookPublisher } from '../platforms/facebook/publisher.js';
import { type InstagramInput, instagramPreflight, instagramPublisher } from '../platforms/instagram/publisher.js';
import { parsePlatformJson } from '../platforms/platform-json.js';
import { PublishError } from '../platforms/publish-errors.js';
import { memoryJournal, type PublishContext, type PublishResult, publish } from '../platforms/publishing.js';
import { CreatorInfoCache, MIB, tiktokPublisher } from '../platforms/tiktok/publisher.js';
import { fileSource, type UploadSource } from '../platforms/upload-source.js';
import { youtubePreflight, youtubePublisher } from '../platforms/youtube/publisher.js';
import { titleFromCaption } from '../platforms/youtube/target.js';
import {
  context,
  emulatorClockPace,
  emulatorCredentials,
  fault,
  mediaBytes,
  mediaServer,
  published,
  removeVideoFiles,
  switches,
  videoFile,
  violations,
} from './helpers/publishing.js';

let tiktok: TikTokEmulator;
let video: { path: string; bytes: Buffer };

beforeAll(async () => {
  tiktok = await startTikTokEmulator();
  video = await videoFile(11 * MIB + 12_345);
});
afterAll(async () => {
  await tiktok?.stop();
  await removeVideoFiles();
});

describe('TikTok', () => {
  beforeEach(async () => {
    await callControl(tiktok.url, 'POST', 'reset');
  });
  const publisher = (audited = true) =>
    tiktokPublisher({ apiUrl: tiktok.url, audited, account: 'conn-1', cache: new CreatorInfoCache() });

  it('keeps status fetches for one creator under 30 a minute while several posts process at once', async () => {
    // Three videos for one creator, each "processing" for 15 status answers: 45 fetches. Without a
    // pacer shared by the publishes TikTok's per-token limit is broken; with it the calls past the
    // limit wait for the window (on the emulator's clock, moved forward instead of slept).
    await switches(tiktok.url, { processingPolls: 15 });
    const threeAtOnce = async (pace?: PublishContext['pace']) => {
      const { credentials } = await emulatorCredentials(tiktok.url);
      const source = await fileSource(video.path, 'video/mp4');
      const shared = publisher(true);
      return Promise.all(
        [1, 2, 3].map((n) =>
          publish(
            shared,
            { kind: 'video', mode: 'direct', source, caption: `post ${n}`, privacyLevel: 'SELF_ONLY' },
            context(memoryJournal(), credentials, pace ? { pace } : {}),
          ).catch((err: unknown) => err),
        ),
      );
    };
    await threeAtOnce();
    expect((await violations(tiktok.url)).map((v) => v.problem)).toContain(
      'more than 30 requests in a minute for one token',
    );

    await callControl(tiktok.url, 'POST', 'reset');
    await switches(tiktok.url, { processingPolls: 15 });
    const results = await threeAtOnce(
      emulatorClockPace(tiktok.kit, (path) => path.endsWith('/init/') || path.endsWith('/status/fetch/')),
    );
    expect(results.map((r) => (r as { status?: string }).status)).toEqual(['published', 'published', 'published']);
    expect(await violations(tiktok.url)).toEqual([]);
    expect(tiktok.kit.requests.filter((r) => r.path.endsWith('/status/fetch/')).length).toBeGreaterThanOrEqual(45);
  });

  const privateChunkedVideo = (source: UploadSource) => ({
    kind: 'video' as const,
    mode: 'direct' as const,
    source,
    privacyLevel: 'SELF_ONLY',
    chunkSize: 5 * MIB,
  });

  it('posts a video in 5 MiB chunks (the last one with the trailing bytes) and TikTok receives it byte for byte', async () => {
    const { credentials } = await emulatorCredentials(tiktok.url);
    const journal = memoryJournal();
    const progress: number[] = [];
    const source = await fileSource(video.path, 'video/mp4');
    const result = await publish(
      publisher(),
      {
        kind: 'video',
        mode: 'direct',
        source,
        caption: 'hello #emulator',
        privacyLevel: 'PUBLIC_TO_EVERYONE',
        chunkSize: 5 * MIB,
      },
      context(journal, credentials, { onProgress: (s) => progress.push(s) }),
    );
    expect(result.status).toBe('published');
    expect(result.status === 'published' && result.url).toMatch(
      /^https:\/\/www\.tiktok\.com\/@emulated\.creator\/video\/\d+$/,
    );
    const items = await published(tiktok.url);
    expect(items).toHaveLength(1);
    // The post id is an int64 in the status answer, 19 digits: kept exactly, not rounded by a double.
    expect(items[0]?.id).toMatch(/^\d{19}$/);
    expect(result.status === 'published' && result.postId).toBe(items[0]?.id);
    expect((await mediaBytes(tiktok.url, items[0]?.id as string)).equals(video.bytes)).toBe(true);
    const puts = tiktok.kit.requests.filter((r) => r.method === 'PUT');
    expect(puts).toHaveLength(2);
    expect(progress.at(-1)).toBe(video.bytes.length);
    expect(journal.state.publishId).toMatch(/^v_pub_file~v2\./);
    expect(await violations(tiktok.url)).toEqual([]);
  });

  it('resumes after a crash between chunks without a second init, and a dropped chunk is sent again', async () => {
    const { credentials } = await emulatorCredentials(tiktok.url);
    const journal = memoryJournal();
    const source = await fileSource(video.path, 'video/mp4');
    const input = privateChunkedVideo(source);
    // the first chunk arrives, its progress is never recorded (the worker died)
    journal.crashOn = (patch) => Number(patch.uploadedBytes) > 0;
    await expect(publish(publisher(), input, context(journal, credentials))).rejects.toThrow(/simulated crash/);
    expect(journal.state.uploadedBytes).toBe(0);
    await fault(tiktok.url, { kind: 'drop', on: 'upload' });
    const result = await publish(publisher(), input, context(journal, credentials));
    expect(result.status).toBe('published');
    const inits = tiktok.kit.requests.filter((r) => r.path.endsWith('/init/'));
    expect(inits).toHaveLength(1);
    const items = await published(tiktok.url);
    expect(items).toHaveLength(1);
    expect((await mediaBytes(tiktok.url, items[0]?.id as string)).equals(video.bytes)).toBe(true);
    expect(await violations(tiktok.url)).toEqual([]);
  });

  it('a chunk refused 416 without the progress header starts a new upload instead of failing, posted once', async () => {
    // platform-apis.md 1.7: 416 = wrong range, re-send the correct one; without Content-Range the
    // answer does not say which, and an upload that never completes cannot post.
    const { credentials } = await emulatorCredentials(tiktok.url);
    const source = await fileSource(video.path, 'video/mp4');
    const input = privateChunkedVideo(source);
    await fault(tiktok.url, { kind: 'answer', on: 'upload', status: 416 });
    const result = await publish(publisher(), input, context(memoryJournal(), credentials));
    expect(result.status).toBe('published');
    const inits = () => tiktok.kit.requests.filter((r) => r.path.endsWith('/init/'));
    expect(inits()).toHaveLength(2);
    const items = await published(tiktok.url);
    expect(items).toHaveLength(1);
    expect((await mediaBytes(tiktok.url, items[0]?.id as string)).equals(video.bytes)).toBe(true);
    expect(await violations(tiktok.url)).toEqual([]);
    // Refused in every session: three sessions, then the target fails in words (not sessions without end).
    await fault(
      tiktok.url,
      Array.from({ length: 3 }, () => ({ kind: 'answer', on: 'upload', status: 416 })),
    );
    const refused = await publish(publisher(), input, context(memoryJournal(), credentials)).catch((e: unknown) => e);
    expect(refused).toMatchObject({ kind: 'rejected', message: expect.stringMatching(/three upload sessions/) });
    expect(inits()).toHaveLength(5);
  });

  it('a resent last chunk refused (416 without Content-Range, or 403) asks TikTok what arrived, and posts once', async () => {
    // The last chunk landed and its 201 was lost; the resend is a wrong range. TikTok's status says
    // the upload is complete: a new init here would post the video a second time.
    const { credentials } = await emulatorCredentials(tiktok.url);
    const source = await fileSource(video.path, 'video/mp4');
    // The resend answered 416 without a range, or 403 because the upload_url's hour ended meanwhile.
    for (const lost of [{ loseLastChunkAnswer: true, rangeless416: true }, { loseLastChunkAnswer: 'expire' }]) {
      await callControl(tiktok.url, 'POST', 'reset');
      await switches(tiktok.url, lost);
      const result = await publish(publisher(), privateChunkedVideo(source), context(memoryJournal(), credentials));
      expect(result.status).toBe('published');
      expect(tiktok.kit.requests.filter((r) => r.path.endsWith('/init/'))).toHaveLength(1);
      expect(await published(tiktok.url)).toHaveLength(1);
      expect(await violations(tiktok.url)).toEqual([]);
    }
  });

  it('an unaudited app is told before publishing that only SELF_ONLY on a private account works', async () => {
    const { credentials } = await emulatorCredentials(tiktok.url);
    await switches(tiktok.url, { audited: false });
    const source = await fileSource(video.path, 'video/mp4');
    const err = await publish(
      publisher(false),
      { kind: 'video', mode: 'direct', source, privacyLevel: 'PUBLIC_TO_EVERYONE' },
      context(memoryJournal(), credentials),
    ).catch((e) => e);
    expect(err).toBeInstanceOf(PublishError);
    expect(err.kind).toBe('rejected');
    expect(err.message).toMatch(/not audited.*SELF_ONLY/);
    expect(tiktok.kit.requests.filter((r) => r.path.endsWith('/init/'))).toHaveLength(0);
    await switches(tiktok.url, { privateAccount: true });
    const ok = await publish(
      publisher(false),
      { kind: 'video', mode: 'direct', source, privacyLevel: 'SELF_ONLY' },
      context(memoryJournal(), credentials),
    );
    expect(ok.status).toBe('published');
    expect(await violations(tiktok.url)).toEqual([]);
  });

  it('a publish TikTok ends FAILED with a retryable reason is retried as a new post, once', async () => {
    // platform-apis.md 1.7: fail_reason `internal` is retried; the failed publish_id never posts.
    const { credentials } = await emulatorCredentials(tiktok.url);
    const source = await fileSource(video.path, 'video/mp4');
    const journal = memoryJournal();
    const input = { kind: 'video', mode: 'direct', source, privacyLevel: 'SELF_ONLY' } as const;
    await switches(tiktok.url, { failReason: 'internal' });
    const failed = await publish(publisher(), input, context(journal, credentials)).catch((err: unknown) => err);
    expect(failed).toBeInstanceOf(PublishError);
    expect((failed as PublishError).kind).toBe('transient');
    expect((failed as PublishError).message).toMatch(/\(internal\)/);
    await switches(tiktok.url, { failReason: null });
    // The next attempt (Temporal's retry) runs over the same journal.
    const retried = await publish(publisher(), input, context(journal, credentials));
    expect(retried.status).toBe('published');
    expect(tiktok.kit.requests.filter((r) => r.path === '/v2/post/publish/video/init/')).toHaveLength(2);
    expect(await published(tiktok.url)).toHaveLength(1);
    expect(await violations(tiktok.url)).toEqual([]);
  });

  it('token expiring mid-upload is refreshed once and the upload continues; 429 and 5xx bursts are waited out', async () => {
    const { credentials, state } = await emulatorCredentials(tiktok.url);
    // An inbox draft never asks creator_info (Direct Post's, 1.3): the 429 is the init's.
    await fault(tiktok.url, [
      { kind: 'rate_limit', on: 'init', retryAfterSeconds: 1 },
      { kind: 'server_error', on: 'upload' },
      { kind: 'server_error', on: 'upload' },
      { kind: 'token_expired', on: 'status' },
    ]);
    const waits: number[] = [];
    const source = await fileSource(video.path, 'video/mp4');
    const result = await publish(
      publisher(),
      { kind: 'video', mode: 'inbox', source, chunkSize: 5 * MIB },
      context(memoryJournal(), credentials, { sleep: async (ms) => void waits.push(ms) }),
    );
    expect(result.status).toBe('published');
    expect(result.status === 'published' && result.note).toMatch(/inbox/);
    expect(state.refreshes).toBe(1);
    expect(waits[0]).toBe(1000);
    const items = await published(tiktok.url);
    expect((await mediaBytes(tiktok.url, items[0]?.id as string)).equals(video.bytes)).toBe(true);
    expect(await violations(tiktok.url)).toEqual([]);
  });

  it('photos by pull; a pull whose publish_id never arrived ends as outcome unknown, never a second post', async () => {
    const { credentials } = await emulatorCredentials(tiktok.url);
    const images = { '/a.jpg': Buffer.from('ffd8ffe0aaaa', 'hex'), '/b.jpg': Buffer.from('ffd8ffe0bbbb', 'hex') };
    const media = await mediaServer(images);
    try {
      const input = {
        kind: 'photo' as const,
        mode: 'direct' as const,
        imageUrls: [`${media.url}/a.jpg`, `${media.url}/b.jpg`],
        title: 'two',
        privacyLevel: 'PUBLIC_TO_EVERYONE',
      };
      const ok = await publish(publisher(), input, context(memoryJournal(), credentials));
      expect(ok.status).toBe('published');
      const [item] = await published(tiktok.url);
      expect((await mediaBytes(tiktok.url, item?.id as string, 1)).equals(images['/b.jpg'])).toBe(true);
      await fault(tiktok.url, { kind: 'drop', on: 'init' });
      const journal = memoryJournal();
      const lost = await publish(publisher(), input, context(journal, credentials));
      expect(lost).toMatchObject({ status: 'unknown' });
      const again = await publish(publisher(), input, context(journal, credentials));
      expect(again).toMatchObject({ status: 'unknown' });
      expect(tiktok.kit.requests.filter((r) => r.path.endsWith('/content/init/'))).toHaveLength(2);
    } finally {
      await media.stop();
    }
  });
});

describe('YouTube', () => {
  let google: GoogleEmulator;
  beforeAll(async () => {
    google = await startGoogleEmulator();
  });
  afterAll(async () => {
    await google?.stop();
  });
  beforeEach(async () => {
    await callControl(google.url, 'POST', 'reset');
  });
  const publisher = () => youtubePublisher({ apiUrl: google.url });
  const thumbBytes = Buffer.concat([Buffer.from('ffd8ffe000104a464946', 'hex'), Buffer.alloc(2000, 7)]);
  const thumbnailFile = async () => {
    const dir = await mkdtemp(join(tmpdir(), 'thumb-'));
    await writeFile(join(dir, 't.jpg'), thumbBytes);
    return fileSource(join(dir, 't.jpg'), 'image/jpeg');
  };

  it('uploads in 256 KiB multiples, sets the thumbnail, schedules with publishAt as private; bytes match', async () => {
    const { credentials } = await emulatorCredentials(google.url);
    const publishAt = new Date(Date.now() + 3 * 86_400_000);
    const result = await publish(
      publisher(),
      {
        source: await fileSource(video.path, 'video/mp4'),
        title: 'Emulated upload',
        description: 'made by the tests',
        tags: ['cool', 'video clip'],
        categoryId: '22',
        publishAt,
        madeForKids: false,
        thumbnail: await thumbnailFile(),
        chunkSize: 3 * MIB,
      },
      context(memoryJournal(), credentials),
    );
    expect(result).toMatchObject({ status: 'published', url: expect.stringMatching(/watch\?v=/) });
    expect(result.status === 'published' && result.note).toMatch(/private until/);
    const session = google.kit.requests.find((r) => r.method === 'POST' && r.path === '/upload/youtube/v3/videos');
    expect(session?.query).toMatchObject({ uploadType: 'resumable', part: 'snippet,status,contentDetails' });
    const [item] = await published(google.url);
    expect(item?.params).toMatchObject({
      status: { privacyStatus: 'private', publishAt: publishAt.toISOString(), selfDeclaredMadeForKids: false },
      snippet: { tags: ['cool', 'video clip'], categoryId: '22' },
    });
    expect((await mediaBytes(google.url, item?.id as string)).equals(video.bytes)).toBe(true);
    expect((await mediaBytes(google.url, item?.id as string, 1)).equals(thumbBytes)).toBe(true);
    expect(google.kit.requests.filter((r) => r.method === 'PUT').length).toBe(4);
    expect(await violations(google.url)).toEqual([]);
  });

  it('an interrupted upload resumes from the range the session reports; an expired session starts anew', async () => {
    const { credentials } = await emulatorCredentials(google.url);
    const journal = memoryJournal();
    const input = { source: await fileSource(video.path, 'video/mp4'), title: 'Resumed', chunkSize: 4 * MIB };
    // the connection dies half way through the second chunk, then the worker dies before recording anything
    await fault(google.url, [{ kind: 'drop', on: 'upload' }]);
    journal.crashOn = (patch) => Number(patch.uploadedBytes) > 0;
    await expect(publish(publisher(), input, context(journal, credentials))).rejects.toThrow(/simulated crash/);
    expect(journal.state.sessionUri).toBeTruthy();
    const result = await publish(publisher(), input, context(journal, credentials));
    expect(result.status).toBe('published');
    const puts = google.kit.requests.filter((r) => r.method === 'PUT');
    expect(puts.length).toBeGreaterThanOrEqual(4);
    const [item] = await published(google.url);
    expect((await mediaBytes(google.url, item?.id as string)).equals(video.bytes)).toBe(true);
    expect(await violations(google.url)).toEqual([]);

    const second = memoryJournal();
    second.crashOn = (patch) => Number(patch.uploadedBytes) > 0;
    await expect(publish(publisher(), input, context(second, credentials))).rejects.toThrow(/simulated crash/);
    // the session URI outlived its lifetime while the worker was down: 404, a new session, no double video
    await switches(google.url, { sessionsExpired: true });
    const restarted = publish(publisher(), input, context(second, credentials));
    await expect(restarted).resolves.toMatchObject({ status: 'published' });
    expect(await published(google.url)).toHaveLength(2);
    expect(
      google.kit.requests.filter((r) => r.method === 'POST' && r.path === '/upload/youtube/v3/videos'),
    ).toHaveLength(3);
  });

  it('token expiring mid-upload refreshes once; 5xx bursts resume from the reported range', async () => {
    const { credentials, state } = await emulatorCredentials(google.url);
    await fault(google.url, [
      { kind: 'token_expired', on: 'upload' },
      { kind: 'server_error', on: 'upload' },
      { kind: 'server_error', on: 'upload' },
    ]);
    const input = { source: await fileSource(video.path, 'video/mp4'), title: 'Faults', chunkSize: 4 * MIB };
    expect((await publish(publisher(), input, context(memoryJournal(), credentials))).status).toBe('published');
    expect(state.refreshes).toBe(1);
    const [item] = await published(google.url);
    expect((await mediaBytes(google.url, item?.id as string)).equals(video.bytes)).toBe(true);
    expect(await violations(google.url)).toEqual([]);
  });

  it('a thumbnail refused for its 24-hour limit is not tried again; the video stays published, with a note', async () => {
    const { credentials } = await emulatorCredentials(google.url);
    // 2.4: 429 uploadRateLimitExceeded, too many thumbnails in 24 h. Each try costs about 50 units.
    const message = 'The user has exceeded the number of thumbnails they may set';
    await fault(google.url, {
      kind: 'answer',
      on: 'thumbnail',
      status: 429,
      body: {
        error: {
          code: 429,
          message,
          errors: [{ message, domain: 'youtube.thumbnail', reason: 'uploadRateLimitExceeded' }],
        },
      },
    });
    const result = await publish(
      publisher(),
      {
        source: await fileSource(video.path, 'video/mp4'),
        title: 'Thumbnail later',
        thumbnail: await thumbnailFile(),
        chunkSize: 8 * MIB,
      },
      context(memoryJournal(), credentials),
    );
    expect(result).toMatchObject({ status: 'published' });
    expect(result.status === 'published' && result.note).toMatch(/thumbnail not set/);
    expect(await published(google.url)).toHaveLength(1);
    expect(google.kit.requests.filter((r) => r.path.endsWith('/thumbnails/set'))).toHaveLength(1);
  });

  it('says so when YouTube keeps a video private that was meant to be public (an API project not yet audited)', async () => {
    const { credentials } = await emulatorCredentials(google.url);
    await switches(google.url, { unverifiedProject: true });
    const result = await publish(
      publisher(),
      { source: await fileSource(video.path, 'video/mp4'), title: 'Kept private', chunkSize: 8 * MIB },
      context(memoryJournal(), credentials),
    );
    expect(result).toMatchObject({ status: 'published', note: expect.stringMatching(/keeps this video private/) });
  });

  it('every end state of processing stops the wait in words: failed or terminated processing, a deleted upload', async () => {
    const { credentials } = await emulatorCredentials(google.url);
    const input = { source: await fileSource(video.path, 'video/mp4'), title: 'Ends', chunkSize: 8 * MIB };
    for (const [outcome, words] of [
      ['processingFailed', /could not process the video \(transcodeFailed\)/],
      ['terminated', /could not process the video \(terminated\)/],
      ['deleted', /deleted on YouTube/],
    ] as const) {
      await switches(google.url, { processingOutcome: outcome });
      const failure = await publish(publisher(), input, context(memoryJournal(), credentials)).catch((e: unknown) => e);
      expect(failure, outcome).toBeInstanceOf(PublishError);
      expect((failure as PublishError).kind).toBe('rejected');
      expect((failure as PublishError).message).toMatch(words);
    }
    // Each stopped at the first answer that said so, not at the poll limit.
    const lists = google.kit.requests.filter((r) => r.method === 'GET' && r.path === '/youtube/v3/videos');
    expect(lists.length).toBeLessThanOrEqual(6);
  });
});

describe('Instagram', () => {
  let instagram: InstagramEmulator;
  let media: Awaited<ReturnType<typeof mediaServer>>;
  const jpeg = (n: number) => Buffer.concat([Buffer.from('ffd8ffe000104a464946', 'hex'), Buffer.alloc(3000, n)]);
  const files: Record<string, Buffer> = { '/1.jpg': jpeg(1), '/2.jpg': jpeg(2), '/3.jpg': jpeg(3) };
  beforeAll(async () => {
    instagram = await startInstagramEmulator();
    files['/v.mp4'] = video.bytes;
    media = await mediaServer(files);
  });
  afterAll(async () => {
    await instagram?.stop();
    await media?.stop();
  });
  beforeEach(async () => {
    await callControl(instagram.url, 'POST', 'reset');
  });
  const publisher = (pollIntervalMs?: number) =>
    instagramPublisher({
      graphUrl: instagram.url,
      version: 'v26.0',
      login: 'instagram',
      ruploadUrl: instagram.url,
      igUserId: '17841400000000001',
      pollIntervalMs,
    });

  it('media_publish errors that a retry overcomes (3.6): wait for FINISHED, or a new container; posted once', async () => {
    const { credentials } = await emulatorCredentials(instagram.url);
    const graphAnswer = (code: number, subcode: number) => ({
      kind: 'answer',
      on: 'publish',
      status: 400,
      body: { error: { message: 'Fatal', type: 'OAuthException', code, error_subcode: subcode, is_transient: false } },
    });
    const containers = () => instagram.kit.requests.filter((r) => r.method === 'POST' && /\/media$/.test(r.path));
    const input: InstagramInput = { kind: 'image', imageUrl: `${media.url}/1.jpg`, caption: 'again' };
    // Each case: the error(s) media_publish answers first, then how many containers the post took.
    for (const [errors, expectedContainers] of [
      [[graphAnswer(9007, 2207027)], 1],
      [[graphAnswer(-2, 2207020)], 2],
      [[graphAnswer(24, 2207008), graphAnswer(24, 2207008), graphAnswer(24, 2207008)], 2],
    ] as const) {
      await callControl(instagram.url, 'POST', 'reset');
      await fault(instagram.url, errors);
      const journal = memoryJournal();
      let result: PublishResult | undefined;
      // Temporal's retries: each attempt runs over the same journal.
      for (let attempt = 0; attempt < 5 && !result; attempt++) {
        result = await publish(publisher(), input, context(journal, credentials)).catch((err: unknown) => {
          expect(err).toMatchObject({ kind: 'transient' });
          return undefined;
        });
      }
      expect(result, JSON.stringify(errors)).toMatchObject({ status: 'published' });
      expect(containers(), JSON.stringify(errors)).toHaveLength(expectedContainers);
      // 3.4 step 3: media_publish?creation_id=<container-id>, in the URL as the contract shows it.
      const publishes = instagram.kit.requests.filter((r) => r.path.endsWith('/media_publish'));
      expect(publishes.every((r) => typeof r.query.creation_id === 'string')).toBe(true);
      expect(await published(instagram.url)).toHaveLength(1);
      expect(await violations(instagram.url)).toEqual([]);
    }
  });

  it('publishes an image, a carousel with a video child, a Reel and a Story; bytes match', async () => {
    const { credentials } = await emulatorCredentials(instagram.url);
    const run = (input: InstagramInput) => publish(publisher(), input, context(memoryJournal(), credentials));
    expect(await run({ kind: 'image', imageUrl: `${media.url}/1.jpg`, caption: 'one #a' })).toMatchObject({
      status: 'published',
      url: expect.stringMatching(/instagram\.com\/p\//),
    });
    expect(
      await run({
        kind: 'carousel',
        items: [
          { type: 'image', url: `${media.url}/2.jpg` },
          { type: 'video', url: `${media.url}/v.mp4` },
          { type: 'image', url: `${media.url}/3.jpg` },
        ],
        caption: 'three',
      }),
    ).toMatchObject({ status: 'published' });
    expect(
      await run({ kind: 'reel', videoUrl: `${media.url}/v.mp4`, caption: 'reel', shareToFeed: true }),
    ).toMatchObject({ status: 'published', url: expect.stringMatching(/\/reel\//) });
    expect(await run({ kind: 'story', imageUrl: `${media.url}/3.jpg` })).toMatchObject({ status: 'published' });
    const items = await published(instagram.url);
    expect(items.map((i) => i.kind)).toEqual(['IMAGE', 'CAROUSEL', 'REELS', 'STORIES']);
    expect((await mediaBytes(instagram.url, items[1]?.id as string, 1)).equals(video.bytes)).toBe(true);
    expect((await mediaBytes(instagram.url, items[0]?.id as string)).equals(files['/1.jpg'] as Buffer)).toBe(true);
    expect(await violations(instagram.url)).toEqual([]);
  });

  it('checks a processing container once a minute, for at most five minutes an attempt (3.4)', async () => {
    const { credentials } = await emulatorCredentials(instagram.url);
    await switches(instagram.url, { processingPolls: 10 });
    const waits: number[] = [];
    const failure = await publish(
      publisher(60_000),
      { kind: 'reel', videoUrl: `${media.url}/v.mp4` },
      context(memoryJournal(), credentials, { sleep: async (ms) => void waits.push(ms) }),
    ).catch((e: unknown) => e);
    expect(failure).toMatchObject({ kind: 'transient', message: expect.stringMatching(/after 5 checks/) });
    expect(waits).toEqual([60_000, 60_000, 60_000, 60_000, 60_000]);
    const checks = instagram.kit.requests.filter((r) => r.method === 'GET' && /\/v26\.0\/\d+$/.test(r.path));
    expect(checks).toHaveLength(5);
    expect(await published(instagram.url)).toEqual([]);
  });

  it('a container stuck IN_PROGRESS then ERROR ends rejected with Instagram’s words, nothing published', async () => {
    const { credentials } = await emulatorCredentials(instagram.url);
    // A subcode 3.6 marks "no": a new container could not help.
    await switches(instagram.url, {
      containerFailsAfterPolls: 3,
      containerErrorText: 'Error: The video format is not supported (2207026)',
    });
    const err = await publish(
      publisher(),
      { kind: 'reel', videoUrl: `${media.url}/v.mp4` },
      context(memoryJournal(), credentials),
    ).catch((e) => e);
    expect(err).toBeInstanceOf(PublishError);
    expect(err.kind).toBe('rejected');
    expect(err.message).toMatch(/the video format is not supported .*\(2207026\)/);
    expect(await published(instagram.url)).toHaveLength(0);
    expect(await violations(instagram.url)).toEqual([]);
  });

  it('a lost media_publish answer is asked of the container, never published twice; the limit is read first', async () => {
    const { credentials } = await emulatorCredentials(instagram.url);
    await fault(instagram.url, { kind: 'drop', on: 'publish' });
    const journal = memoryJournal();
    const first = await publish(
      publisher(),
      { kind: 'image', imageUrl: `${media.url}/1.jpg` },
      context(journal, credentials),
    );
    expect(first).toMatchObject({ status: 'published', postId: null });
    expect(await published(instagram.url)).toHaveLength(1);
    await switches(instagram.url, { quotaTotal: 2 });
    expect(
      (
        await publish(
          publisher(),
          { kind: 'image', imageUrl: `${media.url}/2.jpg` },
          context(memoryJournal(), credentials),
        )
      ).status,
    ).toBe('published');
    const err = await publish(
      publisher(),
      { kind: 'image', imageUrl: `${media.url}/3.jpg` },
      context(memoryJournal(), credentials),
    ).catch((e) => e);
    expect(err.kind).toBe('quota');
    expect(err.message).toMatch(/2 of 2/);
    expect(await published(instagram.url)).toHaveLength(2);
    expect(await violations(instagram.url)).toEqual([]);
    // A server that names the limit rate_limit_settings (3.4's sample request) is read as well.
    await switches(instagram.url, { limitField: 'rate_limit_settings' });
    const other = await publish(
      publisher(),
      { kind: 'image', imageUrl: `${media.url}/3.jpg` },
      context(memoryJournal(), credentials),
    ).catch((e) => e);
    expect(other).toMatchObject({ kind: 'quota', message: expect.stringMatching(/2 of 2/) });
    expect(await published(instagram.url)).toHaveLength(2);
  });
});

describe('Facebook', () => {
  let facebook: FacebookEmulator;
  let media: Awaited<ReturnType<typeof mediaServer>>;
  const jpeg = (n: number) => Buffer.concat([Buffer.from('ffd8ffe000104a464946', 'hex'), Buffer.alloc(4000, n)]);
  const files = { '/1.jpg': jpeg(1), '/2.jpg': jpeg(2) };
  beforeAll(async () => {
    facebook = await startFacebookEmulator();
    media = await mediaServer(files);
  });
  afterAll(async () => {
    await facebook?.stop();
    await media?.stop();
  });
  beforeEach(async () => {
    await callControl(facebook.url, 'POST', 'reset');
  });
  async function setup() {
    const { credentials, state } = await emulatorCredentials(facebook.url, { kind: 'page' });
    const user = await emulatorCredentials(facebook.url, { kind: 'user' });
    const publisher = facebookPublisher({
      graphUrl: facebook.url,
      graphVideoUrl: facebook.url,
      version: 'v26.0',
      pageId: '1000000000001',
      appId: '2000000000002',
      userToken: () => user.credentials.accessToken(),
    });
    return { credentials, state, publisher };
  }

  it('a post that never reached Facebook (connection refused) is retried, never "outcome unknown"', async () => {
    const { credentials } = await setup();
    // A port that was free a moment ago: nothing listens there.
    const closed = await mediaServer({});
    await closed.stop();
    const unreachable = facebookPublisher({
      graphUrl: closed.url,
      graphVideoUrl: closed.url,
      version: 'v26.0',
      pageId: '1000000000001',
      appId: '2000000000002',
      userToken: async () => 'unused',
    });
    const journal = memoryJournal();
    const failure = await publish(
      unreachable,
      { kind: 'text', message: 'hello' },
      context(journal, credentials, { attempts: 2 }),
    ).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(PublishError);
    expect((failure as PublishError).kind).toBe('transient');
    expect(journal.state.outcome).toBeUndefined();
  });

  it('publishes text, one photo, several photos via attached_media, a video by file handle and a Reel; bytes match', async () => {
    const { credentials, publisher } = await setup();
    const run = (input: FacebookInput) => publish(publisher, input, context(memoryJournal(), credentials));
    expect(await run({ kind: 'text', message: 'hello', link: 'https://example.com/' })).toMatchObject({
      status: 'published',
      url: expect.stringMatching(/facebook\.com\/1000000000001_/),
    });
    expect(await run({ kind: 'photos', imageUrls: [`${media.url}/1.jpg`], message: 'one' })).toMatchObject({
      status: 'published',
    });
    expect(
      await run({ kind: 'photos', imageUrls: [`${media.url}/1.jpg`, `${media.url}/2.jpg`], message: 'two' }),
    ).toMatchObject({ status: 'published' });
    const source = await fileSource(video.path, 'video/mp4');
    expect(await run({ kind: 'video', source, title: 'video' })).toMatchObject({ status: 'published' });
    expect(await run({ kind: 'reel', source, description: 'reel' })).toMatchObject({
      status: 'published',
      url: expect.stringMatching(/\/reel\//),
    });
    const items = await published(facebook.url);
    expect(items.map((i) => i.kind)).toEqual(['feed', 'photo', 'feed', 'video', 'reel']);
    expect((await mediaBytes(facebook.url, items[2]?.id as string, 1)).equals(files['/2.jpg'])).toBe(true);
    expect((await mediaBytes(facebook.url, items[3]?.id as string)).equals(video.bytes)).toBe(true);
    expect((await mediaBytes(facebook.url, items[4]?.id as string)).equals(video.bytes)).toBe(true);
    expect(await violations(facebook.url)).toEqual([]);
  });

  it('a video upload answered without its file handle is tried a few times, then fails in words instead of looping', async () => {
    const { credentials, publisher } = await setup();
    await switches(facebook.url, { uploadAnswersWithoutHandle: true });
    const source = await fileSource(video.path, 'video/mp4');
    const failure = await publish(
      publisher,
      { kind: 'video', source, title: 'v' },
      context(memoryJournal(), credentials),
    ).catch((e: unknown) => e);
    expect(failure).toMatchObject({ kind: 'transient', message: expect.stringMatching(/without its file handle/) });
    expect(await published(facebook.url)).toEqual([]);
  });

  it("a Reel whose status follows the field table's spelling (completed, no publish_status) is published", async () => {
    // platform-apis.md section 5: the examples say `complete`, the field table `completed`.
    const { credentials, publisher } = await setup();
    await switches(facebook.url, { fieldTableStatus: true });
    const source = await fileSource(video.path, 'video/mp4');
    const result = await publish(
      publisher,
      { kind: 'reel', source, description: 'spelled the other way' },
      context(memoryJournal(), credentials, { maxPolls: 5 }),
    );
    expect(result).toMatchObject({ status: 'published', url: expect.stringMatching(/\/reel\//) });
    expect(await published(facebook.url)).toHaveLength(1);
    // 4.6 step 4: the finish's parameters in the URL, as the contract shows them.
    const finish = facebook.kit.requests.find((r) => r.path.endsWith('/video_reels') && r.query.upload_phase);
    expect(finish?.query).toMatchObject({ upload_phase: 'finish', video_state: 'PUBLISHED' });
  });

  it('a Reel whose upload failed or expired after the finish is uploaded again from the start, posted once', async () => {
    // platform-apis.md 4.6: upload_failed "retry upload", expired "re-upload"; neither was published.
    const { credentials, publisher } = await setup();
    const source = await fileSource(video.path, 'video/mp4');
    for (const status of ['upload_failed', 'expired']) {
      await callControl(facebook.url, 'POST', 'reset');
      await switches(facebook.url, { reelFails: status });
      const journal = memoryJournal();
      const input: FacebookInput = { kind: 'reel', source, description: status };
      const first = await publish(publisher, input, context(journal, credentials)).catch((e: unknown) => e);
      expect(first, status).toMatchObject({ kind: 'transient' });
      expect(await publish(publisher, input, context(journal, credentials))).toMatchObject({ status: 'published' });
      // Two Reels were finished: the failed one, then the one uploaded again.
      const finished = facebook.kit.requests
        .filter((r) => r.query.upload_phase === 'finish')
        .map((r) => r.query.video_id);
      expect(new Set(finished).size, status).toBe(2);
      expect(await published(facebook.url)).toHaveLength(1);
      expect(await violations(facebook.url)).toEqual([]);
    }
  });

  it('a Reel upload answered ProcessingFailedError (even "not retriable") is retried, then uploaded in a new session', async () => {
    // platform-apis.md 4.6: ProcessingFailedError "retry; else start a new session".
    const { credentials, publisher } = await setup();
    const source = await fileSource(video.path, 'video/mp4');
    const processingFailed = {
      kind: 'answer',
      on: 'upload_reel',
      status: 400,
      body: { debug_info: { retriable: false, type: 'ProcessingFailedError', message: 'upload failed' } },
    };
    for (const [failures, sessions] of [
      [2, 1],
      [3, 2],
    ] as const) {
      await callControl(facebook.url, 'POST', 'reset');
      await fault(
        facebook.url,
        Array.from({ length: failures }, () => processingFailed),
      );
      const journal = memoryJournal();
      const input: FacebookInput = { kind: 'reel', source, description: `${failures} failures` };
      let result = await publish(publisher, input, context(journal, credentials)).catch((e: unknown) => e);
      if (sessions > 1) {
        expect(result).toMatchObject({ kind: 'transient', message: expect.stringMatching(/new session/) });
        result = await publish(publisher, input, context(journal, credentials));
      }
      expect(result).toMatchObject({ status: 'published' });
      const uploads = facebook.kit.requests.filter((r) => /\/video-upload\//.test(r.path));
      const videos = new Set(uploads.map((r) => r.path.split('/').at(-1)));
      expect(videos.size, `${failures} failures`).toBe(sessions);
      expect(uploads).toHaveLength(failures + 1);
      const items = await published(facebook.url);
      expect(items).toHaveLength(1);
      expect((await mediaBytes(facebook.url, items[0]?.id as string)).equals(video.bytes)).toBe(true);
      expect(await violations(facebook.url)).toEqual([]);
    }
    // A Reel Facebook keeps failing: three sessions, then the target fails in words (each start
    // counts against the Page's 30 Reels a day), not a new session on every attempt.
    await callControl(facebook.url, 'POST', 'reset');
    await fault(
      facebook.url,
      Array.from({ length: 9 }, () => processingFailed),
    );
    const journal = memoryJournal();
    const input: FacebookInput = { kind: 'reel', source, description: 'keeps failing' };
    const outcomes: unknown[] = [];
    for (let attempt = 0; attempt < 3; attempt++)
      outcomes.push(await publish(publisher, input, context(journal, credentials)).catch((e: unknown) => e));
    expect(outcomes).toMatchObject([{ kind: 'transient' }, { kind: 'transient' }, { kind: 'rejected' }]);
    expect((outcomes[2] as Error).message).toMatch(/in 3 upload sessions/);
    expect(await published(facebook.url)).toEqual([]);
  });

  it('a Page video is done when its status says ready, even while its publishing phase reads in progress (4.4)', async () => {
    const { credentials, publisher } = await setup();
    await switches(facebook.url, { videoReadyBeforePublishing: true });
    const source = await fileSource(video.path, 'video/mp4');
    const result = await publish(
      publisher,
      { kind: 'video', source, title: 'ready is done' },
      context(memoryJournal(), credentials, { maxPolls: 5 }),
    );
    expect(result).toMatchObject({ status: 'published' });
    expect(await published(facebook.url)).toHaveLength(1);
    expect(await violations(facebook.url)).toEqual([]);
  });

  it('a Reel processed but not published (publishing_phase error) ends rejected, not published', async () => {
    const { credentials, publisher } = await setup();
    await switches(facebook.url, { publishingFails: true });
    const source = await fileSource(video.path, 'video/mp4');
    const failure = await publish(publisher, { kind: 'reel', source }, context(memoryJournal(), credentials)).catch(
      (e: unknown) => e,
    );
    expect(failure).toBeInstanceOf(PublishError);
    expect(failure).toMatchObject({ kind: 'rejected', message: expect.stringMatching(/could not publish it/) });
  });

  it('a Reel upload dropped mid-way resumes from bytes_transfered; a lost finish is asked about, not repeated', async () => {
    const { credentials, publisher } = await setup();
    await fault(facebook.url, [
      { kind: 'drop', on: 'upload_reel' },
      { kind: 'drop', on: 'reels' },
      { kind: 'drop', on: 'reels' },
    ]);
    const journal = memoryJournal();
    const source = await fileSource(video.path, 'video/mp4');
    // the start's answer is lost (harmless), then the upload connection dies half way
    const result = await publish(publisher, { kind: 'reel', source }, context(journal, credentials));
    expect(result.status).toBe('published');
    const items = await published(facebook.url);
    expect(items).toHaveLength(1);
    expect((await mediaBytes(facebook.url, items[0]?.id as string)).equals(video.bytes)).toBe(true);
    expect(await violations(facebook.url)).toEqual([]);
  });

  it('a feed post whose answer was lost ends "outcome unknown", and a resumed run does not post again', async () => {
    const { credentials, publisher } = await setup();
    await fault(facebook.url, { kind: 'drop', on: 'feed' });
    const journal = memoryJournal();
    const first = await publish(publisher, { kind: 'text', message: 'once' }, context(journal, credentials));
    expect(first).toMatchObject({ status: 'unknown', reason: expect.stringMatching(/check the account/) });
    const crashJournal = memoryJournal();
    crashJournal.crashOn = 'postId';
    await expect(
      publish(publisher, { kind: 'text', message: 'twice?' }, context(crashJournal, credentials)),
    ).rejects.toThrow(/simulated crash/);
    expect(
      await publish(publisher, { kind: 'text', message: 'twice?' }, context(crashJournal, credentials)),
    ).toMatchObject({ status: 'unknown' });
    expect(facebook.kit.requests.filter((r) => r.path.endsWith('/feed'))).toHaveLength(2);
    expect(await published(facebook.url)).toHaveLength(2);
  });

  it('an expired Page token is refreshed once then needs_reconnect; a Page rate limit waits for the usage header', async () => {
    const { credentials, state, publisher } = await setup();
    await fault(facebook.url, [{ kind: 'rate_limit', on: 'feed', retryAfterSeconds: 120 }]);
    const waits: number[] = [];
    const ok = await publish(
      publisher,
      { kind: 'text', message: 'throttled' },
      context(memoryJournal(), credentials, { sleep: async (ms) => void waits.push(ms) }),
    );
    expect(ok.status).toBe('published');
    expect(waits).toEqual([120_000]);
    await fault(facebook.url, { kind: 'token_expired', on: 'feed' });
    expect(
      (await publish(publisher, { kind: 'text', message: 'refreshed' }, context(memoryJournal(), credentials))).status,
    ).toBe('published');
    expect(state.refreshes).toBe(1);
    const dead = { accessToken: async () => 'EAAPexpired', refresh: async () => 'EAAPstill-expired' };
    const err = await publish(publisher, { kind: 'text', message: 'x' }, context(memoryJournal(), dead)).catch(
      (e) => e,
    );
    expect(err).toBeInstanceOf(PublishError);
    expect(err.kind).toBe('needs_reconnect');
    expect(err.message).toMatch(/connected again/);
    expect(await published(facebook.url)).toHaveLength(2);
  });

  it('Instagram with Facebook Login uploads a Reel by rupload; bytes match', async () => {
    const { credentials } = await emulatorCredentials(facebook.url, { kind: 'page' });
    const ig = instagramPublisher({
      graphUrl: facebook.url,
      version: 'v26.0',
      login: 'facebook',
      ruploadUrl: facebook.url,
      igUserId: '17841400000000002',
    });
    const result = await publish(
      ig,
      { kind: 'reel', source: await fileSource(video.path, 'video/mp4'), caption: 'fb login' },
      context(memoryJournal(), credentials),
    );
    expect(result.status).toBe('published');
    const [item] = await published(facebook.url);
    expect((await mediaBytes(facebook.url, item?.id as string)).equals(video.bytes)).toBe(true);
    expect(await violations(facebook.url)).toEqual([]);
  });
});

describe('a kill at every journal write, then a resumed run: each post exactly once (or "outcome unknown"), never twice', () => {
  let tt: TikTokEmulator;
  let gg: GoogleEmulator;
  let ig: InstagramEmulator;
  let fb: FacebookEmulator;
  let small: { path: string; bytes: Buffer };
  let media: Awaited<ReturnType<typeof mediaServer>>;
  const jpeg = Buffer.concat([Buffer.from('ffd8ffe000104a464946', 'hex'), Buffer.alloc(2000, 9)]);
  beforeAll(async () => {
    [tt, gg, ig, fb] = await Promise.all([
      startTikTokEmulator(),
      startGoogleEmulator(),
      startInstagramEmulator(),
      startFacebookEmulator(),
    ]);
    small = await videoFile(700_000);
    media = await mediaServer({ '/i.jpg': jpeg });
  });
  afterAll(async () => {
    await Promise.all([tt, gg, ig, fb].map((e) => e?.stop()));
    await media?.stop();
  });

  async function drill(
    base: string,
    tokenKind: Record<string, unknown>,
    run: (ctx: ReturnType<typeof context>) => Promise<PublishResult>,
  ) {
    const seen: string[] = [];
    for (let k = 1; ; k++) {
      await callControl(base, 'POST', 'reset');
      const { credentials } = await emulatorCredentials(base, tokenKind);
      const journal = memoryJournal();
      let writes = 0;
      journal.crashOn = () => ++writes === k;
      const first = await run(context(journal, credentials)).then(
        (r) => r,
        (err: Error) => {
          if (!/simulated crash/.test(err.message)) throw err;
          return null;
        },
      );
      const result = first ?? (await run(context(journal, credentials)));
      const items = await published(base);
      if (result.status === 'published') expect(items, `kill at write ${k}`).toHaveLength(1);
      else expect(items.length, `kill at write ${k}`).toBeLessThanOrEqual(1);
      expect(await violations(base), `kill at write ${k}`).toEqual([]);
      seen.push(result.status);
      if (first) return seen; // k went past the last write: nothing was killed
    }
  }

  it('TikTok video', async () => {
    const seen = await drill(tt.url, {}, async (ctx) =>
      publish(
        tiktokPublisher({
          apiUrl: tt.url,
          audited: true,
          account: 'a',
          cache: new CreatorInfoCache(),
        }),
        { kind: 'video', mode: 'direct', source: await fileSource(small.path, 'video/mp4'), privacyLevel: 'SELF_ONLY' },
        ctx,
      ),
    );
    expect(seen.length).toBeGreaterThan(3);
    expect(seen.every((s) => s === 'published')).toBe(true);
  });

  it('YouTube video', async () => {
    const seen = await drill(gg.url, {}, async (ctx) =>
      publish(
        youtubePublisher({ apiUrl: gg.url }),
        { source: await fileSource(small.path, 'video/mp4'), title: 'drill', chunkSize: 256 * 1024 },
        ctx,
      ),
    );
    expect(seen.every((s) => s === 'published')).toBe(true);
  });

  it('Instagram image and carousel', async () => {
    const igp = () =>
      instagramPublisher({
        graphUrl: ig.url,
        version: 'v26.0',
        login: 'instagram',
        ruploadUrl: ig.url,
        igUserId: '1784',
      });
    const seen = await drill(ig.url, {}, (ctx) =>
      publish(igp(), { kind: 'image', imageUrl: `${media.url}/i.jpg` }, ctx),
    );
    expect(seen.every((s) => s === 'published')).toBe(true);
    const item = { type: 'image' as const, url: `${media.url}/i.jpg` };
    const carousel = await drill(ig.url, {}, (ctx) =>
      publish(igp(), { kind: 'carousel', items: [item, item, item] }, ctx),
    );
    expect(carousel.length).toBeGreaterThan(5);
    expect(carousel.every((s) => s === 'published')).toBe(true);
  });

  it('Facebook feed post and Reel', async () => {
    const user = async () =>
      ((await callControl(fb.url, 'POST', 'publishing/token', { kind: 'user' })) as { token: string }).token;
    const config = {
      graphUrl: fb.url,
      graphVideoUrl: fb.url,
      version: 'v26.0',
      pageId: '1000000000001',
      appId: '2',
      userToken: user,
    };
    const feed = await drill(fb.url, { kind: 'page' }, (ctx) =>
      publish(facebookPublisher(config), { kind: 'text', message: 'drill' }, ctx),
    );
    // A kill after the post left but before its id was stored cannot be asked about: unknown, not a second post.
    expect(feed).toContain('unknown');
    const photos = await drill(fb.url, { kind: 'page' }, (ctx) =>
      publish(
        facebookPublisher(config),
        { kind: 'photos', imageUrls: [`${media.url}/i.jpg`, `${media.url}/i.jpg`] },
        ctx,
      ),
    );
    expect(photos).toContain('published');
    const reel = await drill(fb.url, { kind: 'page' }, async (ctx) =>
      publish(facebookPublisher(config), { kind: 'reel', source: await fileSource(small.path, 'video/mp4') }, ctx),
    );
    expect(reel.every((s) => s === 'published')).toBe(true);
  });
});

describe('YouTube titles', () => {
  it("take the caption's first line up to 100 characters, never half an emoji", () => {
    expect(titleFromCaption(`${'a'.repeat(98)}🎉🎉\nrest`)).toBe(`${'a'.repeat(98)}🎉`);
    expect(titleFromCaption(`${'a'.repeat(99)}🎉`)).toBe('a'.repeat(99));
    // A flag (4 UTF-16 units) or a family emoji (8) is kept whole or left out, within the 100
    // units the draft schema counts (and so the 100 code points YouTube's preflight counts).
    expect(titleFromCaption(`${'a'.repeat(96)}🇩🇪🇩🇪`)).toBe(`${'a'.repeat(96)}🇩🇪`);
    expect(titleFromCaption(`${'a'.repeat(97)}🇩🇪`)).toBe('a'.repeat(97));
    expect(titleFromCaption(`${'a'.repeat(92)}👨‍👩‍👧x`)).toBe(`${'a'.repeat(92)}👨‍👩‍👧`);
    expect(titleFromCaption(`${'a'.repeat(93)}👨‍👩‍👧`)).toBe('a'.repeat(93));
    // Styled letters are two units each: a first line of them still fits the draft schema.
    const bold = '𝐁'.repeat(80);
    expect(titleFromCaption(bold)).toBe('𝐁'.repeat(50));
    // One letter under 150 combining marks is cut between code points, not to nothing.
    expect(titleFromCaption(`a${'\u0301'.repeat(150)}`)).toHaveLength(100);
    expect(titleFromCaption('')).toBe('');
    // A hand-written caption's YouTube draft passes the draft schema with such a first line.
    expect(draftSchemas.youtube.safeParse(draftFromCaption('youtube', `${bold}\nmore`)).success).toBe(true);
    expect(titleFromCaption('Short\nand more')).toBe('Short');
  });
});

describe('platform answers', () => {
  it('keep int64 ids exactly (as digits) and leave strings, small numbers and fractions as they are', () => {
    const text =
      '{"ids":[7234567890123456789, 12],"user_id":17841400008460056,"s":"a \\" 12345678901234567890 ,","f":12345678901234567.5,"n":-9234567890123456789}';
    expect(parsePlatformJson(text)).toEqual({
      ids: ['7234567890123456789', 12],
      user_id: '17841400008460056',
      s: 'a " 12345678901234567890 ,',
      f: 12345678901234568,
      n: '-9234567890123456789',
    });
    expect(parsePlatformJson('[9007199254740991, 9007199254740993]')).toEqual([9007199254740991, '9007199254740993']);
    // Long fractions and exponents are numbers, not ids.
    expect(parsePlatformJson('{"p":0.30000000000000004,"q":-0.12345678901234567,"e":1e-12345678901234567}')).toEqual({
      p: 0.30000000000000004,
      q: -0.12345678901234566,
      e: 0,
    });
  });
});

describe("drafts a reviewer approves pass the publishers' own checks", () => {
  it('takes YouTube tags of 500 characters in all, as 2.3 counts them, and refuses 501', () => {
    // Ten tags of 50: 500 characters, with no separators counted (2.3 names none).
    const tags = Array.from({ length: 10 }, (_, i) => `${'y'.repeat(48)}${String(i).padStart(2, '0')}`);
    const youtube = { title: 'A title', description: 'Words', tags, script: 'Said aloud' };
    expect(youtubePreflight({ ...youtube, source: undefined } as never)).not.toContain(
      'tags: at most 500 characters in total',
    );
    expect(aiDraftSchemaFor('youtube').safeParse(youtube).success).toBe(true);
    // A tag with a space counts its quotes: 499 characters plus two.
    const spaced = [...tags.slice(0, 9), `${'y'.repeat(24)} ${'y'.repeat(24)}`];
    expect(youtubePreflight({ ...youtube, tags: spaced, source: undefined } as never)).toContain(
      'tags: at most 500 characters in total',
    );
    expect(aiDraftSchemaFor('youtube').safeParse({ ...youtube, tags: spaced }).success).toBe(false);
  });

  it('counts YouTube tags and Instagram hashtags and @mentions as the publishers do', () => {
    const tags = Array.from({ length: 15 }, (_, i) => `${'x'.repeat(38)}${String(i).padStart(2, '0')}`);
    const youtube = { title: 'A title', description: 'Words', tags, script: 'Said aloud' };
    expect(youtubePreflight({ ...youtube, source: undefined } as never)).toContain(
      'tags: at most 500 characters in total',
    );
    expect(aiDraftSchemaFor('youtube').safeParse(youtube).success).toBe(false);

    const hashtags = `Autumn ${Array.from({ length: 31 }, (_, i) => `#t${i}`).join(',')}`;
    const mentions = `Thanks ${Array.from({ length: 21 }, (_, i) => `@friend${i}`).join(' ')}`;
    for (const caption of [hashtags, mentions]) {
      expect(instagramPreflight({ kind: 'image', caption } as never, 'instagram').length).toBeGreaterThan(0);
      expect(aiDraftSchemaFor('instagram').safeParse({ caption }).success, caption).toBe(false);
      expect(draftSchemas.instagram.safeParse({ caption }).success, caption).toBe(false);
    }
  });

  it('offline drafts of a brief full of # and @ fit Instagram', async () => {
    const topic = `Launch week ${Array.from({ length: 26 }, (_, i) => `#launch${i}`).join(' ')} ${Array.from({ length: 21 }, (_, i) => `@team${i}`).join(' ')}`;
    const { drafts } = await createOfflineGenerator().draft({
      brief: { topic, language: 'en' },
      targets: [{ key: 'ig', format: 'instagram' }],
    });
    const parsed = aiDraftSchemaFor('instagram').safeParse(drafts.ig);
    expect(parsed.success, JSON.stringify(parsed.error?.issues)).toBe(true);
  });

  it('refuses text PostgreSQL cannot store (a model may write NUL or half an emoji)', () => {
    for (const message of ['a\u0000b', `cut ${'😀'.slice(0, 1)}`]) {
      const result = aiDraftSchemaFor('facebook').safeParse({ message });
      expect(result.success, JSON.stringify(message)).toBe(false);
      expect(result.error?.issues[0]?.message).toMatch(/without NUL characters/);
    }
    expect(
      aiDraftSchemaFor('youtube').safeParse({ title: 'T', description: 'd\u0000', tags: [], script: 's' }).success,
    ).toBe(false);
  });
});
